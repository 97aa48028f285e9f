"""Experiment kinds ``simulate`` (policies on real carbon intensity + the oracle bound) and
``plan_bench`` (planning latency and memory at scale).

``simulate``: loads the Electricity Maps panel for ``data.zones``, cuts ``span_days`` (+ ``tail_days`` for
jobs to finish) from ``data.start``, builds forecasts (controlled error around the actuals, or a
forecast table), generates or loads the jobs, simulates every policy hour by hour and, if enabled, the
perfect-foresight oracle. Result: per-policy metrics ``<policy>.<metric>``, the policy table, per-region
and hour-of-day allocation tables and a Pareto figure (carbon vs mean completion time).

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
"""
from __future__ import annotations

import resource
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.config import check
from experiments.registry import Context, Result, experiment_kind
from scheduler.datacenters import DEFAULT_GPUS, DEFAULT_NETWORK_KWH_PER_GB, DEFAULT_PUE, DEFAULT_WAN_GBPS, DataCenters
from scheduler.policies.cooperative import RiskAware
from scheduler.policies.registry import NAMES, PolicyOptions, make_oracle, make_policy
from scheduler.workloads import TYPES


@dataclass
class DataSection:
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "US-TEX-ERCO", "GB", "SG", "JP-TK", "DE"])
    years: list[int] = field(default_factory=lambda: [2023])
    start: str = "2023-03-01"        # UTC date the experiment starts
    span_days: int = 30              # days over which jobs arrive
    tail_days: int = 21              # extra days for the last jobs to run
    column: str = "ci_direct"        # ci_direct (operational) | ci_lca (life-cycle)

    def __post_init__(self) -> None:
        check(len(self.zones) >= 1, "data.zones", "need at least one zone")
        check(self.span_days >= 1 and self.tail_days >= 0, "data.span_days", "span ≥ 1 day, tail ≥ 0")
        check(self.column in ("ci_direct", "ci_lca"), "data.column", "expected ci_direct or ci_lca")


@dataclass
class ForecastSection:
    source: str = "synthetic"        # synthetic (controlled error around actuals) | table (forecast table file)
    error_model: str = "accuracy"    # accuracy | gaussian | uniform | perfect
    accuracy: float = 0.87           # target 100 − MAPE, as a fraction
    k: float = 0.05                  # gaussian: σ = k × regional mean
    e: float = 0.2                   # uniform: ±e/2 multiplicative
    horizon_h: int = 48
    issue_every_h: int = 24
    correlation_h: float = 0.0       # > 0: AR(1)-correlated errors along the horizon (h); 0: independent per hour
    table_path: str | None = None    # CSV/parquet forecast table (schema forecast.data.schema)

    def __post_init__(self) -> None:
        check(self.source in ("synthetic", "table"), "forecast.source", "expected synthetic or table")
        check(self.error_model in ("accuracy", "gaussian", "uniform", "perfect"), "forecast.error_model",
              "expected accuracy | gaussian | uniform | perfect")
        check(0 < self.accuracy <= 1, "forecast.accuracy", "expected a fraction in (0, 1]")
        check(self.source != "table" or bool(self.table_path), "forecast.table_path", "required for source: table")
        check(self.horizon_h >= 1 and self.issue_every_h >= 1, "forecast.horizon_h", "must be ≥ 1")
        check(self.correlation_h >= 0, "forecast.correlation_h", "must be ≥ 0 hours")


