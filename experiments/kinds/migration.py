"""Experiment kind ``migration``: follow-the-renewables migration of running jobs on real carbon intensity
(seed 001), and the feasibility domain.

Loads the Electricity Maps panel for ``data.zones``, cuts ``span_days + tail_days`` from ``data.start``, draws
controlled-error forecasts (accuracy = 100 − MAPE) and a generated workload, then runs the three migration
policies of :mod:`scheduler.policies.migration` (``none``, ``energy``, ``feasible``) for every WAN bandwidth
in ``datacenters.wan_gbps`` and every ``stay_fractions`` value (partially migratable jobs).

Metrics ``<policy>.bw<Gbps>.stay<fraction>.<metric>`` (kWh, kgCO2e, hours; see ``MigrationOutcome.metrics``)
and ``<policy>.bw<Gbps>.stay<fraction>.nonrenewable_reduction_pct`` / ``carbon_reduction_pct`` (vs ``none``).
Tables: ``policies`` (one row per policy × bandwidth × stay fraction, :func:`scheduler.migration_grid.migration_table`)
and ``feasibility`` (grid summary); figures: ``feasibility_domain.png``.

With a ``windows`` section (a :class:`scheduler.curtailment.WindowRule`) every row also reports
``energy_in_pf_windows_pct`` — the share of its energy spent inside perfect-foresight surplus windows — and,
with ``forecast_windows`` too (:class:`experiments.forecast_windows.ForecastWindowsSection`),
``energy_in_forecast_windows_pct`` inside the causal forecast windows, plus ``windows.precision_pct.<zone>``
/ ``recall_pct`` of the forecast windows vs the perfect-foresight ones (table ``forecast_windows_pr`` per
horizon bucket). The migration policies do not read windows (they compare intensity forecasts); the share is
measured by rerunning the same policy with the window mask (0 / 100 %) in the renewable-share channel, which
the model uses for accounting only, so ``nonrenewable_kwh`` becomes the energy outside windows (a move's
network energy counts by the mean of its two ends); the rerun's carbon is checked equal to the run's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.instances import DataSection, ErrorForecastSection, GpuJobs, SiteEnergy
from carbonshift.experiments.forecast_windows import ForecastWindowsSection, forecast_window_mask
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.bounds import bounded
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.schema import MAX_HORIZON_H
from carbonshift.scheduler.curtailment import WindowRule, foresight, precision_recall_metrics, window_label, windows_over
from carbonshift.scheduler.feasibility import FeasibilityGrid, MoveParams, MoveTiming, domain_figure, evaluate
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.migration_grid import grid_metrics, migration_table
from carbonshift.scheduler.policies.migration import POLICIES, MigrationOptions
from carbonshift.scheduler.signals import CarbonSignal, controlled_error


@dataclass
class MigDataSection(DataSection):
    min_zones: ClassVar[int] = 2     # a job migrates between zones


@dataclass
class MigForecastSection(ErrorForecastSection):
    horizon_h: int = bounded(48, ge=1, le=MAX_HORIZON_H)


@dataclass
class MigDatacenterSection(SiteEnergy):
    wan_gbps: list[float] = field(default_factory=lambda: [10.0, 1.0])   # one run per WAN bandwidth, Gbit/s

    def __post_init__(self) -> None:
        check(len(self.wan_gbps) >= 1 and min(self.wan_gbps) > 0, "datacenters.wan_gbps", "values must be > 0")


@dataclass
class FeasibilitySection:
    size_gb: list[float] = field(default_factory=lambda: [1.0, 1.0e4])        # log-spaced range, GB
    bandwidth_gbps: list[float] = field(default_factory=lambda: [0.1, 100.0])  # log-spaced range, Gbps
    points: int = bounded(41, ge=2, le=1000)   # per axis: a points × points grid per window
    window_h: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0, 16.0, 24.0])
    ci_source: float = 400.0
    ci_dest: float = 50.0

    def __post_init__(self) -> None:
        check(len(self.size_gb) == 2 and 0 < self.size_gb[0] < self.size_gb[1], "feasibility.size_gb",
              "expected [min, max] with 0 < min < max")
        check(len(self.bandwidth_gbps) == 2 and 0 < self.bandwidth_gbps[0] < self.bandwidth_gbps[1],
              "feasibility.bandwidth_gbps", "expected [min, max] with 0 < min < max")
        check(len(self.window_h) >= 1, "feasibility.window_h", "at least one window")


@dataclass
class MigrationConfig:
    kind: str
    name: str
    seed: int = 0
    data: MigDataSection = field(default_factory=MigDataSection)
    forecast: MigForecastSection = field(default_factory=MigForecastSection)
    workload: GpuJobs = field(default_factory=GpuJobs)
    datacenters: MigDatacenterSection = field(default_factory=MigDatacenterSection)
    migration: MigrationOptions = field(default_factory=MigrationOptions)
    stay_fractions: list[float] = field(default_factory=lambda: [0.0, 0.5])
    policies: list[str] = field(default_factory=lambda: list(POLICIES))
    feasibility: FeasibilitySection = field(default_factory=FeasibilitySection)
    windows: WindowRule | None = None
    forecast_windows: ForecastWindowsSection | None = None

    def __post_init__(self) -> None:
        check(self.forecast_windows is None or self.windows is not None, "forecast_windows",
              "needs a windows section (the rule the forecast windows follow)")
        check("none" in self.policies and set(self.policies) <= set(POLICIES), "policies",
              f"subset of {list(POLICIES)} that includes none (the reference)")
        check(bool(self.stay_fractions) and all(0 <= s < 1 for s in self.stay_fractions), "stay_fractions",
              "values in [0, 1)")
        check(self.migration.stay_fraction == 0, "migration.stay_fraction",
              "not read by this kind: it runs every value of stay_fractions")


def feasibility_grid(sec: FeasibilitySection, network_kwh_per_gb: float, timing: MoveTiming) -> FeasibilityGrid:
    """The feasibility grid of the config (log-spaced size and bandwidth axes), with the migration model's
    move timing (``migration.link_efficiency``, ``restore_gb_per_s``, ``startup_h``, ``max_move_share``)."""
    params = MoveParams(**timing.timing(), network_kwh_per_gb=network_kwh_per_gb, ci_source=sec.ci_source,
                        ci_dest=sec.ci_dest)
    (size_lo, size_hi), (bw_lo, bw_hi) = sec.size_gb, sec.bandwidth_gbps
    return evaluate(np.geomspace(size_lo, size_hi, sec.points), np.geomspace(bw_lo, bw_hi, sec.points),
                    np.asarray(sec.window_h, dtype=float), params)


def window_masks(cfg: MigrationConfig, rule: WindowRule, panel: pd.DataFrame, carbon: CarbonSignal, ctx: Context
                 ) -> tuple[dict[str, np.ndarray], pd.DataFrame | None]:
    """{"pf" | "forecast": [R × T] window mask over the carbon signal's hours} of the ``rule`` (``cfg.windows``)
    and the forecast windows' precision/recall table (None without ``forecast_windows``)."""
    d = cfg.data
    masks = {"pf": windows_over(panel, rule, d.zones, carbon.times[0], carbon.n_hours)}
    if cfg.forecast_windows is None:
        return masks, None
    fw = forecast_window_mask(panel, d.zones, rule, cfg.forecast_windows, carbon.times[0], carbon.n_hours,
                              cfg.seed, ctx.progress)
    masks["forecast"] = fw.mask
    return masks, fw.pr


@experiment_kind("migration", MigrationConfig,
                 "follow-the-renewables migration: none vs energy-driven vs feasibility-aware (seed 001)")
def run(cfg: MigrationConfig, ctx: Context) -> Result:
    d = cfg.data
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    carbon = CarbonSignal.from_panel(panel, d.zones, d.start, (d.span_days + d.tail_days) * 24, d.column)
    fc = cfg.forecast
    forecast = controlled_error(carbon, "accuracy", accuracy=fc.accuracy, horizon_h=fc.horizon_h,
                                issue_every_h=fc.issue_every_h, correlation_h=fc.correlation_h, seed=cfg.seed)
    spec = GeneratorSpec(n_jobs=cfg.workload.n_jobs, span_h=d.span_days * 24, mode=cfg.workload.mode,
                         gpu_kw=cfg.workload.gpu_kw)
    jobs = generate(spec, len(d.zones), seed=cfg.seed)
    masks, pr = window_masks(cfg, cfg.windows, panel, carbon, ctx) if cfg.windows is not None else ({}, None)
    table = migration_table(jobs, carbon, forecast, cfg.datacenters, policies=cfg.policies,
                            stay_fractions=cfg.stay_fractions, options=cfg.migration, masks=masks, seed=cfg.seed)
    metrics = grid_metrics(table)
    grid = feasibility_grid(cfg.feasibility, cfg.datacenters.network_kwh_per_gb, cfg.migration)
    feas = grid.summary()
    metrics.update({f"feasibility.{k}": v for k, v in feas.items()})
    tables = {"policies": table, "feasibility": pd.DataFrame([feas])}
    if pr is not None:
        tables["forecast_windows_pr"] = pr
        metrics.update(precision_recall_metrics(masks["forecast"], masks["pf"], d.zones, "windows"))
    return Result(metrics=metrics, tables=tables,
                  figures={"feasibility_domain.png": domain_figure(grid)},
                  summary={"name": cfg.name, "zones": ", ".join(d.zones), "jobs": len(jobs),
                           **({"pf_windows": "; ".join([window_label(cfg.windows), *foresight(cfg.windows)])}
                              if cfg.windows is not None else {}),
                           **({"forecast_windows": f"forecast windows ({cfg.forecast_windows.model}+cqr, "
                                                   f"{cfg.forecast_windows.stat})"}
                              if cfg.forecast_windows is not None else {}),
                           "hours": carbon.n_hours})
