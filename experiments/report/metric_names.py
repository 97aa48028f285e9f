"""Which logged metrics a report reads, and what they are called: the reduction metric a curve shows, the cost
(latency, memory) metrics, the operational/transfer carbon split, the policy single-policy views show, and what
a metric measures where its name does not say it.

Metric names follow ``<policy>.<metric>`` (``cooperative.carbon_kg``) or plain ``<metric>`` (``trial_seconds``).
"""
from __future__ import annotations

import pandas as pd

REDUCTION_METRICS = ("reduction_vs_perf_first", "reduction_pct", "reduction")
COST_METRICS = ("plan_seconds", "peak_mem_mb", "trial_seconds", "trial_peak_rss_mb")
MAIN_POLICY = "cooperative"  # the seed's method (Algorithm 1): the policy single-policy views show
SPLIT_METRICS = ("carbon_operational_kg", "carbon_transfer_kg")
#: What a metric measures, where its name does not say it (table headers, figure titles): compare the seed
#: paper's process-level memory figures with ``trial_peak_rss_mb``, never with ``peak_mem_mb``.
METRIC_LABELS: dict[str, str] = {
    "peak_mem_mb": "peak_mem_mb = tracemalloc peak of one decision call, not a process figure",
    "trial_peak_rss_mb": "trial_peak_rss_mb = process peak RSS of the trial",
    "trial_seconds": "trial_seconds = wall clock of the trial",
    "process_max_rss_mb": "process_max_rss_mb = process peak RSS so far (grows over the benchmark's cells)",
}


def reduction_metric(frame: pd.DataFrame) -> str | None:
    """The reduction metric (%) among the ``metric`` column's names: the first of :data:`REDUCTION_METRICS`
    logged, else the first name (sorted) containing ``reduction``, else ``None``."""
    names = set(frame["metric"])
    return next((m for m in REDUCTION_METRICS if m in names), next((m for m in sorted(names) if "reduction" in m), None))


def main_policy(policies: list[str]) -> str:
    """The policy a single-policy view shows: :data:`MAIN_POLICY` if present, else the last listed."""
    return MAIN_POLICY if MAIN_POLICY in policies else policies[-1]
