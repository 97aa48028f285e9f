"""Config → scheduling instance: the config sections shared by kinds and the wiring that turns them into library
objects (carbon signal, forecast signal, data centres, jobs, policies).

Each shared setting is declared once here; a kind uses a section as is or extends it with only its own fields,
and a default a kind needs changed is overridden in that kind (``MigForecastSection.horizon_h``):

* ``data`` — :class:`ZoneData` (topology, curtailment_training) and :class:`DataSection` (+ ``tail_days``:
  simulate, migration);
* ``forecast`` — :class:`ErrorForecastSection` (migration) and :class:`ForecastSection` (+ error models and
  forecast tables: simulate);
* ``workload`` — :class:`GeneratedJobs` (scaling), :class:`GpuJobs` (migration), :class:`WorkloadSection`
  (simulate); defaults are :class:`scheduler.generators.GeneratorSpec`'s;
* ``datacenters`` — :class:`SiteEnergy` (migration), :class:`WanSites` (topology), :class:`DatacenterSection`
  (simulate).

Carbon intensity is gCO2eq/kWh on an hourly UTC grid; durations and deadlines are hours; GPU power kW.
No MLflow or Ray here: kinds call these functions and return a :class:`experiments.registry.Result`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.regional_ray import ray_regional
from carbonshift.experiments.tracking import forecast_table_path
from carbonshift.forecast.bounds import MAX_BOOSTING_ITER, MAX_SPAN_DAYS, MAX_SPAN_H, Range, bounded, bounded_entries
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.schema import MAX_HORIZON_H
from carbonshift.forecast.models.base import read_forecast_table
from carbonshift.scheduler.datacenters import DEFAULT_GPUS, DEFAULT_NETWORK_KWH_PER_GB, DEFAULT_PUE, DEFAULT_WAN_GBPS, DataCenters
from carbonshift.scheduler.duration import FEEDBACK_MODES
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.registry import make_policy, rolling_milp
from carbonshift.scheduler.risk_margins import fixed_risk_aware, learned_chance_constrained, learned_risk_aware
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, controlled_error
from carbonshift.scheduler.traces import trace_jobs
from carbonshift.scheduler.workloads import TYPES, Jobs

MAX_JOBS = 1_000_000  # workload.n_jobs upper bound (1e9 jobs would allocate ~7 GiB before failing)
#: datacenters.gpus_per_region upper bound: a million GPUs per region, 24× the largest shipped (scale.yaml's 40,960)
MAX_GPUS_PER_REGION = 1_000_000


#: the six zones of the seed's evaluation (the default ``data.zones`` of the simulation kinds)
SEED_ZONES = ("US-CAL-CISO", "US-TEX-ERCO", "GB", "SG", "JP-TK", "DE")


@dataclass
class ZoneData:
    """Section ``data``: hourly carbon intensity of ``zones`` (Electricity Maps panel) over ``span_days`` from
    ``start``. Every kind that reads the panel this way uses it or a subclass; a kind that needs more zones
    says so with ``min_zones``, other defaults are overridden field by field in the kind."""

    min_zones: ClassVar[int] = 1
    zones: list[str] = field(default_factory=lambda: list(SEED_ZONES))
    years: list[int] = field(default_factory=lambda: [2023])
    start: str = "2023-03-01"        # UTC date the experiment starts
    span_days: int = bounded(30, ge=1, le=MAX_SPAN_DAYS)   # days over which jobs arrive
    column: str = "ci_direct"        # ci_direct (operational) | ci_lca (life-cycle)

    def __post_init__(self) -> None:
        check(len(self.zones) >= self.min_zones, "data.zones",
              "need at least one zone" if self.min_zones == 1 else f"need at least {self.min_zones} zones")
        check(self.column in ("ci_direct", "ci_lca"), "data.column", "expected ci_direct or ci_lca")


@dataclass
class DataSection(ZoneData):
    """:class:`ZoneData` plus ``tail_days`` after the arrival span for the last jobs to run."""

    tail_days: int = bounded(21, ge=0, le=MAX_SPAN_DAYS)   # extra days for the last jobs to run


@dataclass
class ErrorForecastSection:
    """Section ``forecast``: controlled-error forecasts around the actuals (:func:`scheduler.signals.controlled_error`)
    issued every ``issue_every_h`` hours, ``horizon_h`` hours ahead."""

    accuracy: float = 0.87           # target day-ahead (horizons 0–23 h) 100 − MAPE, as a fraction
    horizon_h: int = bounded(168, ge=1, le=MAX_HORIZON_H)   # hours ahead of each issue (error grows with it: signals.horizon_shape)
    issue_every_h: int = bounded(24, ge=1, le=MAX_SPAN_H)
    correlation_h: float = bounded(0.0, ge=0)   # > 0: AR(1)-correlated errors along the horizon (h); 0: independent per hour

    def __post_init__(self) -> None:
        check(0 < self.accuracy <= 1, "forecast.accuracy", "expected a fraction in (0, 1]")


@dataclass
class ForecastSection(ErrorForecastSection):
    """:class:`ErrorForecastSection` with a choice of error model, or a forecast table file."""

    source: str = "synthetic"        # synthetic (controlled error around actuals) | table (forecast table file)
    error_model: str = "accuracy"    # accuracy | gaussian | uniform | perfect
    k: float = 0.05                  # gaussian: σ = k × regional mean
    e: float = 0.2                   # uniform: ±e/2 multiplicative
    table_path: str | None = None    # CSV/parquet forecast table (schema forecast.data.schema)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.source in ("synthetic", "table"), "forecast.source", "expected synthetic or table")
        check(self.error_model in ("accuracy", "gaussian", "uniform", "perfect"), "forecast.error_model",
              "expected accuracy | gaussian | uniform | perfect")
        check(self.source != "table" or bool(self.table_path), "forecast.table_path", "required for source: table")
        check(math.isfinite(self.k) and self.k >= 0, "forecast.k", f"σ/mean must be a finite number ≥ 0, got {self.k}")
        check(math.isfinite(self.e) and self.e >= 0, "forecast.e", f"the ±e/2 width must be a finite number ≥ 0, "
                                                                   f"got {self.e}")


@dataclass
class GeneratedJobs:
    """Section ``workload``: how many jobs the workload generator (:class:`scheduler.generators.GeneratorSpec`)
    draws and how; defaults are the generator's."""

    n_jobs: int = bounded(GeneratorSpec.n_jobs, ge=1, le=MAX_JOBS)
    mode: str = GeneratorSpec.mode   # generator: fitted | table1

    def __post_init__(self) -> None:
        check(self.mode in ("fitted", "table1"), "workload.mode", "expected fitted or table1")


