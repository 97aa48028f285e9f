"""Policies compared on one instance: each simulated outcome against performance_first (run-now) and the oracle
bound of its own constraint set — the policy table, its flat metrics and the allocation tables. Pure scheduling
(no MLflow, no Ray); metric names and units: :mod:`scheduler.metrics`.

A policy with late jobs is compared with its set's bound solved again with its own lateness as slack
(:mod:`scheduler.policies.oracle_bounds`, labelled ``slack-matched``); a schedule that moved running jobs is in
no bound's set, with or without slack, so no slack-matched bound is solved for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.metrics import (constraint_set, hour_of_day_table, n_migrated, oracle_comparison, policy_metrics,
                                           region_table)
from carbonshift.scheduler.policies.oracle import CONTIGUOUS, PREEMPTIVE, OracleBound
from carbonshift.scheduler.policies.oracle_bounds import instance_bounds, slack_finish
from carbonshift.scheduler.signals import CarbonSignal
from carbonshift.scheduler.simulator import Outcome
from carbonshift.scheduler.workloads import Jobs

#: columns of the policy table, in order
TABLE_COLUMNS = ("policy", "carbon_kg", "carbon_operational_kg", "carbon_transfer_kg", "reduction_vs_perf_first",
                 "oracle_share", "ontime_share", "oracle_bound", "oracle_bound_kg", "deadline_rate", "lateness_h_mean",
                 "renewable_share", "completion_h_mean",
                 "completion_h_p95", "plan_seconds", "adapt_ms_mean", "adapt_ms_p95", "peak_mem_mb", "n_late",
                 "n_unfinished", "n_rejected", "failures", "forecast_fallback_share", "n_migrations", "migration_kg")
#: the reference policy of ``reduction_vs_perf_first`` and of ``ontime_share``'s run-now carbon
REFERENCE = "performance_first"
#: the outcome key of the contiguous oracle's own run (its table row is labelled with its bound)
ORACLE = "oracle"


@dataclass
class Comparison:
    metrics: dict[str, float]     # <policy>.<metric> of every outcome, then oracle.* / oracle_preemptive.* bounds
    table: pd.DataFrame           # one row per outcome, TABLE_COLUMNS
    regions: pd.DataFrame         # scheduler.metrics.region_table of every outcome
    hour_of_day: pd.DataFrame     # scheduler.metrics.hour_of_day_table of every outcome


def _kg(out: Outcome) -> float:
    """Operational + transfer carbon of ``out``, kgCO2e."""
    return float(out.carbon_op_kg.sum() + out.carbon_tr_kg.sum())


def compare_policies(outcomes: Mapping[str, Outcome], bounds: Mapping[str, OracleBound], jobs: Jobs,
                     carbon: CarbonSignal, dc: DataCenters, *, max_jobs_milp: int, time_limit_s: float) -> Comparison:
    """Compare every outcome (``performance_first`` among them) with the on-time ``bounds`` by constraint set
    (empty: no oracle), solving a slack-matched bound (``max_jobs_milp``, ``time_limit_s`` as for the on-time
    ones) for each late policy."""
    ref = outcomes[REFERENCE]
    pf = _kg(ref)
    run_now = ref.carbon_op_kg + ref.carbon_tr_kg      # kgCO2e per job
    metrics: dict[str, float] = {}
    rows, regions, hod = [], [], []
    for name, out in outcomes.items():
        own: Mapping[str, OracleBound] = bounds
        want = constraint_set(out)
        slack = (slack_finish(out, bounds.get(want))
                 if oracle_comparison(out, bounds)[0] is None and not n_migrated(out) else None)
        if slack is not None:
            own = instance_bounds(jobs, carbon, dc, max_jobs_milp, time_limit_s, slack[0],
                                  f"slack-matched: {slack[1]} late jobs", (want,))
        m = policy_metrics(out, pf, own, run_now, bounds)
        metrics.update({f"{name}.{k}": v for k, v in m.items()})
        label = bounds[CONTIGUOUS].label if name == ORACLE else name
        rows.append({"policy": label, "oracle_bound": oracle_comparison(out, own)[1], **m})
        regions.append(region_table(out))
        hod.append(hour_of_day_table(out))
    metrics.update(bound_metrics(bounds))
    return Comparison(metrics, pd.DataFrame(rows)[list(TABLE_COLUMNS)], pd.concat(regions, ignore_index=True),
                      pd.concat(hod, ignore_index=True))


def bound_metrics(bounds: Mapping[str, OracleBound]) -> dict[str, float]:
    """``oracle.*`` (contiguous) and ``oracle_preemptive.*`` metrics of the bounds there are
    (:meth:`OracleBound.metrics`)."""
    metrics: dict[str, float] = {}
    for key, b in (("oracle", bounds.get(CONTIGUOUS)), ("oracle_preemptive", bounds.get(PREEMPTIVE))):
        if b is not None:
            metrics.update(b.metrics(key))
    return metrics


def bounds_table(bounds: Mapping[str, OracleBound]) -> pd.DataFrame:
    """One row per bound: constraint set, label, bound kind, bound and schedule kgCO2e, gap %, repaired and
    covered jobs."""
    return pd.DataFrame(
        [{"constraint_set": b.constraint_set, "label": b.label, "bound_kind": b.kind, "bound_kg": b.kg,
          "schedule_kg": b.schedule_kg, "gap_pct": b.gap_pct, "n_repaired": b.n_repaired,
          "n_covered": int(b.covered.sum())} for b in bounds.values()])
