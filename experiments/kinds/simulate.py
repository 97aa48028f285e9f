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
learned risk-aware margins live in :mod:`scheduler.risk_margins`; the runs (policies, then the oracle and its
bounds) in :mod:`scheduler.policy_runs`; the policy table, its metrics and the allocation tables in
:mod:`scheduler.policy_comparison`; the summary lines in :mod:`experiments.simulate_summary`; the figure is
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

from carbonshift.experiments.config import check
from carbonshift.experiments.figures import pareto_figure
from carbonshift.experiments.instances import (MAX_JOBS, DatacenterSection, DataSection, DurationSection, ForecastSection,
                                               WorkloadSection, build_instance, make_policies)
from carbonshift.experiments.registry import Context, Result, check_policies, experiment_kind
from carbonshift.experiments.simulate_summary import duration_summary, instance_summary, oracle_summary
from carbonshift.forecast.bounds import MAX_SOLVER_S, bounded
from carbonshift.scheduler.policies.registry import NAMES, PolicyOptions
from carbonshift.scheduler.policy_comparison import bounds_table, compare_policies
from carbonshift.scheduler.policy_runs import run_oracle, run_policies
from carbonshift.scheduler.risk_margins import fixed_margin_metrics
from carbonshift.scheduler.signals import forecast_metrics
from carbonshift.scheduler.simulator import SimConfig


@dataclass
class OracleSection:
    enabled: bool = True
    max_jobs_milp: int = bounded(300, ge=0, le=MAX_JOBS)   # jobs above which the LP relaxation bound is reported
    time_limit_s: float = bounded(120.0, gt=0, le=MAX_SOLVER_S)  # HiGHS time limit, seconds (at most a day)


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


@experiment_kind("simulate", SimulateConfig)
def run(cfg: SimulateConfig, ctx: Context) -> Result:
    """Simulate scheduling policies on real carbon intensity and report carbon, deadlines and the oracle bound."""
    carbon, forecast, dc, jobs = build_instance(cfg, ctx.data_dir)
    sim_cfg = SimConfig(cfg.simulation.plan_hour_utc, cfg.simulation.failure_rate_per_h, cfg.seed,
                        cfg.simulation.measure_memory)
    policies, duration_metrics = make_policies(cfg, dc, jobs)
    runs = run_policies(jobs, carbon, forecast, dc, policies, sim_cfg)
    duration_metrics.update(runs.metrics)
    o = cfg.oracle
    oracle = (run_oracle(jobs, carbon, dc, runs.outcomes, sim_cfg, max_jobs_milp=o.max_jobs_milp,
                         time_limit_s=o.time_limit_s) if o.enabled else None)
    outcomes = runs.outcomes if oracle is None else {**runs.outcomes, "oracle": oracle.outcome}
    bounds = {} if oracle is None else oracle.bounds
    quality = forecast_metrics(forecast, carbon)
    metrics: dict[str, float] = {**quality, "n_jobs": float(len(jobs)), "hours": float(carbon.n_hours)}
    if "risk_aware" in cfg.policies and cfg.duration.model == "fixed":
        duration_metrics.update(fixed_margin_metrics(jobs, cfg.policy_options.risk_duration_margin))
    metrics.update(duration_metrics)
    metrics.update(runs.sync_metrics())
    comparison = compare_policies(outcomes, bounds, jobs, carbon, dc, max_jobs_milp=o.max_jobs_milp,
                                  time_limit_s=o.time_limit_s)
    metrics.update(comparison.metrics)
    summary = {**instance_summary(cfg.name, carbon, jobs, forecast, quality),
               **duration_summary(cfg.duration, cfg.policy_options, duration_metrics)}
    tables = {"policies": comparison.table, "regions": comparison.regions, "hour_of_day": comparison.hour_of_day}
    if runs.sync:
        tables["regional_sync"] = runs.sync_table()
    if oracle is not None:
        summary.update(oracle_summary(oracle))
        tables["oracle_bounds"] = bounds_table(bounds)
    return Result(metrics=metrics, tables=tables,
                  figures={"pareto.png": pareto_figure(comparison.table)}, summary=summary)
