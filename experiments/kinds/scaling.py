"""Kind ``scaling``: carbon-aware GPU scaling of elastic jobs and heterogeneous GPU generations, against
fixed-size placement, on real hourly carbon intensity (Electricity Maps panel).

Jobs come from the scheduler's workload generator (:func:`scheduler.generators.generate`, seed §5.1
distributions); each runs in its home region. Planners (see :mod:`scheduler.scaling`; the comparison:
:mod:`scheduler.scaling_comparison`):

* ``fixed_asap`` — nominal GPUs from the earliest start with room (carbon-agnostic baseline);
* ``fixed_shift`` — nominal GPUs, one contiguous run at the cleanest start before the deadline;
* ``fixed_pause`` — nominal GPUs, pause/resume in the cleanest hours (levels 0/1);
* ``elastic_flat`` — the elastic planner with a flat intensity: picks the most *energy*-efficient sizes
  only (separates the scaling-efficiency effect from carbon awareness);
* ``elastic`` — CarbonScaler-style elastic scaling on the planning intensity.

Each planner is evaluated on a homogeneous fleet (every job on the reference generation, speed 1) and
on a heterogeneous fleet under three assignment rules (``blind``, ``arrival_fastest``,
``long_to_efficient``). Carbon is always
computed with the *actual* intensity; the planning intensity is the actual one (``plan_signal: actual``,
perfect foresight — the table's ``planning_intensity`` column and the summary say so) or day-ahead
persistence (``persistence24``: the intensity 24 h earlier). With
``scaling.capacity`` (default) jobs are planned in arrival order against the installed GPUs of their
generation (the homogeneous fleet has as many reference GPUs as the heterogeneous one has in total); a
job that cannot finish within the free GPUs runs uncapped and is counted in ``over_capacity_jobs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonshift.experiments.config import check
from carbonshift.experiments.instances import MAX_JOBS, GeneratedJobs
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.bounds import MAX_SPAN_DAYS, bounded
from carbonshift.forecast.data.panel import load_panel, to_matrix
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.scaling import DEFAULT_BETA, PLAN_SIGNALS, GpuGeneration
from carbonshift.scheduler.scaling_comparison import (ScalingJobs, compare_planners, comparison_metrics, comparison_table,
                                                      fleets, intensity_pair, reference)
from carbonshift.scheduler.workloads import TYPES



@dataclass
class CarbonSection:
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "DE", "GB", "US-TEX-ERCO"])
    year: int = 2023
    start: str = "2023-01-02"       # UTC; persistence planning needs the 24 h before it
    column: str = "ci_direct"       # ci_direct | ci_lca
    plan_signal: str = "actual"     # actual (perfect foresight) | persistence24

    def __post_init__(self) -> None:
        check(bool(self.zones), "carbon.zones", "at least one zone (any zone with an export in the data dir)")
        check(self.column in ("ci_direct", "ci_lca"), "carbon.column", "ci_direct or ci_lca")
        check(self.plan_signal in PLAN_SIGNALS, "carbon.plan_signal", f"one of {list(PLAN_SIGNALS)}")


@dataclass
class ScalingWorkloadSection(GeneratedJobs):
    n_jobs: int = bounded(500, ge=1, le=MAX_JOBS)
    span_h: int = bounded(GeneratorSpec.span_h, ge=1, le=MAX_SPAN_DAYS * 24)   # hours over which jobs arrive


@dataclass
class GenerationSection:
    name: str
    speed: float
    kw: float
    count: int


def _default_generations() -> list[GenerationSection]:
    # Reference generation (speed 1, the one the jobs' nominal durations refer to): A100 SXM, 400 W board
    # power. Speeds from datasheet dense tensor peaks: H100 SXM 989 / A100 312 / V100 125 TFLOPS
    # (BF16/BF16/FP16) — an upper bound on real training speed-ups; board power 700 / 400 / 300 W.
    # Installed counts: our assumption (a fleet mid-way through a refresh).
    return [GenerationSection("H100", 989 / 312, 0.70, 256), GenerationSection("A100", 1.0, 0.40, 768),
            GenerationSection("V100", 125 / 312, 0.30, 512)]


@dataclass
class ScalingSection:
    levels: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 1.5, 2.0])
    beta: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BETA))
    pue: float = 1.1
    capacity: bool = True          # plan in arrival order against installed GPUs (False: unlimited)
    generations: list[GenerationSection] = field(default_factory=_default_generations)

    def __post_init__(self) -> None:
        check(len(self.levels) >= 2 and self.levels[0] == 0 and self.levels == sorted(set(self.levels))
              and 1.0 in self.levels, "scaling.levels", "increasing, starting at 0, containing 1")
        check(set(self.beta) == set(TYPES) and all(0 <= b < 1 for b in self.beta.values()), "scaling.beta",
              f"one value in [0, 1) for each of {list(TYPES)}")
        check(self.pue >= 1, "scaling.pue", "must be ≥ 1")
        check(bool(self.generations) and all(g.speed > 0 and g.kw > 0 and g.count >= 0 for g in self.generations),
              "scaling.generations", "speed and kw > 0, count ≥ 0")
        check(sum(g.speed == 1.0 for g in self.generations) == 1, "scaling.generations",
              "exactly one reference generation with speed 1.0 (the homogeneous fleet)")


@dataclass
class ScalingConfig:
    kind: str
    name: str
    seed: int = 0
    carbon: CarbonSection = field(default_factory=CarbonSection)
    workload: ScalingWorkloadSection = field(default_factory=ScalingWorkloadSection)
    scaling: ScalingSection = field(default_factory=ScalingSection)


def carbon_matrices(cfg: CarbonSection, hours: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(actual, planning) intensity [region × hour] from ``cfg.start`` for ``hours`` hours."""
    panel = load_panel(cfg.zones, [cfg.year], weather=False, data_dir=data_dir)
    ci, times, _ = to_matrix(panel, cfg.column, cfg.zones)
    return intensity_pair(ci, times, cfg.start, hours, cfg.plan_signal)


@experiment_kind("scaling", ScalingConfig)
def run(config: ScalingConfig, ctx: Context) -> Result:
    """Carbon-aware elastic GPU scaling + heterogeneous GPUs vs fixed-size placement on real CI."""
    wl, sc = config.workload, config.scaling
    gens = [GpuGeneration(g.name, g.speed, g.kw, g.count) for g in sc.generations]
    jobs = generate(GeneratorSpec(n_jobs=wl.n_jobs, span_h=wl.span_h, mode=wl.mode, gpu_kw=reference(gens).kw),
                    len(config.carbon.zones), config.seed)
    actual, plan = carbon_matrices(config.carbon, int(jobs.deadline_h.max()), ctx.data_dir)
    sj = ScalingJobs.build(jobs, sc.beta, actual, plan)
    rows, assignment = compare_planners(sj, fleets(gens, sj, config.seed), gens, np.asarray(sc.levels), sc.pue,
                                        sc.capacity)
    table = comparison_table(rows, PLAN_SIGNALS[config.carbon.plan_signal], gens)
    return Result(metrics=comparison_metrics(table), tables={"scaling_comparison": table, "gpu_assignment": assignment},
                  summary={"jobs": len(jobs), "horizon_h": sj.horizon, "zones": ",".join(config.carbon.zones),
                           "plan_signal": PLAN_SIGNALS[config.carbon.plan_signal], "levels": sc.levels})
