"""Synthetic job generators (seed §5.1 fitted distributions and Table 1 ranges) with Poisson arrivals.

Two modes:

* ``fitted`` — the seed's fitted marginals: GPUs ~ log-normal(μ=3.2, σ=0.8) rounded and clipped to
  4–256, duration ~ exponential(mean 24 h) clipped to 2–196 h, flexibility ~ U(20 %, 50 %); the type
  (drawn from ``mix``) sets the checkpoint interval and data size from Table 1.
* ``table1`` — every attribute drawn from its type's Table 1 range: GPUs log-uniform, duration,
  checkpoint interval, flexibility and data size uniform.

``flexibility`` (a fraction) overrides the drawn deadline flexibility of every job (the seed's §5.3 D
sensitivity sweep, 10 %–60 %).

Arrivals: a homogeneous Poisson process over ``span_h`` hours, i.e. ``n_jobs`` arrival times uniform on
[0, span_h) (the order statistics of a Poisson process conditioned on its count), floored to the hour.
Home regions are uniform over the data centres.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from carbonshift.scheduler.workloads import TABLE1, TYPES, Jobs, make_jobs

GPU_LOGNORMAL = (3.2, 0.8)      # seed §5.1
GPU_CLIP = (4, 256)
DURATION_MEAN_H = 24.0          # seed §5.1
DURATION_CLIP_H = (2.0, 196.0)
FLEX_RANGE = (0.20, 0.50)


@dataclass
class GeneratorSpec:
    """Workload generator settings (config section ``workload``)."""

    n_jobs: int = 1000
    span_h: int = 720
    mode: str = "fitted"                       # fitted | table1
    mix: dict[str, float] = field(default_factory=lambda: {t: 0.25 for t in TYPES})
    gpu_kw: float = 0.7                        # H100 SXM board power (NVIDIA datasheet: up to 700 W)
    profiling_error: float = 0.20
    max_deadline_h: int | None = None          # clip durations so every deadline fits (scale benchmark)
    flexibility: float | None = None           # one deadline flexibility (fraction) for every job (sweeps)


def _check_mix(mix: Mapping[str, float]) -> np.ndarray:
    unknown = sorted(set(mix) - set(TYPES))
    if unknown:
        raise ValueError(f"workload.mix: unknown type(s) {unknown}; known {list(TYPES)}")
    p = np.array([float(mix.get(t, 0.0)) for t in TYPES])
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"workload.mix: weights must be ≥ 0 and not all zero, got {dict(mix)}")
    return p / p.sum()


def generate(spec: GeneratorSpec, n_regions: int, seed: int) -> Jobs:
    """Draw ``spec.n_jobs`` jobs for ``n_regions`` data centres (reproducible from ``seed``)."""
    if spec.mode not in ("fitted", "table1"):
        raise ValueError(f"workload.mode: expected 'fitted' or 'table1', got {spec.mode!r}")
    rng = np.random.default_rng(seed)
    n = spec.n_jobs
    type_ = rng.choice(len(TYPES), size=n, p=_check_mix(spec.mix))
    specs = [TABLE1[t] for t in TYPES]
    lo = lambda attr: np.array([getattr(s, attr)[0] for s in specs], dtype=float)[type_]  # noqa: E731
    hi = lambda attr: np.array([getattr(s, attr)[1] for s in specs], dtype=float)[type_]  # noqa: E731
    submit = np.sort(np.floor(rng.uniform(0, spec.span_h, n))).astype(np.int64)
    if spec.mode == "fitted":
        gpus = np.clip(np.rint(rng.lognormal(*GPU_LOGNORMAL, n)), *GPU_CLIP)
        duration = np.clip(rng.exponential(DURATION_MEAN_H, n), *DURATION_CLIP_H)
        flex = rng.uniform(*FLEX_RANGE, n)
    else:
        gpus = np.rint(np.exp(rng.uniform(np.log(lo("gpus")), np.log(hi("gpus")))))
        duration = rng.uniform(lo("duration_h"), hi("duration_h"))
        flex = rng.uniform(lo("flex"), hi("flex"))
    ckpt_h = rng.uniform(lo("ckpt_min"), hi("ckpt_min")) / 60.0
    data_gb = rng.uniform(lo("data_gb"), hi("data_gb"))
    if spec.flexibility is not None:
        if spec.flexibility < 0:
            raise ValueError(f"workload.flexibility: must be ≥ 0, got {spec.flexibility}")
        flex = np.full(n, float(spec.flexibility))
    if spec.max_deadline_h is not None:
        # longest duration whose padded estimate (est ≤ 1.2 × true) still ends by the horizon
        room = (spec.max_deadline_h - submit) / ((1 + flex) * (1 + spec.profiling_error)) - 1
        if (room < 1).any():
            raise ValueError("workload.max_deadline_h: too short for jobs submitted near the end of span_h")
        duration = np.minimum(duration, np.floor(room))
    return make_jobs(type_=type_, submit_h=submit, gpus=gpus, duration_h=duration, flex=flex,
                     ckpt_interval_h=ckpt_h, data_gb=data_gb, home=rng.integers(0, n_regions, n), rng=rng,
                     gpu_kw=spec.gpu_kw, profiling_error=spec.profiling_error, n_regions=n_regions)
