"""Simulated runs of one instance: every policy hour by hour, then the perfect-foresight oracle with the
bounds of the constraint sets those runs fall in. Pure scheduling (no MLflow, no Ray).

A policy may report on itself after its run: ``milp_metrics()`` (rolling_milp: model size, solve time, kept
greedy plans), ``sync_metrics(n_hours)`` (regional: coordination traffic, repairs, latency per simulated hour)
and ``close()`` (regional on Ray: stop its actors, also after a failed run). A policy's feedback object (its
learned duration margins) reports the ``duration.*`` metrics of :func:`scheduler.risk_margins.feedback_metrics`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.duration import EstimatorMargins
from carbonshift.scheduler.metrics import constraint_set
from carbonshift.scheduler.policies.base import Policy
from carbonshift.scheduler.policies.oracle import CONTIGUOUS, PREEMPTIVE, Oracle, OracleBound
from carbonshift.scheduler.policies.oracle_bounds import policy_incumbent
from carbonshift.scheduler.policies.oracle_preemptive import preemptive_bound
from carbonshift.scheduler.policies.registry import make_oracle
from carbonshift.scheduler.policies.risk_aware import ConformalMargins
from carbonshift.scheduler.risk_margins import feedback_metrics
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal
from carbonshift.scheduler.simulator import Outcome, SimConfig, simulate
from carbonshift.scheduler.workloads import Jobs

#: the feedback object of a policy with learned duration margins (None: the policy learns nothing)
MarginFeedback = EstimatorMargins | ConformalMargins | None


@dataclass
class PolicyRuns:
    """Outcomes of the policies (in the order they ran) and what they reported about themselves."""

    outcomes: dict[str, Outcome]
    metrics: dict[str, float]             # rolling_milp ``<name>.*``; feedback ``[<name>.]duration.*``
    sync: dict[str, dict[str, float]]     # regional: policy -> its sync_metrics

    def sync_table(self) -> pd.DataFrame:
        """One row per policy that synchronised: ``policy`` and its sync metrics."""
        return pd.DataFrame([{"policy": name, **m} for name, m in self.sync.items()])

    def sync_metrics(self) -> dict[str, float]:
        """``<policy>.sync.<metric>`` of every policy that synchronised."""
        return {f"{name}.sync.{k}": v for name, m in self.sync.items() for k, v in m.items()}


def run_policies(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal, dc: DataCenters,
                 policies: Mapping[str, tuple[Policy, MarginFeedback]], sim_cfg: SimConfig) -> PolicyRuns:
    """Simulate every ``name -> (policy, feedback)`` of ``policies`` on the instance. A feedback object's metrics
    are ``duration.*`` for ``risk_aware`` and ``<name>.duration.*`` for any other policy."""
    runs = PolicyRuns({}, {}, {})
    for name, (policy, feedback) in policies.items():
        try:
            runs.outcomes[name] = simulate(jobs, carbon, forecast, dc, policy, sim_cfg, feedback)
        finally:
            getattr(policy, "close", lambda: None)()
        if hasattr(policy, "milp_metrics"):
            runs.metrics.update({f"{name}.{k}": v for k, v in policy.milp_metrics().items()})
        if hasattr(policy, "sync_metrics"):
            runs.sync[name] = policy.sync_metrics(carbon.n_hours)
        if feedback is not None:
            tag = "" if name == "risk_aware" else f"{name}."
            runs.metrics.update({tag + k: v for k, v in feedback_metrics(jobs, feedback).items()})
    return runs


@dataclass
class OracleRun:
    """The contiguous oracle's simulated run and the instance's perfect-foresight bounds by constraint set."""

    oracle: Oracle
    outcome: Outcome
    bounds: dict[str, OracleBound]      # contiguous, + preemptive when some schedule suspended a job
    warm_start: str | None              # the policy whose schedule warm-started the MILP (None: no such policy)

    @property
    def bound(self) -> OracleBound:
        """The contiguous oracle's hour-0 bound."""
        return self.bounds[CONTIGUOUS]


def run_oracle(jobs: Jobs, carbon: CarbonSignal, dc: DataCenters, outcomes: Mapping[str, Outcome],
               sim_cfg: SimConfig, *, max_jobs_milp: int, time_limit_s: float) -> OracleRun:
    """Simulate the contiguous oracle (``max_jobs_milp`` jobs above which the LP relaxation bound is reported;
    HiGHS ``time_limit_s`` seconds per solve), its MILP warm-started from the cheapest contiguous on-time schedule
    of the policies' ``outcomes``. The preemptive (suspend/resume) bound is solved only when a schedule is in that
    set: it is the costly MILP, and no contiguous schedule is compared with it."""
    oracle = make_oracle(dc, max_jobs_milp, time_limit_s)
    warm = policy_incumbent(outcomes.values())
    oracle.incumbent = None if warm is None else warm[1]
    outcome = simulate(jobs, carbon, None, dc, oracle, sim_cfg)
    if oracle.bound is None:
        raise RuntimeError("run_oracle: the oracle planned no hour-0 bound")
    bounds = {CONTIGUOUS: oracle.bound}
    if any(constraint_set(o) == PREEMPTIVE for o in (*outcomes.values(), outcome)):
        bounds[PREEMPTIVE] = preemptive_bound(jobs, carbon.ci, dc, max_jobs_milp, time_limit_s)
    return OracleRun(oracle, outcome, bounds, None if warm is None else warm[0])
