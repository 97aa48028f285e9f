"""Experiment kind ``simulate``: scheduling policies on real carbon intensity + the oracle bound.

It loads the Electricity Maps panel for ``data.zones``, cuts ``span_days`` (+ ``tail_days`` for
jobs to finish) from ``data.start``, builds forecasts (controlled error around the actuals, or a
forecast table), generates or loads the jobs, simulates every policy hour by hour and, if enabled, the
perfect-foresight oracle. Result: per-policy metrics ``<policy>.<metric>``, the policy table, per-region
and hour-of-day allocation tables and a Pareto figure (carbon vs mean completion time).

Oracle bounds (section ``oracle``): the contiguous oracle (:class:`scheduler.policies.oracle.Oracle`, also
simulated; its row is labelled with its bound kind, e.g. ``oracle (exact MILP)``) and the preemptive
suspend/resume bound (:func:`scheduler.policies.oracle_preemptive.preemptive_bound`), each with its own
total ``time_limit_s``. ``oracle_share`` of a policy uses the bound of its own constraint set
(:func:`scheduler.metrics.oracle_comparison`; the ``oracle_bound`` column says which); a policy with late
jobs is compared with its set's bound solved again with its own lateness as slack
(:mod:`scheduler.policies.oracle_bounds`, labelled ``slack-matched``); one with unfinished or rejected
jobs gets NaN and the reason, and so does one that moved running jobs (``feasible_migration``: no bound
models moves; its ``n_migrations`` / ``migration_kg`` columns say how many and what they cost).
``oracle_share`` alone cannot rank policies (a late policy's bound is widened by its own lateness), so beside it
``ontime_share`` (:func:`scheduler.metrics.ontime_share`) compares every policy with the *on-time* bound of its
set, each late, unfinished or rejected job counted at the larger of its carbon and performance_first's carbon for
that job: lateness never looks like skill.
The contiguous oracle's MILP is warm-started from the cheapest policy schedule that is contiguous and on
time (:func:`scheduler.policies.oracle_bounds.policy_incumbent`; summary ``oracle.warm_start``).
Metrics ``oracle.*`` / ``oracle_preemptive.*``: ``bound_kg``, ``gap_pct``, ``schedule_kg``, ``n_repaired``,
``n_covered``; the bound kinds are in the summary (``oracle.bound_kind``) and the ``oracle_bounds`` table.

The instance (signals, data centres, jobs, policies) is wired by :mod:`experiments.instances`; the
learned risk-aware margins live in :mod:`scheduler.risk_margins`; the figure is
:func:`experiments.figures.pareto_figure`.

Section ``duration`` chooses how ``risk_aware`` pads duration estimates: ``model: fixed`` (default) plans
``ceil(estimate × (1 + policy_options.risk_duration_margin))`` hours for every job; ``model: estimator``
fits :class:`scheduler.duration.DurationEstimator` on a prior history (``history_jobs`` jobs of the same
workload spec drawn with ``seed + 1``, all finished before hour 0) and gives each job the margin
``q_level / median − 1`` of its predicted duration; ``feedback: observe | update`` feeds the jobs that
finish during the simulation back into the estimator (:class:`scheduler.duration.EstimatorMargins`).
``pad_to_fit: true`` makes a padded run that cannot end by the deadline keep the longest padding that fits
(default false: it falls back to the bare estimate, as in paper_main).
Metrics ``duration.*``: margin means, the share of jobs whose planned hours cover the true duration, the
prior estimator's accuracy on the simulated jobs, and how many jobs were fed back / refits done.

Policy ``regional`` (:mod:`scheduler.regional`): one scheduler per region behind a light coordinator,
synchronised by deltas 4 times per simulated hour; in this process, or one Ray actor per region with
``policy_options.regional_transport: ray`` (:mod:`experiments.regional_ray`). Its metrics
``regional.sync.*`` and table ``regional_sync``: messages and bytes per simulated hour (delta vs full-state
sync), resyncs, restarts, discarded stale deltas, simulated decision delay (minutes) and wall ms per call.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carbonshift.experiments.config import bounded, check
from carbonshift.experiments.figures import pareto_figure
from carbonshift.experiments.instances import (DatacenterSection, DataSection, DurationSection, ForecastSection, WorkloadSection,
                                   build_instance, make_policies)
from carbonshift.experiments.registry import Context, Result, check_policies, experiment_kind
from carbonshift.scheduler.metrics import (constraint_set, hour_of_day_table, n_migrated, oracle_comparison, policy_metrics,
                                           region_table)
from carbonshift.scheduler.policies.oracle import CONTIGUOUS, PREEMPTIVE
from carbonshift.scheduler.policies.oracle_bounds import instance_bounds, policy_incumbent, slack_finish
from carbonshift.scheduler.policies.oracle_preemptive import preemptive_bound
from carbonshift.scheduler.policies.registry import NAMES, PolicyOptions, make_oracle
from carbonshift.scheduler.risk_margins import covered_pct, feedback_metrics
from carbonshift.scheduler.signals import DAY_AHEAD_H, forecast_accuracy, forecast_coverage
from carbonshift.scheduler.simulator import SimConfig, simulate


@dataclass
class OracleSection:
    enabled: bool = True
    max_jobs_milp: int = bounded(300, ge=0)       # jobs above which the LP relaxation bound is reported
    time_limit_s: float = bounded(120.0, gt=0)    # HiGHS time limit, seconds


@dataclass
class SimulationSection:
    plan_hour_utc: int = 12
    failure_rate_per_h: float = 0.0
    measure_memory: bool = True

    def __post_init__(self) -> None:
        check(0 <= self.plan_hour_utc < 24, "simulation.plan_hour_utc", "expected 0–23")
        check(0 <= self.failure_rate_per_h < 1, "simulation.failure_rate_per_h", "expected a probability")


@dataclass
class SimulateConfig:
    kind: str
    name: str
    seed: int = 0
    data: DataSection = field(default_factory=DataSection)
    forecast: ForecastSection = field(default_factory=ForecastSection)
    workload: WorkloadSection = field(default_factory=WorkloadSection)
    datacenters: DatacenterSection = field(default_factory=DatacenterSection)
    policies: list[str] = field(default_factory=lambda: list(NAMES))
    policy_options: PolicyOptions = field(default_factory=PolicyOptions)
    oracle: OracleSection = field(default_factory=OracleSection)
    simulation: SimulationSection = field(default_factory=SimulationSection)
    duration: DurationSection = field(default_factory=DurationSection)

    def __post_init__(self) -> None:
        check_policies(self.policies)
        check("performance_first" in self.policies, "policies",
              "must include performance_first (the reference of reduction_vs_perf_first)")
        check(self.duration.model == "fixed" or self.workload.source == "generator", "duration.model",
              "estimator needs workload.source: generator (its prior history is drawn from the same generator; "
              "a trace-based prior would reuse the simulated pods)")


TABLE_COLUMNS = ("policy", "carbon_kg", "carbon_operational_kg", "carbon_transfer_kg", "reduction_vs_perf_first",
                 "oracle_share", "ontime_share", "oracle_bound", "oracle_bound_kg", "deadline_rate", "lateness_h_mean",
                 "renewable_share", "completion_h_mean",
                 "completion_h_p95", "plan_seconds", "adapt_ms_mean", "adapt_ms_p95", "peak_mem_mb", "n_late",
                 "n_unfinished", "n_rejected", "failures", "forecast_fallback_share", "n_migrations", "migration_kg")


@experiment_kind("simulate", SimulateConfig)
def run(cfg: SimulateConfig, ctx: Context) -> Result:
    """Simulate scheduling policies on real carbon intensity and report carbon, deadlines and the oracle bound."""
    carbon, forecast, dc, jobs = build_instance(cfg, ctx.data_dir)
    sim_cfg = SimConfig(cfg.simulation.plan_hour_utc, cfg.simulation.failure_rate_per_h, cfg.seed,
                        cfg.simulation.measure_memory)
    policies, duration_metrics = make_policies(cfg, dc, jobs)
    outcomes = {}
    sync_rows = []
    for name, (policy, feedback) in policies.items():
        try:
            outcomes[name] = simulate(jobs, carbon, forecast, dc, policy, sim_cfg, feedback)
        finally:
            getattr(policy, "close", lambda: None)()     # regional on Ray: stop its actors
        if hasattr(policy, "milp_metrics"):              # rolling_milp: model size, solve time, kept greedy plans
            duration_metrics.update({f"{name}.{k}": v for k, v in policy.milp_metrics().items()})
        if hasattr(policy, "sync_metrics"):              # regional: coordination traffic, repairs, latency
            sync_rows.append({"policy": name, **policy.sync_metrics(carbon.n_hours)})
        if feedback is not None:
            tag = "" if name == "risk_aware" else f"{name}."
            duration_metrics.update({tag + k: v for k, v in feedback_metrics(jobs, feedback).items()})
    oracle, bounds = None, {}
    if cfg.oracle.enabled:
        oracle = make_oracle(dc, cfg.oracle.max_jobs_milp, cfg.oracle.time_limit_s)
        warm = policy_incumbent(outcomes.values())     # the best on-time policy schedule warm-starts the MILP
        oracle.incumbent = None if warm is None else warm[1]
        outcomes["oracle"] = simulate(jobs, carbon, None, dc, oracle, sim_cfg)
        bounds = {CONTIGUOUS: oracle.bound}
        # the preemptive (suspend/resume) bound is solved only when some policy's schedule is in that set:
        # it is the costly MILP, and no contiguous schedule is compared with it
        if any(constraint_set(o) == PREEMPTIVE for o in outcomes.values()):
            bounds[PREEMPTIVE] = preemptive_bound(jobs, carbon.ci, dc, cfg.oracle.max_jobs_milp,
                                                  cfg.oracle.time_limit_s)
    total = lambda o: float(o.carbon_op_kg.sum() + o.carbon_tr_kg.sum())  # noqa: E731
    pf = total(outcomes["performance_first"])
    run_now = outcomes["performance_first"].carbon_op_kg + outcomes["performance_first"].carbon_tr_kg  # per job
    accuracy = forecast_accuracy(forecast, carbon)
    metrics: dict[str, float] = {"forecast_accuracy_pct": accuracy, "forecast_mape_pct": 100.0 - accuracy,
                                 "forecast_mape_day_ahead_pct": 100.0 - forecast_accuracy(forecast, carbon, DAY_AHEAD_H),
                                 "forecast_coverage90_pct": forecast_coverage(forecast, carbon),  # q0.05–q0.95
                                 "n_jobs": float(len(jobs)), "hours": float(carbon.n_hours)}
    if "risk_aware" in cfg.policies and cfg.duration.model == "fixed":
        m = cfg.policy_options.risk_duration_margin
        duration_metrics.update({"duration.margin_mean": m,
                                 "duration.covered_pct": covered_pct(jobs, np.full(len(jobs), m))})
    metrics.update(duration_metrics)
    metrics.update({f"{row['policy']}.sync.{k}": v for row in sync_rows for k, v in row.items() if k != "policy"})
    rows, regions, hod = [], [], []
    for name, out in outcomes.items():
        own = bounds
        want = constraint_set(out)
        # a migrating schedule is in no bound's set, with or without slack: no slack-matched bound is solved
        slack = (slack_finish(out, bounds.get(want))
                 if oracle_comparison(out, bounds)[0] is None and not n_migrated(out) else None)
        if slack is not None:
            own = instance_bounds(jobs, carbon, dc, cfg.oracle.max_jobs_milp, cfg.oracle.time_limit_s, slack[0],
                                  f"slack-matched: {slack[1]} late jobs", (want,))
        m = policy_metrics(out, pf, own, run_now, bounds)
        metrics.update({f"{name}.{k}": v for k, v in m.items()})
        label = oracle.bound.label if name == "oracle" else name
        rows.append({"policy": label, "oracle_bound": oracle_comparison(out, own)[1], **m})
        regions.append(region_table(out))
        hod.append(hour_of_day_table(out))
    for key, b in (("oracle", bounds.get(CONTIGUOUS)), ("oracle_preemptive", bounds.get(PREEMPTIVE))):
        if b is not None:
            metrics.update(b.metrics(key))
    table = pd.DataFrame(rows)[list(TABLE_COLUMNS)]
    summary = {"name": cfg.name, "regions": ", ".join(carbon.regions),
               "period": f"{carbon.times[0]:%Y-%m-%d %H:%M} → {carbon.times[-1]:%Y-%m-%d %H:%M} UTC",
               "jobs": len(jobs), "forecast": f"{forecast.handoff_label}, measured accuracy "
                                              f"{metrics['forecast_accuracy_pct']:.1f} % over all horizons, "
                                              f"{100 - metrics['forecast_mape_day_ahead_pct']:.1f} % day-ahead "
                                              f"(0–{DAY_AHEAD_H - 1} h), 90 % interval coverage "
                                              f"{metrics['forecast_coverage90_pct']:.1f} %"}
    if "chance_constrained.duration.covered_pct" in duration_metrics:
        o = cfg.policy_options
        summary["chance_constrained"] = (
            f"reserves the conformal q{o.risk_deadline_target:g} duration (feedback {cfg.duration.feedback}), covering "
            f"the true duration for {duration_metrics['chance_constrained.duration.covered_pct']:.1f} % of jobs; "
            + ("carbon priced with the mean forecast (risk term off, λ 0)" if o.risk_lambda == 0 else
               f"carbon {o.risk_carbon}" + (f" α {o.risk_alpha:g}" if o.risk_carbon == "cvar" else "")
               + f" λ {o.risk_lambda:g}"))
    if "duration.margin_mean" in duration_metrics:
        du = cfg.duration
        how = (f"fixed margin {cfg.policy_options.risk_duration_margin:g}" if du.model == "fixed" else
               f"estimator q{du.level:g} margins, feedback {du.feedback}") + (", pad to fit" if du.pad_to_fit else "")
        summary["risk_aware durations"] = (f"{how}; mean margin {duration_metrics['duration.margin_mean']:.3f}, "
                                           f"planned hours cover the true duration for "
                                           f"{duration_metrics['duration.covered_pct']:.1f} % of jobs")
    tables = {"policies": table, "regions": pd.concat(regions, ignore_index=True),
              "hour_of_day": pd.concat(hod, ignore_index=True)}
    if sync_rows:
        tables["regional_sync"] = pd.DataFrame(sync_rows)
    if oracle is not None:
        summary["oracle"] = (f"{oracle.solve_kind}; bound {oracle.bound_kg:,.1f} kgCO2e, schedule gap "
                             f"{oracle.bound.gap_pct:.2f} % (perfect foresight, contiguous on-time runs)")
        summary["oracle.bound_kind"] = oracle.bound.kind
        summary["oracle.warm_start"] = ("none: no policy schedule is contiguous and on time" if warm is None else
                                        f"{warm[0]} (best on-time contiguous policy schedule){oracle.incumbent_note}")
        pre = bounds.get(PREEMPTIVE)
        summary["oracle_preemptive"] = (
            f"{pre.kind}; bound {pre.kg:,.1f} kgCO2e (suspend/resume, no resume overhead)" if pre is not None else
            "not solved: no policy suspended a job, so no schedule is in the suspend/resume set")
        if pre is not None:
            summary["oracle_preemptive.bound_kind"] = pre.kind
        tables["oracle_bounds"] = pd.DataFrame(
            [{"constraint_set": b.constraint_set, "label": b.label, "bound_kind": b.kind, "bound_kg": b.kg,
              "schedule_kg": b.schedule_kg, "gap_pct": b.gap_pct, "n_repaired": b.n_repaired,
              "n_covered": int(b.covered.sum())} for b in bounds.values()])
    return Result(metrics=metrics, tables=tables,
                  figures={"pareto.png": pareto_figure(table)}, summary=summary)