@dataclass
class GpuJobs(GeneratedJobs):
    """:class:`GeneratedJobs` with the power each job's GPUs draw."""

    gpu_kw: float = bounded(GeneratorSpec.gpu_kw, gt=0)   # kW per GPU


@dataclass
class WorkloadSection(GpuJobs):
    """:class:`GpuJobs` from the generator or the Alibaba GPU trace, with the job mix, profiling error and
    deadline settings."""

    source: str = "generator"        # generator | alibaba
    mix: dict[str, float] = field(default_factory=lambda: {t: 0.25 for t in TYPES})
    profiling_error: float = GeneratorSpec.profiling_error
    max_deadline_h: int | None = bounded(None, le=MAX_SPAN_H)
    flexibility: float | None = None  # one deadline flexibility (fraction) for all jobs; None = drawn
    gpu_scale: int = bounded(1, le=1024)   # alibaba: multiply recorded GPU counts (≤ 8 per pod)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.source in ("generator", "alibaba"), "workload.source", "expected generator or alibaba")
        check(0 <= self.profiling_error < 1, "workload.profiling_error", "expected a fraction in [0, 1)")
        check(set(self.mix) <= set(TYPES), "workload.mix", f"types must be among {list(TYPES)}")
        check(self.flexibility is None or 0 <= self.flexibility <= 5, "workload.flexibility",
              "expected a fraction ≥ 0 (0.3 = 30 %)")


@dataclass
class SiteEnergy:
    """Section ``datacenters``: the energy terms every kind's data centres share (PUE and the network's
    kWh per GB transferred); kinds extend it with their capacity and WAN settings."""

    pue: float = bounded(DEFAULT_PUE, ge=1)
    network_kwh_per_gb: float = bounded(DEFAULT_NETWORK_KWH_PER_GB, ge=0)  # kWh per GB transferred


@dataclass
class WanSites(SiteEnergy):
    """:class:`SiteEnergy` of data centres linked by one WAN bandwidth."""

    wan_gbps: float = bounded(DEFAULT_WAN_GBPS, gt=0)                      # Gbit/s between regions


