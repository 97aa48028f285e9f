"""Experiment kind ``migration``: follow-the-renewables migration of running jobs on real carbon intensity
(seed 001), and the feasibility domain.

Loads the Electricity Maps panel for ``data.zones``, cuts ``span_days + tail_days`` from ``data.start``, draws
controlled-error forecasts (accuracy = 100 − MAPE) and a generated workload, then runs the three migration
policies of :mod:`scheduler.policies.migration` (``none``, ``energy``, ``feasible``) for every WAN bandwidth
in ``datacenters.wan_gbps`` and every ``stay_fractions`` value (partially migratable jobs).

Metrics ``<policy>.bw<Gbps>.stay<fraction>.<metric>`` (kWh, kgCO2e, hours; see ``MigrationOutcome.metrics``)
and ``<policy>.bw<Gbps>.stay<fraction>.nonrenewable_reduction_pct`` / ``carbon_reduction_pct`` (vs ``none``).
Tables: ``policies`` (one row per policy × bandwidth × stay fraction) and ``feasibility`` (grid summary);
figures: ``feasibility_domain.png``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.config import check
from experiments.registry import Context, Result, experiment_kind
from scheduler.datacenters import DEFAULT_NETWORK_KWH_PER_GB, DEFAULT_PUE, DataCenters
from scheduler.feasibility import MoveParams, domain_figure, evaluate
from scheduler.generators import GeneratorSpec, generate
from scheduler.policies.migration import POLICIES, MigrationOptions, simulate_migration
from scheduler.signals import CarbonSignal, controlled_error


@dataclass
class MigDataSection:
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "US-TEX-ERCO", "GB", "SG", "JP-TK", "DE"])
    years: list[int] = field(default_factory=lambda: [2023])
    start: str = "2023-03-01"        # UTC date
    span_days: int = 30              # days over which jobs arrive
    tail_days: int = 21              # extra days for the last jobs to finish
    column: str = "ci_direct"        # ci_direct | ci_lca

    def __post_init__(self) -> None:
        check(len(self.zones) >= 2, "data.zones", "migration needs at least two zones")
        check(self.span_days >= 1 and self.tail_days >= 0, "data.span_days", "span ≥ 1 day, tail ≥ 0")
        check(self.column in ("ci_direct", "ci_lca"), "data.column", "expected ci_direct or ci_lca")


@dataclass
class MigForecastSection:
    accuracy: float = 0.87           # 100 − MAPE, as a fraction
    horizon_h: int = 48
    issue_every_h: int = 24
    correlation_h: float = 0.0

    def __post_init__(self) -> None:
        check(0 < self.accuracy <= 1, "forecast.accuracy", "expected a fraction in (0, 1]")
        check(self.horizon_h >= 1 and self.issue_every_h >= 1, "forecast.horizon_h", "must be ≥ 1")


@dataclass
class MigWorkloadSection:
    n_jobs: int = 1000
    mode: str = "fitted"             # fitted | table1
    gpu_kw: float = 0.7              # kW per GPU

    def __post_init__(self) -> None:
        check(self.n_jobs >= 1, "workload.n_jobs", "must be ≥ 1")


@dataclass
class MigDatacenterSection:
    pue: float = DEFAULT_PUE
    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB      # Aslan et al. 2018 (2015 value)
    wan_gbps: list[float] = field(default_factory=lambda: [10.0, 1.0])

    def __post_init__(self) -> None:
        check(len(self.wan_gbps) >= 1 and min(self.wan_gbps) > 0, "datacenters.wan_gbps", "values must be > 0")


@dataclass
class FeasibilitySection:
    size_gb: list[float] = field(default_factory=lambda: [1.0, 1.0e4])        # log-spaced range, GB
    bandwidth_gbps: list[float] = field(default_factory=lambda: [0.1, 100.0])  # log-spaced range, Gbps
    points: int = 41
    window_h: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0, 16.0, 24.0])
    ci_source: float = 400.0
    ci_dest: float = 50.0

    def __post_init__(self) -> None:
        check(len(self.size_gb) == 2 and 0 < self.size_gb[0] < self.size_gb[1], "feasibility.size_gb",
              "expected [min, max] with 0 < min < max")
        check(len(self.bandwidth_gbps) == 2 and 0 < self.bandwidth_gbps[0] < self.bandwidth_gbps[1],
              "feasibility.bandwidth_gbps", "expected [min, max] with 0 < min < max")
        check(self.points >= 2 and len(self.window_h) >= 1, "feasibility.points", "≥ 2 points, ≥ 1 window")


@dataclass
class MigrationConfig:
    kind: str
    name: str
    seed: int = 0
    data: MigDataSection = field(default_factory=MigDataSection)
    forecast: MigForecastSection = field(default_factory=MigForecastSection)
    workload: MigWorkloadSection = field(default_factory=MigWorkloadSection)
    datacenters: MigDatacenterSection = field(default_factory=MigDatacenterSection)
    migration: MigrationOptions = field(default_factory=MigrationOptions)
    stay_fractions: list[float] = field(default_factory=lambda: [0.0, 0.5])
    policies: list[str] = field(default_factory=lambda: list(POLICIES))
    feasibility: FeasibilitySection = field(default_factory=FeasibilitySection)

    def __post_init__(self) -> None:
        check("none" in self.policies and set(self.policies) <= set(POLICIES), "policies",
              f"subset of {list(POLICIES)} that includes none (the reference)")
        check(all(0 <= s < 1 for s in self.stay_fractions) and self.stay_fractions, "stay_fractions",
              "values in [0, 1)")


def feasibility_grid(sec: FeasibilitySection, network_kwh_per_gb: float, max_move_share: float):
    """The feasibility grid of the config (log-spaced size and bandwidth axes)."""
    params = MoveParams(network_kwh_per_gb=network_kwh_per_gb, max_move_share=max_move_share,
                        ci_source=sec.ci_source, ci_dest=sec.ci_dest)
    return evaluate(np.geomspace(*sec.size_gb, sec.points), np.geomspace(*sec.bandwidth_gbps, sec.points),
                    np.asarray(sec.window_h, dtype=float), params)


@experiment_kind("migration", MigrationConfig,
                 "follow-the-renewables migration: none vs energy-driven vs feasibility-aware (seed 001)")
def run(cfg: MigrationConfig, ctx: Context) -> Result:
    from forecast.data.panel import load_panel

    d = cfg.data
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    carbon = CarbonSignal.from_panel(panel, d.zones, d.start, (d.span_days + d.tail_days) * 24, d.column)
    fc = cfg.forecast
    forecast = controlled_error(carbon, "accuracy", accuracy=fc.accuracy, horizon_h=fc.horizon_h,
                                issue_every_h=fc.issue_every_h, correlation_h=fc.correlation_h, seed=cfg.seed)
    spec = GeneratorSpec(n_jobs=cfg.workload.n_jobs, span_h=d.span_days * 24, mode=cfg.workload.mode,
                         gpu_kw=cfg.workload.gpu_kw)
    jobs = generate(spec, len(d.zones), seed=cfg.seed)
    rows = []
    for bw in cfg.datacenters.wan_gbps:
        dcs = DataCenters.uniform(d.zones, pue=cfg.datacenters.pue, wan_gbps=bw,
                                  network_kwh_per_gb=cfg.datacenters.network_kwh_per_gb)
        for stay in cfg.stay_fractions:
            opts = MigrationOptions(**{**cfg.migration.__dict__, "stay_fraction": stay})
            for pol in cfg.policies:
                out = simulate_migration(jobs, carbon, forecast, dcs, pol, opts, seed=cfg.seed)
                rows.append({"policy": pol, "wan_gbps": bw, "stay_fraction": stay, **out.metrics()})
    table = pd.DataFrame(rows)
    ref = table[table["policy"] == "none"].set_index(["wan_gbps", "stay_fraction"])
    key = list(zip(table["wan_gbps"], table["stay_fraction"]))
    table["nonrenewable_reduction_pct"] = 100 * (1 - table["nonrenewable_kwh"].to_numpy()
                                                 / ref.loc[key, "nonrenewable_kwh"].to_numpy())
    table["carbon_reduction_pct"] = 100 * (1 - table["carbon_kg"].to_numpy() / ref.loc[key, "carbon_kg"].to_numpy())
    metrics: dict[str, float] = {}
    for row in table.to_dict("records"):
        prefix = f"{row['policy']}.bw{row['wan_gbps']:g}.stay{row['stay_fraction']:g}"
        metrics.update({f"{prefix}.{k}": float(v) for k, v in row.items()
                        if k not in ("policy", "wan_gbps", "stay_fraction")})
    grid = feasibility_grid(cfg.feasibility, cfg.datacenters.network_kwh_per_gb, cfg.migration.max_move_share)
    feas = grid.summary()
    metrics.update({f"feasibility.{k}": v for k, v in feas.items()})
    return Result(metrics=metrics, tables={"policies": table, "feasibility": pd.DataFrame([feas])},
                  figures={"feasibility_domain.png": domain_figure(grid)},
                  summary={"name": cfg.name, "zones": ", ".join(d.zones), "jobs": len(jobs),
                           "hours": carbon.n_hours})
