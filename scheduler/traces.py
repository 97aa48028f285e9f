"""Jobs from the Alibaba GPU cluster trace (cluster-trace-gpu-v2023, ``openb_pod_list_default.csv``;
Weng et al., USENIX ATC '23). Provenance: ``../shared/data/README.md`` §4.

Assumptions (the trace has no job types, deadlines or data sizes; every one of these is ours):

* A job is one pod that asked for GPUs (``num_gpu ≥ 1``) among the trace's finished tasks
  (:func:`forecast.data.traces.alibaba_finished_tasks`, the one reader and censoring rule: *Pending* pods
  never ran and pods still running at the trace cut have no known runtime — both are dropped, counted and
  logged). A fractional-GPU pod (``gpu_milli < 1000``) counts as one GPU; ``gpu_scale`` multiplies GPU
  counts (default 1: as recorded — the pods are ≤ 8 GPUs, far smaller than the seed's 4–256-GPU training
  jobs).
* True duration = the task's ``runtime_s`` (``deletion_time − scheduled_time``), rounded *up* to whole
  hours (≥ 1 h: the simulator's time step), clipped to ``max_duration_h``.
* Arrival = ``creation_time`` floored to the hour, relative to the window: the ``span_h`` hours ending at
  the last creation (the trace's busy period), unless ``offset_h`` is given.
* Type (sets checkpoint interval and data size from Table 1) drawn from ``mix``; flexibility
  U(20 %, 50 %) as in the seed's fitted distributions (or ``flexibility`` for every job); duration estimate with ±``profiling_error``;
  home region uniform.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from carbonshift.forecast.data.traces import alibaba_finished_tasks
from carbonshift.scheduler.generators import FLEX_RANGE, _check_mix
from carbonshift.scheduler.workloads import TABLE1, TYPES, Jobs, make_jobs


def trace_jobs(n_regions: int, seed: int, *, span_h: int = 720, offset_h: int | None = None,
               max_jobs: int | None = None, gpu_scale: int = 1, max_duration_h: int = 196,
               mix: Mapping[str, float] | None = None, gpu_kw: float = 0.7, profiling_error: float = 0.20,
               flexibility: float | None = None, data_dir: str | Path | None = None) -> Jobs:
    """Jobs from the trace window (see module docstring); ``max_jobs`` keeps the first arrivals."""
    df = alibaba_finished_tasks(data_dir)
    df = df[df["num_gpu"] >= 1]
    create_h = np.floor(df["creation_time"].to_numpy(float) / 3600.0).astype(np.int64)
    start = int(create_h.max()) + 1 - span_h if offset_h is None else int(offset_h)
    keep = (create_h >= start) & (create_h < start + span_h)
    df, create_h = df[keep], create_h[keep]
    order = np.argsort(create_h, kind="stable")
    df, create_h = df.iloc[order], create_h[order]
    if max_jobs is not None:
        df, create_h = df.iloc[:max_jobs], create_h[:max_jobs]
    if len(df) == 0:
        raise ValueError(f"Alibaba trace: no finished GPU pods created in hours {start}–{start + span_h}")
    rng = np.random.default_rng(seed)
    n = len(df)
    p = _check_mix(mix or {t: 0.25 for t in TYPES})
    type_ = rng.choice(len(TYPES), size=n, p=p)
    specs = [TABLE1[t] for t in TYPES]
    rng_of = lambda attr: (np.array([getattr(s, attr)[0] for s in specs])[type_],  # noqa: E731
                           np.array([getattr(s, attr)[1] for s in specs])[type_])
    flex = rng.uniform(*FLEX_RANGE, n) if flexibility is None else np.full(n, float(flexibility))
    duration = np.clip(np.ceil(df["runtime_s"].to_numpy(float) / 3600.0), 1, max_duration_h)
    return make_jobs(type_=type_, submit_h=create_h - start, gpus=df["num_gpu"].to_numpy() * gpu_scale,
                     duration_h=duration, flex=flex,
                     ckpt_interval_h=rng.uniform(*rng_of("ckpt_min")) / 60.0,
                     data_gb=rng.uniform(*rng_of("data_gb")), home=rng.integers(0, n_regions, n), rng=rng,
                     gpu_kw=gpu_kw, profiling_error=profiling_error, n_regions=n_regions)