@dataclass
class DatacenterSection(WanSites):
    gpus_per_region: int = bounded(DEFAULT_GPUS, ge=1, le=MAX_GPUS_PER_REGION)
    overrides: dict[str, dict[str, float]] = bounded_entries(   # region → {gpus: …, pue: …}
        dict, gpus=Range(ge=1, le=MAX_GPUS_PER_REGION), pue=Range(ge=1))
    residency: bool = False          # data residency: every job runs in its home region only


@dataclass
class DurationSection:
    """How ``risk_aware`` pads durations: ``model: fixed`` plans ``ceil(estimate × (1 +
    policy_options.risk_duration_margin))`` hours for every job; ``model: estimator`` learns per-job margins
    ``q_level / median − 1`` from a prior history (:mod:`scheduler.risk_margins`)."""

    model: str = "fixed"             # fixed (policy_options.risk_duration_margin) | estimator
    level: float = 0.9               # estimator: margin = q_level / median − 1
    feedback: str = "none"           # estimator: none | observe | update
    update_every: int = bounded(100, le=MAX_JOBS)   # update: refit after this many finished jobs
    history_jobs: int = bounded(1000, ge=20, le=MAX_JOBS)   # estimator prior: finished jobs before hour 0 (≥ 20 to fit)
    max_iter: int = bounded(100, le=MAX_BOOSTING_ITER)   # boosting iterations per quantile model
    pad_to_fit: bool = False         # padded run does not fit: keep the longest padding that does
    history_profiling_error: float | None = None  # prior history's profiling error (null: workload.profiling_error)

    def __post_init__(self) -> None:
        check(self.model in ("fixed", "estimator"), "duration.model", "expected fixed or estimator")
        check(0.5 < self.level < 1, "duration.level", "expected a quantile level in (0.5, 1)")
        check(self.feedback in FEEDBACK_MODES, "duration.feedback", f"expected one of {list(FEEDBACK_MODES)}")
        check(self.update_every >= 1 and self.max_iter >= 1, "duration.update_every",
              "update_every and max_iter must be ≥ 1")
        check(self.history_profiling_error is None or 0 <= self.history_profiling_error < 1,
              "duration.history_profiling_error", "expected a relative error in [0, 1) or null")


def carbon_signal(d: DataSection, data_dir: str | None) -> CarbonSignal:
    """Hourly carbon intensity (gCO2eq/kWh, column ``d.column``) of ``d.zones`` over ``span_days +
    tail_days`` from ``d.start`` (UTC)."""
    panel = load_panel(d.zones, d.years, weather=False, data_dir=data_dir)
    return CarbonSignal.from_panel(panel, list(d.zones), d.start, (d.span_days + d.tail_days) * 24, d.column)


def forecast_signal(f: ForecastSection, carbon: CarbonSignal, plan_hour_utc: int, seed: int) -> ForecastSignal:
    """The forecasts the policies see: a forecast table file, or controlled error around the actuals
    issued at ``plan_hour_utc`` (UTC)."""
    if f.source == "table":
        assert f.table_path is not None, "ForecastSection requires table_path with source: table"
        path = forecast_table_path(f.table_path)
        table = read_forecast_table(path)
        return ForecastSignal.from_table(table, carbon.regions, carbon.times, label=table_label(table, path))
    return controlled_error(carbon, f.error_model, k=f.k, e=f.e, accuracy=f.accuracy, horizon_h=f.horizon_h,
                            issue_every_h=f.issue_every_h, issue_hour=(plan_hour_utc - carbon.times[0].hour) % 24,
                            correlation_h=f.correlation_h, seed=seed)


def table_label(table: pd.DataFrame, path: str | Path) -> str:
    """What a forecast table holds: its ``model`` column's names (a backtest's combined forecast is named
    ``ensemble(gbm 0.62, prophet 0.38)+cqr`` or, with one member, ``gbm+cqr``) and the file, e.g.
    ``gbm+cqr forecast table forecast_ensemble.csv``; without a ``model`` column, ``forecast table <file>``."""
    models = ", ".join(dict.fromkeys(table["model"].astype(str))) if "model" in table.columns else ""
    return f"{models + ' ' if models else ''}forecast table {Path(str(path)).name}"


def datacenters(c: DatacenterSection, regions: list[str]) -> DataCenters:
    """Uniform data centres in ``regions`` (GPUs, PUE, WAN Gbit/s, network kWh/GB) with per-region overrides
    and the data-residency rule."""
    return DataCenters.uniform(regions, c.gpus_per_region, c.pue, c.wan_gbps, c.network_kwh_per_gb, c.overrides,
                               c.residency)


