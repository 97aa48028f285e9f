"""Kind ``scaling``: carbon-aware GPU scaling of elastic jobs and heterogeneous GPU generations, against
fixed-size placement, on real hourly carbon intensity (Electricity Maps panel).

Jobs come from the scheduler's workload generator (:func:`scheduler.generators.generate`, seed §5.1
distributions); each runs in its home region. Planners (see :mod:`scheduler.scaling`):

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
import pandas as pd

from carbonshift.experiments.config import bounded, check
from carbonshift.experiments.instances import MAX_JOBS, MAX_SPAN_DAYS, GeneratedJobs
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.data.panel import load_panel, to_matrix
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.scaling import (ASSIGN_POLICIES, DEFAULT_BETA, PLAN_SIGNALS, GpuGeneration, Plan, assign_generations,
                               footprint, plan_elastic, plan_fixed_shift, plan_with_capacity, windows)
from carbonshift.scheduler.workloads import TYPES

PLANNERS = ("fixed_asap", "fixed_shift", "fixed_pause", "elastic_flat", "elastic")


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
    i0 = int(times.searchsorted(pd.Timestamp(cfg.start, tz="UTC")))
    if i0 < 24 or i0 + hours > len(times):
        raise ValueError(f"scaling: need 24 h before {cfg.start} and {hours} h after it within {cfg.year} "
                         f"({times[0]} → {times[-1]})")
    actual = ci[:, i0:i0 + hours]
    plan = actual if cfg.plan_signal == "actual" else ci[:, i0 - 24:i0 - 24 + hours]
    return actual, plan


def run_planner(name: str, plan_ci: np.ndarray, work: np.ndarray, g0: np.ndarray, beta: np.ndarray,
                kw: np.ndarray, speed: np.ndarray, levels: np.ndarray, cap: np.ndarray | None = None) -> Plan:
    """Planner ``name`` for the given jobs (rows); ``cap`` [J × W] free GPUs per hour or ``None``."""
    inside = np.isfinite(plan_ci)
    if name == "fixed_asap":  # earliest contiguous start = cheapest start under intensity "hour index"
        earliest = np.where(inside, np.arange(plan_ci.shape[1])[None, :] + 1.0, np.nan)
        return plan_fixed_shift(earliest, work, g0, speed, cap)
    if name == "fixed_shift":
        return plan_fixed_shift(plan_ci, work, g0, speed, cap)
    if name == "fixed_pause":
        return plan_elastic(plan_ci, work, g0, beta, kw, speed, np.array([0.0, 1.0]), cap)
    if name == "elastic_flat":
        return plan_elastic(np.where(inside, 1.0, np.nan), work, g0, beta, kw, speed, levels, cap)
    return plan_elastic(plan_ci, work, g0, beta, kw, speed, levels, cap)


def peak_gpus(plan: Plan, submit: np.ndarray, horizon: int) -> float:
    total = np.zeros(horizon + plan.gpus.shape[1])
    np.add.at(total, submit[:, None] + np.arange(plan.gpus.shape[1])[None, :], plan.gpus)
    return float(total.max())


@experiment_kind("scaling", ScalingConfig)
def run(config: ScalingConfig, ctx: Context) -> Result:
    """Carbon-aware elastic GPU scaling + heterogeneous GPUs vs fixed-size placement on real CI."""
    wl, sc = config.workload, config.scaling
    ref = next(g for g in sc.generations if g.speed == 1.0)
    jobs = generate(GeneratorSpec(n_jobs=wl.n_jobs, span_h=wl.span_h, mode=wl.mode, gpu_kw=ref.kw),
                    len(config.carbon.zones), config.seed)
    horizon = int(jobs.deadline_h.max())
    actual, plan_sig = carbon_matrices(config.carbon, horizon, ctx.data_dir)
    ci_act = windows(actual, jobs.home, jobs.submit_h, jobs.deadline_h)
    ci_plan = windows(plan_sig, jobs.home, jobs.submit_h, jobs.deadline_h)
    work = jobs.duration_h.astype(np.float64)
    g0 = jobs.gpus.astype(np.float64)
    beta = np.array([sc.beta[t] for t in TYPES])[jobs.type]
    window_h = (jobs.deadline_h - jobs.submit_h).astype(np.float64)
    levels = np.asarray(sc.levels)
    gens = [GpuGeneration(g.name, g.speed, g.kw, g.count) for g in sc.generations]

    installed = sum(g.count for g in gens)
    fleets = {f"homogeneous_{ref.name}": (np.ones(len(work)), np.full(len(work), ref.kw),
                                          None, np.zeros(len(work), np.int64), np.full((1, horizon), installed))}
    for policy in ASSIGN_POLICIES:
        # feasible = meets the deadline at nominal size, so every planner (fixed ones included) can finish
        gen, overflow = assign_generations(gens, jobs.submit_h, window_h, work, g0, horizon, policy,
                                           max_scale=1.0, beta=beta, seed=config.seed)
        fleets[policy] = (np.array([g.speed for g in gens])[gen], np.array([g.kw for g in gens])[gen],
                          (gen, overflow), gen, np.array([[g.count] * horizon for g in gens]))
    rows, assign_rows = [], []
    order = np.argsort(jobs.submit_h, kind="stable")
    W = ci_plan.shape[1]
    for fleet, (speed, kw, assignment, pool, capacity) in fleets.items():
        if assignment is not None:
            gen, overflow = assignment
            for gi, g in enumerate(gens):
                on = gen == gi
                assign_rows.append({"fleet": fleet, "generation": g.name, "jobs": int(on.sum()),
                                    "mean_nominal_gpu_h": float((work * g0)[on].mean()) if on.any() else 0.0,
                                    "overflow_jobs": int((overflow & on).sum())})
        for name in PLANNERS:
            if sc.capacity:
                def one(j: int, cap: np.ndarray | None, name: str = name) -> Plan:
                    r = slice(j, j + 1)
                    return run_planner(name, ci_plan[r], work[r], g0[r], beta[r], kw[r], speed[r], levels, cap)
                plan, over = plan_with_capacity(one, order, pool, jobs.submit_h, capacity, W)
            else:
                plan = run_planner(name, ci_plan, work, g0, beta, kw, speed, levels)
                over = np.zeros(len(work), bool)
            fp = footprint(plan, ci_act, kw, sc.pue)
            rows.append({"fleet": fleet, "planner": name, "carbon_t": fp["kg"].sum() / 1000,
                         "energy_mwh": fp["kwh"].sum() / 1000, "gpu_hours": fp["gpu_h"].sum(),
                         "completion_mean_h": float(plan.finish_h.mean()),
                         "completion_p95_h": float(np.percentile(plan.finish_h, 95)),
                         "deadline_met_pct": float(100 * plan.done.mean()),
                         "rescales_per_job": float(plan.rescale_events().mean()),
                         "peak_gpus": peak_gpus(plan, jobs.submit_h, horizon),
                         "over_capacity_jobs": int(over.sum())})
    table = pd.DataFrame(rows).assign(planning_intensity=PLAN_SIGNALS[config.carbon.plan_signal])
    base = table[(table["fleet"] == f"homogeneous_{ref.name}") & (table["planner"] == "fixed_asap")]["carbon_t"].iloc[0]
    table["carbon_vs_homog_asap_pct"] = 100 * (table["carbon_t"] / base - 1)
    metrics = {f"{r.fleet}.{r.planner}.{m}": float(getattr(r, m)) for r in table.itertuples(index=False)
               for m in ("carbon_t", "energy_mwh", "gpu_hours", "completion_mean_h", "deadline_met_pct",
                         "carbon_vs_homog_asap_pct")}
    return Result(metrics=metrics, tables={"scaling_comparison": table, "gpu_assignment": pd.DataFrame(assign_rows)},
                  summary={"jobs": len(jobs), "horizon_h": horizon, "zones": ",".join(config.carbon.zones),
                           "plan_signal": PLAN_SIGNALS[config.carbon.plan_signal], "levels": sc.levels})