@dataclass
class WorkloadSection:
    source: str = "generator"        # generator | alibaba
    n_jobs: int = 1000
    mode: str = "fitted"             # generator: fitted | table1
    mix: dict[str, float] = field(default_factory=lambda: {t: 0.25 for t in TYPES})
    gpu_kw: float = 0.7
    profiling_error: float = 0.20
    max_deadline_h: int | None = None
    flexibility: float | None = None  # one deadline flexibility (fraction) for all jobs; None = drawn
    gpu_scale: int = 1               # alibaba: multiply recorded GPU counts

    def __post_init__(self) -> None:
        check(self.source in ("generator", "alibaba"), "workload.source", "expected generator or alibaba")
        check(self.mode in ("fitted", "table1"), "workload.mode", "expected fitted or table1")
        check(self.n_jobs >= 1, "workload.n_jobs", "must be ≥ 1")
        check(0 <= self.profiling_error < 1, "workload.profiling_error", "expected a fraction in [0, 1)")
        check(set(self.mix) <= set(TYPES), "workload.mix", f"types must be among {list(TYPES)}")
        check(self.flexibility is None or 0 <= self.flexibility <= 5, "workload.flexibility",
              "expected a fraction ≥ 0 (0.3 = 30 %)")


@dataclass
class DatacenterSection:
    gpus_per_region: int = DEFAULT_GPUS
    pue: float = DEFAULT_PUE
    wan_gbps: float = DEFAULT_WAN_GBPS
    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.gpus_per_region >= 1, "datacenters.gpus_per_region", "must be ≥ 1")
        check(self.pue >= 1, "datacenters.pue", "must be ≥ 1")


@dataclass
class OracleSection:
    enabled: bool = True
    max_jobs_milp: int = 300
    time_limit_s: float = 120.0


@dataclass
class SimulationSection:
    plan_hour_utc: int = 12
    failure_rate_per_h: float = 0.0
    measure_memory: bool = True

    def __post_init__(self) -> None:
        check(0 <= self.plan_hour_utc < 24, "simulation.plan_hour_utc", "expected 0–23")
        check(0 <= self.failure_rate_per_h < 1, "simulation.failure_rate_per_h", "expected a probability")


@dataclass
class DurationSection:
    """How ``risk_aware`` pads durations (see module docstring)."""

    model: str = "fixed"             # fixed (policy_options.risk_duration_margin) | estimator
    level: float = 0.9               # estimator: margin = q_level / median − 1
    feedback: str = "none"           # estimator: none | observe | update
    update_every: int = 100          # update: refit after this many finished jobs
    history_jobs: int = 1000         # estimator prior: finished jobs before hour 0
    max_iter: int = 100              # boosting iterations per quantile model
    pad_to_fit: bool = False         # padded run does not fit: keep the longest padding that does

    def __post_init__(self) -> None:
        from scheduler.duration import FEEDBACK_MODES

        check(self.model in ("fixed", "estimator"), "duration.model", "expected fixed or estimator")
        check(0.5 < self.level < 1, "duration.level", "expected a quantile level in (0.5, 1)")
        check(self.feedback in FEEDBACK_MODES, "duration.feedback", f"expected one of {list(FEEDBACK_MODES)}")
        check(self.update_every >= 1 and self.max_iter >= 1, "duration.update_every",
              "update_every and max_iter must be ≥ 1")
        check(self.history_jobs >= 20, "duration.history_jobs", "need ≥ 20 past jobs to fit")


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
        unknown = [p for p in self.policies if p not in NAMES]
        check(not unknown, "policies", f"unknown {unknown}; known {list(NAMES)}")
        check("performance_first" in self.policies, "policies",
              "must include performance_first (the reference of reduction_vs_perf_first)")
        check(self.duration.model == "fixed" or self.workload.source == "generator", "duration.model",
              "estimator needs workload.source: generator (its prior history is drawn from the same generator; "
              "a trace-based prior would reuse the simulated pods)")


TABLE_COLUMNS = ("policy", "carbon_kg", "carbon_operational_kg", "carbon_transfer_kg", "reduction_vs_perf_first",
                 "oracle_share", "deadline_rate", "lateness_h_mean", "renewable_share", "completion_h_mean",
                 "completion_h_p95", "plan_seconds", "adapt_ms_mean", "adapt_ms_p95", "peak_mem_mb", "n_late",
                 "n_unfinished", "n_rejected", "failures")