def generator_spec(d: DataSection, w: WorkloadSection, n_jobs: int) -> GeneratorSpec:
    """The workload generator settings for ``n_jobs`` jobs arriving over ``d.span_days``."""
    return GeneratorSpec(n_jobs=n_jobs, span_h=d.span_days * 24, mode=w.mode, mix=w.mix, gpu_kw=w.gpu_kw,
                         profiling_error=w.profiling_error, max_deadline_h=w.max_deadline_h,
                         flexibility=w.flexibility)


def history_spec(cfg: Any) -> GeneratorSpec:
    """Generator settings of the prior job history the learned duration margins are calibrated on:
    ``duration.history_jobs`` jobs of the workload's spec, with ``duration.history_profiling_error`` in place
    of ``workload.profiling_error`` when set — a duration model learned on another distribution than the
    workload it is used on (issue 22, item 4)."""
    from dataclasses import replace

    spec = generator_spec(cfg.data, cfg.workload, cfg.duration.history_jobs)
    err = cfg.duration.history_profiling_error
    return spec if err is None else replace(spec, profiling_error=err)


def make_jobs(d: DataSection, w: WorkloadSection, n_regions: int, seed: int, data_dir: str | None) -> Jobs:
    """Jobs from the workload generator or the Alibaba GPU trace."""
    if w.source == "alibaba":
        return trace_jobs(n_regions, seed, span_h=d.span_days * 24, max_jobs=w.n_jobs, gpu_scale=w.gpu_scale,
                          mix=w.mix, gpu_kw=w.gpu_kw, profiling_error=w.profiling_error, flexibility=w.flexibility,
                          data_dir=data_dir)
    return generate(generator_spec(d, w, w.n_jobs), n_regions, seed)


def build_instance(cfg: Any, data_dir: str | None) -> tuple[CarbonSignal, ForecastSignal, DataCenters, Jobs]:
    """(carbon, forecast, data centres, jobs) of a config with sections ``data``, ``forecast``,
    ``workload``, ``datacenters``, ``simulation`` and a ``seed``."""
    carbon = carbon_signal(cfg.data, data_dir)
    forecast = forecast_signal(cfg.forecast, carbon, cfg.simulation.plan_hour_utc, cfg.seed)
    dc = datacenters(cfg.datacenters, carbon.regions)
    return carbon, forecast, dc, make_jobs(cfg.data, cfg.workload, dc.n, cfg.seed, data_dir)


def make_policies(cfg: Any, dc: DataCenters, jobs: Jobs) -> tuple[dict[str, tuple[Any, Any]], dict[str, float]]:
    """Policies of ``cfg.policies`` as ``name -> (policy, feedback or None)`` and the ``duration.*`` metrics
    of the learned risk-aware margins (``risk_aware`` has them only with ``duration.model: estimator``).
    ``chance_constrained`` always reserves the ``policy_options.risk_deadline_target`` duration quantile
    learned from a prior history by conformal calibration (history size and feedback from the ``duration``
    section); its metrics are ``chance_constrained.duration.*``. ``rolling_milp`` wraps its own such
    ``chance_constrained`` (warm start and adaptation; metrics ``rolling_milp.duration.*``)."""
    du, o = cfg.duration, cfg.policy_options
    out: dict[str, tuple[Any, Any]] = {}
    metrics: dict[str, float] = {}
    for name in cfg.policies:
        if name == "risk_aware" and du.model == "estimator":
            learned = learned_risk_aware(dc, jobs, history_spec(cfg), o,
                                         du.level, du.feedback, du.update_every, du.max_iter, du.pad_to_fit, cfg.seed)
            out[name] = (learned.policy, learned.source)
            metrics.update(learned.metrics)
        elif name == "risk_aware" and du.pad_to_fit:
            out[name] = (fixed_risk_aware(dc, o, pad_to_fit=True), None)
        elif name in ("chance_constrained", "rolling_milp"):
            check(cfg.workload.source == "generator", "policies",
                  f"{name} learns its duration quantiles from a prior history drawn from the workload "
                  "generator; it needs workload.source: generator")
            policy, source, quantile_metrics = learned_chance_constrained(
                dc, jobs, history_spec(cfg), o, du.feedback, cfg.seed)
            out[name] = (policy if name == "chance_constrained" else rolling_milp(policy, o), source)
            metrics.update({f"{name}.{k}": v for k, v in quantile_metrics.items()})
        elif name == "regional" and o.regional_transport == "ray":
            out[name] = (ray_regional(dc, o.delay_weight_kg_per_h), None)
        else:
            out[name] = (make_policy(name, dc, cfg.seed, o), None)
    return out, metrics

