"""Carbon-aware GPU scaling of elastic jobs (CarbonScaler-style) and heterogeneous GPU generations.

**Scaling model.** A job of nominal size ``g0`` GPUs and nominal duration ``D`` hours (on the reference
GPU generation) carries ``D`` units of work. Run at ``n = s·g0`` GPUs, it progresses
``T(s) = s / (1 − β + β·s)`` work units per hour (Amdahl-like curve, ``T(1) = 1``, concave; ``β`` is the
job type's communication/serial penalty: 0 = linear scaling, larger = worse). On a generation of speed
``v`` (relative to the reference) progress is ``v·T(s)``.

**Elastic planner** (CarbonScaler's greedy marginal allocation, Hanafy et al., SIGMETRICS 2024): over
the job's window [submit, deadline) every hour ``t`` offers increments between consecutive scale
``levels``; increment ``k`` adds ``ΔT_k`` work for ``Δn_k`` GPUs, i.e. ``Δn_k·kW·PUE·CI_t`` carbon. The
planner picks increments in decreasing order of work per carbon until the job's work is covered. Because
``T`` is concave, the chosen increments form a prefix of levels in every hour, so the per-hour GPU count
is well defined. All jobs are planned at once on ``[jobs × window-hours × levels]`` arrays.

Special cases used as baselines: ``levels = [0, 1]`` is fixed-size *pause/resume* (run the ``D``
cleanest hours of the window); :func:`plan_fixed_asap` runs at ``g0`` from submission;
:func:`plan_fixed_shift` runs at ``g0`` for ``D`` contiguous hours from the cleanest start.

**Heterogeneous GPUs.** :func:`assign_generations` gives each job one GPU generation subject to a
concurrent-GPU capacity per generation: ``long_to_efficient`` (seed §4.2C: jobs by GPU-hours,
longest first, take the most energy-efficient generation that meets their deadline and has room),
``arrival_fastest`` (performance-first: in arrival order, the fastest generation with room) or ``blind``
(generation-unaware: in arrival order, a uniformly random feasible generation with room).

**Capacity.** Planners take an optional per-hour GPU cap; :func:`plan_with_capacity` plans jobs in
arrival order against the free GPUs of their pool (generation), so carbon-aware plans cannot pile more
GPUs into clean hours than are installed. Rescaling/suspension overhead is counted (``rescale_events``)
but not charged.

Units: hours, GPUs, kW per GPU, gCO2eq/kWh → kgCO2e, kWh, GPU-hours.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Scaling penalty β per workload type (our assumption, no trace gives it): LM training scales best
#: (large dense models, data/tensor parallel), CV next, recommendation is embedding/communication
#: bound, RL is simulation/rollout bound.
DEFAULT_BETA: dict[str, float] = {"lm": 0.10, "cv": 0.20, "rec": 0.30, "rl": 0.40}


#: Planning intensities of the scaling experiment and how tables and figures name them: ``actual`` plans on
#: the very intensities it is scored with (perfect foresight: no real planner has them); ``persistence24`` on the
#: intensity 24 h earlier (a causal day-ahead forecast).
PLAN_SIGNALS: dict[str, str] = {"actual": "actual intensity (perfect foresight)",
                                "persistence24": "persistence24 (intensity 24 h earlier)"}


@dataclass(frozen=True)
class GpuGeneration:
    """One GPU generation: ``speed`` = throughput relative to the reference generation (the one the
    jobs' nominal durations refer to), ``kw`` = board power per GPU (kW), ``count`` = GPUs installed."""

    name: str
    speed: float
    kw: float
    count: int

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.kw <= 0 or self.count < 0:
            raise ValueError(f"GpuGeneration {self.name!r}: speed and kw must be > 0, count ≥ 0")

    @property
    def work_per_kwh(self) -> float:
        return self.speed / self.kw


ASSIGN_POLICIES: tuple[str, ...] = ("blind", "arrival_fastest", "long_to_efficient")


def throughput(scale: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Work per hour at ``scale`` × nominal GPUs, relative to the nominal size: s / (1 − β + β s)."""
    scale, beta = np.asarray(scale, np.float64), np.asarray(beta, np.float64)
    return np.divide(scale, 1.0 - beta + beta * scale, out=np.zeros(np.broadcast_shapes(scale.shape, beta.shape)),
                     where=scale > 0)


@dataclass
class Plan:
    """GPU-hours used per job and window hour (fractional where the job ends inside an hour)."""

    gpu_h: np.ndarray        # [J × W] GPU-hours in hour ``submit + w``
    gpus: np.ndarray         # [J × W] GPUs allocated in that hour (the job may stop inside its last hour)
    done: np.ndarray         # [J] bool, the work is covered within the window
    finish_h: np.ndarray     # [J] hours from submission to completion (end of the last used hour)

    def rescale_events(self) -> np.ndarray:
        """Changes of GPU count per job between consecutive window hours, including pauses/resumes
        (not counting the start and the end)."""
        g = self.gpus
        active = np.cumsum(g > 0, axis=1) > 0
        last = (g > 0)[:, ::-1].cumsum(axis=1)[:, ::-1] > 0
        inner = active[:, 1:] & last[:, 1:] & active[:, :-1]
        return (inner & ~np.isclose(g[:, 1:], g[:, :-1])).sum(axis=1)


def _finish(gpu_h: np.ndarray) -> np.ndarray:
    used = gpu_h > 0
    return np.where(used.any(axis=1), gpu_h.shape[1] - np.argmax(used[:, ::-1], axis=1), 0)


def plan_elastic(ci_plan: np.ndarray, work: np.ndarray, g0: np.ndarray, beta: np.ndarray, kw: np.ndarray,
                 speed: np.ndarray, levels: np.ndarray, cap: np.ndarray | None = None) -> Plan:
    """Greedy marginal work-per-carbon allocation for every job at once.

    ``ci_plan`` [J × W]: the planning carbon intensity (gCO2eq/kWh) over each job's window, NaN outside
    it; ``work`` [J] nominal hours; ``g0`` [J] nominal GPUs; ``beta`` [J]; ``kw`` [J] kW per GPU;
    ``speed`` [J] generation speed; ``levels`` increasing scale factors starting at 0 (e.g. 0, .5, 1, 2);
    ``cap`` [J × W] optional most GPUs the job may hold in each hour (free capacity).
    """
    levels = np.asarray(levels, np.float64)
    if levels[0] != 0 or (np.diff(levels) <= 0).any():
        raise ValueError(f"scaling levels must start at 0 and increase, got {levels.tolist()}")
    J, W = ci_plan.shape
    L = len(levels) - 1
    n = np.rint(levels[None, :] * g0[:, None])                                    # [J × L+1] GPUs per level
    t = speed[:, None] * throughput(n / g0[:, None], beta[:, None])               # [J × L+1] work per hour
    dT, dn = np.diff(t, axis=1), np.diff(n, axis=1)                               # [J × L]
    valid = (dn > 0) & (dT > 0)
    ratio = np.where(valid, dT / np.where(valid, dn, 1.0), 0.0)                   # work per GPU-hour
    ratio = np.minimum.accumulate(np.where(valid, ratio, np.inf), axis=1)         # enforce concavity
    inside = np.isfinite(ci_plan)
    # work per gram: ΔT / (Δn · kW · CI); PUE is a common factor per job and does not change the order
    score = ratio[:, None, :] / (kw[:, None, None] * np.maximum(np.where(inside, ci_plan, 1.0), 1e-6)[:, :, None])
    allowed = inside[:, :, None] & valid[:, None, :]
    if cap is not None:
        allowed &= n[:, None, 1:] <= cap[:, :, None]
    score = np.where(allowed, score, -np.inf).reshape(J, W * L)
    order = np.argsort(-score, axis=1, kind="stable")                             # hour-major, level-minor ties
    gain = np.broadcast_to(np.where(valid, dT, 0.0)[:, None, :], (J, W, L)).reshape(J, W * L)
    gain = np.where(np.isfinite(score), gain, 0.0)
    sorted_gain = np.take_along_axis(gain, order, axis=1)
    cum = np.cumsum(sorted_gain, axis=1)
    before = cum - sorted_gain
    take = np.clip((work[:, None] - before) / np.where(sorted_gain > 0, sorted_gain, 1.0), 0.0, 1.0)
    take = np.where(sorted_gain > 0, take, 0.0)                                   # fraction of each increment
    frac = np.zeros((J, W * L))
    np.put_along_axis(frac, order, take, axis=1)
    frac = frac.reshape(J, W, L)
    gpu_h = (frac * dn[:, None, :]).sum(axis=2)
    gpus = ((frac > 0) * dn[:, None, :]).sum(axis=2)
    done = cum[:, -1] >= work - 1e-9
    return Plan(gpu_h, gpus, done, _finish(gpu_h))


def plan_fixed_asap(W: int, work: np.ndarray, g0: np.ndarray, speed: np.ndarray) -> Plan:
    """``g0`` GPUs from submission until the work (``work / speed`` hours) is done."""
    length = work / speed
    h = np.arange(W)[None, :]
    frac = np.clip(length[:, None] - h, 0.0, 1.0)
    gpu_h = frac * g0[:, None]
    return Plan(gpu_h, (frac > 0) * g0[:, None], length <= W + 1e-9, _finish(gpu_h))


def plan_fixed_shift(ci_plan: np.ndarray, work: np.ndarray, g0: np.ndarray, speed: np.ndarray,
                     cap: np.ndarray | None = None) -> Plan:
    """``g0`` GPUs for ``ceil(work / speed)`` contiguous hours starting at the window hour with the lowest
    summed planning intensity (the last hour only partly used); with ``cap`` [J × W] only through hours
    with at least ``g0`` free GPUs."""
    J, W = ci_plan.shape
    length = work / speed
    span = np.ceil(length - 1e-9).astype(np.int64)
    allowed = np.isfinite(ci_plan) if cap is None else np.isfinite(ci_plan) & (cap >= g0[:, None])
    zero = np.zeros((J, 1))
    csum = np.concatenate([zero, np.cumsum(np.where(allowed, ci_plan, 0.0), axis=1)], axis=1)
    blocked = np.concatenate([zero, np.cumsum(~allowed, axis=1)], axis=1)
    starts = np.arange(W)[None, :]
    ends = np.minimum(starts + span[:, None], W)
    ok = (starts + span[:, None] <= W) & (np.take_along_axis(blocked, ends, axis=1) - blocked[:, :W] == 0)
    cost = np.where(ok, np.take_along_axis(csum, ends, axis=1) - csum[:, :W], np.inf)
    best = np.argmin(cost, axis=1)
    h = np.arange(W)[None, :] - best[:, None]
    frac = np.clip(length[:, None] - h, 0.0, 1.0) * (h >= 0)
    gpu_h = frac * g0[:, None]
    return Plan(gpu_h, (frac > 0) * g0[:, None], ok.any(axis=1), _finish(gpu_h))


def plan_with_capacity(planner: Callable[[int, np.ndarray | None], Plan], order: np.ndarray, pool: np.ndarray,
                       submit: np.ndarray, capacity: np.ndarray, W: int) -> tuple[Plan, np.ndarray]:
    """Plan jobs one at a time in ``order`` against the free GPUs of their ``pool`` (``capacity``
    [pools × hours], e.g. one pool per GPU generation). ``planner(j, cap)`` plans job ``j`` alone with the
    free GPUs ``cap`` [1 × W] of its window (``None`` = unlimited). A job that cannot finish within the
    free capacity is planned without the cap and flagged in the returned ``over_capacity`` [J] mask.
    (The one loop is over jobs — each decision depends on the previous ones; the planning is vectorised.)"""
    J, T = len(order), capacity.shape[1]
    free = capacity.astype(np.float64).copy()
    gpu_h, gpus = np.zeros((J, W)), np.zeros((J, W))
    done, finish, over = np.zeros(J, bool), np.zeros(J, np.int64), np.zeros(J, bool)
    for j in order:
        hours = submit[j] + np.arange(W)
        in_range = hours < T
        cap = np.where(in_range, free[pool[j], np.minimum(hours, T - 1)], 0.0)[None, :]
        plan = planner(j, cap)
        if not plan.done[0]:
            plan, over[j] = planner(j, None), True
        gpu_h[j], gpus[j], done[j], finish[j] = plan.gpu_h[0], plan.gpus[0], plan.done[0], plan.finish_h[0]
        free[pool[j], hours[in_range]] -= plan.gpus[0][in_range]
    return Plan(gpu_h, gpus, done, finish), over


def windows(ci: np.ndarray, home: np.ndarray, submit: np.ndarray, deadline: np.ndarray) -> np.ndarray:
    """[J × W] intensity of each job's home region over [submit, deadline) (NaN after the deadline);
    ``W`` = the longest window. Raises when a window runs past the signal."""
    W = int((deadline - submit).max())
    if deadline.max() > ci.shape[1]:
        raise ValueError(f"scaling: a job's deadline (hour {int(deadline.max())}) is past the carbon signal "
                         f"({ci.shape[1]} h)")
    h = submit[:, None] + np.arange(W)[None, :]
    inside = h < deadline[:, None]
    return np.where(inside, ci[home[:, None], np.minimum(h, ci.shape[1] - 1)], np.nan)


def footprint(plan: Plan, ci_actual: np.ndarray, kw: np.ndarray, pue: float) -> dict[str, np.ndarray]:
    """Per-job GPU-hours, energy (kWh, incl. PUE) and carbon (kgCO2e) of ``plan`` under the actual
    intensities ``ci_actual`` [J × W] (gCO2eq/kWh)."""
    gpu_h = plan.gpu_h.sum(axis=1)
    kwh = plan.gpu_h * kw[:, None] * pue
    return {"gpu_h": gpu_h, "kwh": kwh.sum(axis=1),
            "kg": np.nansum(kwh * np.nan_to_num(ci_actual, nan=0.0), axis=1) / 1000.0}


def assign_generations(gens: list[GpuGeneration], submit: np.ndarray, window_h: np.ndarray, work: np.ndarray,
                       g0: np.ndarray, horizon_h: int, policy: str, max_scale: float = 1.0,
                       beta: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generation index per job and an ``overflow`` flag (no generation had room; the job is put on the
    feasible generation with the most free GPUs anyway).

    A generation is feasible for a job when the job can finish within its window there, at up to
    ``max_scale`` × its nominal GPUs. Room = ``g0`` free GPUs on that generation over every hour of the
    job's nominal-size run from submission. Loops over jobs (one greedy decision each); the capacity
    check per job is vectorised over hours."""
    if policy not in ASSIGN_POLICIES:
        raise ValueError(f"assign_generations: unknown policy {policy!r}; known {list(ASSIGN_POLICIES)}")
    rng = np.random.default_rng(seed)
    speed = np.array([g.speed for g in gens])
    beta = np.zeros(len(work)) if beta is None else beta
    best_rate = speed[None, :] * throughput(np.full((len(work), 1), max_scale), beta[:, None])   # [J × G]
    feasible = work[:, None] / best_rate <= window_h[:, None] + 1e-9
    if policy == "long_to_efficient":
        job_order = np.argsort(-(work * g0), kind="stable")
        pref = np.argsort([-g.work_per_kwh for g in gens], kind="stable")
    else:
        job_order = np.argsort(submit, kind="stable")
        pref = np.argsort([-g.speed for g in gens], kind="stable")
    shuffles = np.argsort(rng.random((len(work), len(gens))), axis=1)                           # for "blind"
    free = np.array([[g.count] * horizon_h for g in gens], dtype=np.float64)                   # [G × T]
    out = np.full(len(work), -1)
    overflow = np.zeros(len(work), bool)
    for j in job_order:
        order = shuffles[j] if policy == "blind" else pref
        cands = [g for g in order if feasible[j, g]] or list(order)
        span = [slice(submit[j], min(horizon_h, submit[j] + int(np.ceil(work[j] / speed[g])))) for g in cands]
        room = [free[g, s].min(initial=np.inf) >= g0[j] for g, s in zip(cands, span)]
        k = room.index(True) if any(room) else int(np.argmax([free[g, s].min(initial=np.inf) for g, s in zip(cands, span)]))
        overflow[j] = not any(room)
        out[j] = cands[k]
        free[cands[k], span[k]] -= g0[j]
    return out, overflow