def build_instance(cfg: SimulateConfig, ctx: Context):
    """(carbon, forecast, data centres, jobs) of a ``simulate`` config."""
    from forecast.data.panel import load_panel
    from scheduler.generators import generate
    from scheduler.signals import CarbonSignal, ForecastSignal, controlled_error
    from scheduler.traces import trace_jobs

    d, f, w = cfg.data, cfg.forecast, cfg.workload
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    hours = (d.span_days + d.tail_days) * 24
    carbon = CarbonSignal.from_panel(panel, list(d.zones), d.start, hours, d.column)
    if f.source == "table":
        path = f.table_path
        table = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(
            path, parse_dates=["issue_time", "time"])
        forecast = ForecastSignal.from_table(table, carbon.regions, carbon.times, label=str(path))
    else:
        forecast = controlled_error(carbon, f.error_model, k=f.k, e=f.e, accuracy=f.accuracy,
                                    horizon_h=f.horizon_h, issue_every_h=f.issue_every_h,
                                    issue_hour=(cfg.simulation.plan_hour_utc - carbon.times[0].hour) % 24,
                                    correlation_h=f.correlation_h, seed=cfg.seed)
    dc_cfg = cfg.datacenters
    dc = DataCenters.uniform(carbon.regions, dc_cfg.gpus_per_region, dc_cfg.pue, dc_cfg.wan_gbps,
                             dc_cfg.network_kwh_per_gb, dc_cfg.overrides)
    if w.source == "alibaba":
        jobs = trace_jobs(dc.n, cfg.seed, span_h=d.span_days * 24, max_jobs=w.n_jobs, gpu_scale=w.gpu_scale,
                          mix=w.mix, gpu_kw=w.gpu_kw, profiling_error=w.profiling_error, flexibility=w.flexibility,
                          data_dir=ctx.data_dir)
    else:
        jobs = generate(generator_spec(cfg, w.n_jobs), dc.n, cfg.seed)
    return carbon, forecast, dc, jobs


def generator_spec(cfg: SimulateConfig, n_jobs: int):
    """The config's workload generator settings for ``n_jobs`` jobs."""
    from scheduler.generators import GeneratorSpec

    w = cfg.workload
    return GeneratorSpec(n_jobs=n_jobs, span_h=cfg.data.span_days * 24, mode=w.mode, mix=w.mix, gpu_kw=w.gpu_kw,
                         profiling_error=w.profiling_error, max_deadline_h=w.max_deadline_h,
                         flexibility=w.flexibility)


def fit_prior_estimator(cfg: SimulateConfig, n_regions: int):
    """Duration estimator fitted on ``duration.history_jobs`` generated jobs (seed + 1) finished before hour 0."""
    from scheduler.duration import (JOBS_CATEGORICAL, JOBS_NUMERIC, JOBS_TIME_COLS, DurationEstimator,
                                    prior_history)
    from scheduler.generators import generate

    du = cfg.duration
    past = prior_history(generate(generator_spec(cfg, du.history_jobs), n_regions, cfg.seed + 1))
    est = DurationEstimator(numeric=JOBS_NUMERIC, categorical=JOBS_CATEGORICAL, quantiles=(0.5, du.level),
                            max_iter=du.max_iter, seed=cfg.seed, time_cols=JOBS_TIME_COLS)
    return est.fit(past)


def covered_pct(jobs, margins: np.ndarray) -> float:
    """Share (%) of jobs whose planned hours ``ceil(estimate × (1 + margin))`` cover the true duration."""
    planned = np.ceil(jobs.est_duration_h * (1.0 + margins) - 1e-9)
    return float(100.0 * np.mean(jobs.duration_h <= planned))


def estimator_risk_aware(cfg: SimulateConfig, dc: DataCenters, jobs):
    """``risk_aware`` with learned per-job margins: (policy, feedback object, ``duration.*`` metrics of the
    prior estimator on the simulated jobs, before any feedback)."""
    from scheduler.duration import EstimatorMargins, error_metrics, jobs_history

    t0 = time.perf_counter()
    est = fit_prior_estimator(cfg, dc.n)
    fit_s = time.perf_counter() - t0
    du, o = cfg.duration, cfg.policy_options
    source = EstimatorMargins(est, jobs, du.level, du.feedback, du.update_every)
    pred = est.predict(jobs_history(jobs))
    initial = source.margins(np.arange(len(jobs)))
    acc = error_metrics(jobs.duration_h, pred["estimate"].to_numpy())
    metrics = {"duration.margin_mean": float(initial.mean()), "duration.margin_p90": float(np.percentile(initial, 90)),
               "duration.covered_pct": covered_pct(jobs, initial), "duration.fit_seconds": fit_s,
               "duration.prior_within_20pct": acc["within_20pct"], "duration.prior_mape_pct": acc["mape_pct"],
               "duration.profiled_within_20pct": error_metrics(jobs.duration_h, jobs.est_duration_h)["within_20pct"]}
    policy = RiskAware(dc, quantile=o.risk_quantile, lam=o.risk_lambda, duration_margin=source,
                       delay_weight_kg_per_h=o.delay_weight_kg_per_h, pad_to_fit=du.pad_to_fit)
    return policy, source, metrics


def pareto_figure(table: pd.DataFrame):
    """Carbon (t CO2e) vs mean completion time (h); marker size ∝ deadline rate, colour = renewable share;
    the line joins the non-dominated policies; the oracle (a bound, not a policy) is a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    is_oracle = (table["policy"] == "oracle").to_numpy()
    x, y = table["carbon_kg"] / 1000.0, table["completion_h_mean"]
    sc = ax.scatter(x[~is_oracle], y[~is_oracle], s=table["deadline_rate"][~is_oracle].clip(lower=1) * 2.5,
                    c=table["renewable_share"][~is_oracle], cmap="YlGn", edgecolors="k", zorder=3)
    if is_oracle.any():
        ax.scatter(x[is_oracle], y[is_oracle], marker="*", s=250, c="gold", edgecolors="k", zorder=4,
                   label="oracle (perfect foresight)")
    for name, xi, yi in zip(table["policy"], x, y):
        ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
    px, py = x[~is_oracle].to_numpy(), y[~is_oracle].to_numpy()
    front, best = [], np.inf
    for k in np.argsort(px):
        if py[k] < best:
            front.append(k)
            best = py[k]
    ax.plot(px[front], py[front], "k--", lw=1, zorder=2, label="Pareto front (policies)")
    fig.colorbar(sc, ax=ax, label="renewable share (%)")
    ax.set_xlabel("total carbon (t CO2e)")
    ax.set_ylabel("mean completion time (h)")
    ax.set_title("Carbon vs completion time (marker size ∝ deadline rate)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


@experiment_kind("simulate", SimulateConfig)
def run(cfg: SimulateConfig, ctx: Context) -> Result:
    """Simulate scheduling policies on real carbon intensity and report carbon, deadlines and the oracle bound."""
    from scheduler.metrics import hour_of_day_table, policy_metrics, region_table
    from scheduler.signals import forecast_accuracy
    from scheduler.simulator import SimConfig, simulate

    carbon, forecast, dc, jobs = build_instance(cfg, ctx)
    sim_cfg = SimConfig(cfg.simulation.plan_hour_utc, cfg.simulation.failure_rate_per_h, cfg.seed,
                        cfg.simulation.measure_memory)
    outcomes = {}
    duration_metrics: dict[str, float] = {}
    for name in cfg.policies:
        policy, feedback = make_policy(name, dc, cfg.seed, cfg.policy_options), None
        if name == "risk_aware" and cfg.duration.model == "estimator":
            policy, feedback, duration_metrics = estimator_risk_aware(cfg, dc, jobs)
        elif name == "risk_aware" and cfg.duration.pad_to_fit:
            o = cfg.policy_options
            policy = RiskAware(dc, quantile=o.risk_quantile, lam=o.risk_lambda, duration_margin=o.risk_duration_margin,
                               delay_weight_kg_per_h=o.delay_weight_kg_per_h, pad_to_fit=True)
        outcomes[name] = simulate(jobs, carbon, forecast, dc, policy, sim_cfg, feedback)
        if feedback is not None:
            final = feedback.margins(np.arange(len(jobs)))
            duration_metrics.update({"duration.margin_mean_final": float(final.mean()),
                                     "duration.covered_pct_final": covered_pct(jobs, final),
                                     "duration.n_observed": float(feedback.n_observed),
                                     "duration.n_refits": float(feedback.n_refits)})
    oracle = None
    if cfg.oracle.enabled:
        oracle = make_oracle(dc, cfg.oracle.max_jobs_milp, cfg.oracle.time_limit_s)
        outcomes["oracle"] = simulate(jobs, carbon, None, dc, oracle, sim_cfg)
    total = lambda o: float(o.carbon_op_kg.sum() + o.carbon_tr_kg.sum())  # noqa: E731
    pf = total(outcomes["performance_first"])
    oracle_kg = oracle.bound_kg if oracle is not None else None
    metrics: dict[str, float] = {"forecast_accuracy_pct": forecast_accuracy(forecast, carbon),
                                 "n_jobs": float(len(jobs)), "hours": float(carbon.n_hours)}
    if "risk_aware" in cfg.policies and cfg.duration.model == "fixed":
        m = cfg.policy_options.risk_duration_margin
        duration_metrics = {"duration.margin_mean": m,
                            "duration.covered_pct": covered_pct(jobs, np.full(len(jobs), m))}
    metrics.update(duration_metrics)
    rows, regions, hod = [], [], []
    for name, out in outcomes.items():
        m = policy_metrics(out, pf, oracle_kg)
        metrics.update({f"{name}.{k}": v for k, v in m.items()})
        rows.append({"policy": name, **m})
        regions.append(region_table(out))
        hod.append(hour_of_day_table(out))
    if oracle is not None:
        metrics["oracle.bound_kg"] = oracle.bound_kg
    table = pd.DataFrame(rows)[list(TABLE_COLUMNS)]
    summary = {"name": cfg.name, "regions": ", ".join(carbon.regions),
               "period": f"{carbon.times[0]:%Y-%m-%d %H:%M} → {carbon.times[-1]:%Y-%m-%d %H:%M} UTC",
               "jobs": len(jobs), "forecast": f"{forecast.label}, measured accuracy "
                                              f"{metrics['forecast_accuracy_pct']:.1f} %"}
    if duration_metrics:
        du = cfg.duration
        how = (f"fixed margin {cfg.policy_options.risk_duration_margin:g}" if du.model == "fixed" else
               f"estimator q{du.level:g} margins, feedback {du.feedback}") + (", pad to fit" if du.pad_to_fit else "")
        summary["risk_aware durations"] = (f"{how}; mean margin {duration_metrics['duration.margin_mean']:.3f}, "
                                           f"planned hours cover the true duration for "
                                           f"{duration_metrics['duration.covered_pct']:.1f} % of jobs")
    if oracle is not None:
        summary["oracle"] = f"{oracle.solve_kind}; bound {oracle.bound_kg:,.1f} kgCO2e (perfect foresight)"
    return Result(metrics=metrics,
                  tables={"policies": table, "regions": pd.concat(regions, ignore_index=True),
                          "hour_of_day": pd.concat(hod, ignore_index=True)},
                  figures={"pareto.png": pareto_figure(table)}, summary=summary)


@dataclass
class BenchConfig:
    kind: str
    name: str
    seed: int = 0
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "US-NY-NYIS",
                                                      "DE", "GB", "JP-TK", "SG", "AU-NSW", "IN-WE"])
    year: int = 2023
    start: str = "2023-06-01"
    horizon_h: int = 168
    arrival_span_h: int = 24
    job_counts: list[int] = field(default_factory=lambda: [100, 1000, 5000])
    gpus_per_region: int = 8192
    policies: list[str] = field(default_factory=lambda: ["cooperative"])
    repeats: int = 3
    adapt_events: int = 200

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in NAMES]
        check(bool(self.policies) and not unknown, "policies", f"expected names among {list(NAMES)}")
        check(self.arrival_span_h < self.horizon_h, "arrival_span_h", "must be < horizon_h")
        check(self.repeats >= 1 and self.adapt_events >= 1, "repeats", "repeats and adapt_events must be ≥ 1")


@experiment_kind("plan_bench", BenchConfig)
def bench(cfg: BenchConfig, ctx: Context) -> Result:
    """Planning latency (best of ``repeats``) and tracemalloc peak memory of one day-ahead plan of N jobs,
    plus the latency of single-job adaptation events. ``peak_mem_mb`` counts the memory the plan call
    allocates (numpy arrays included); ``process_max_rss_mb`` is the whole process so far (interpreter,
    pandas, the loaded panel)."""
    from forecast.data.panel import load_panel
    from scheduler.signals import CarbonSignal, controlled_error

    panel = load_panel(cfg.zones, [cfg.year], weather=False, data_dir=ctx.data_dir)
    carbon = CarbonSignal.from_panel(panel, list(cfg.zones), cfg.start, cfg.horizon_h)
    forecast = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=cfg.horizon_h, seed=cfg.seed)
    dc = DataCenters.uniform(carbon.regions, cfg.gpus_per_region)
    rows = []
    for name in cfg.policies:
        for n in cfg.job_counts:
            rows.append({"policy": name, **_bench_one(cfg, name, n, carbon, forecast, dc)})
    table = pd.DataFrame(rows)
    metrics = {f"{r['policy']}.n{r['jobs']}.{k}": float(v) for r in rows for k, v in r.items()
               if k not in ("policy", "jobs")}
    return Result(metrics=metrics, tables={"scale": table},
                  summary={"name": cfg.name, "policies": ", ".join(cfg.policies),
                           "cells": f"{len(cfg.zones)} regions × {cfg.horizon_h} h"})


def _bench_one(cfg: BenchConfig, name: str, n: int, carbon, forecast, dc: DataCenters) -> dict:
    from scheduler.generators import GeneratorSpec, generate
    from scheduler.policies.base import ClusterState, Event
    from scheduler.signals import PolicyView

    jobs = generate(GeneratorSpec(n_jobs=n, span_h=cfg.arrival_span_h, max_deadline_h=cfg.horizon_h), dc.n, cfg.seed)
    idx = np.arange(n)
    empty = ClusterState(dc.gpus.copy(), np.zeros((dc.n, cfg.horizon_h), np.int64))
    view = PolicyView(carbon, forecast, 0)
    times = []
    for _ in range(cfg.repeats):
        policy = make_policy(name, dc, cfg.seed)
        t0 = time.perf_counter()
        dec = policy.plan(jobs, idx, 0, empty, view)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    make_policy(name, dc, cfg.seed).plan(jobs, idx, 0, empty, view)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    placed = dec.region >= 0
    reserved = np.zeros((dc.n, cfg.horizon_h), np.int64)
    for i, r, s, h in zip(dec.job[placed], dec.region[placed], dec.start[placed], dec.hours[placed]):
        hours = dec.slots.get(int(i), np.arange(s, s + h))
        reserved[r, hours] += jobs.gpus[i]
    state = ClusterState(dc.gpus.copy(), reserved)
    policy = make_policy(name, dc, cfg.seed)
    lat = []
    for i in np.random.default_rng(cfg.seed).choice(n, size=min(cfg.adapt_events, n), replace=False):
        t0 = time.perf_counter()
        policy.adapt(Event("arrival", np.array([i])), jobs, 0, state, view)
        lat.append((time.perf_counter() - t0) * 1000.0)
    on_time = placed & (dec.start + jobs.est_duration_h[dec.job] <= jobs.deadline_h[dec.job])
    return {"jobs": n, "regions": dc.n, "horizon_h": cfg.horizon_h, "plan_seconds": min(times),
            "plan_seconds_median": float(np.median(times)), "peak_mem_mb": peak_mb,
            "adapt_ms_mean": float(np.mean(lat)), "adapt_ms_p95": float(np.percentile(lat, 95)),
            "placed": int(placed.sum()), "planned_on_time": int(on_time.sum()),
            "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
