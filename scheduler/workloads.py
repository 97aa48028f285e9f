"""AI training jobs as a struct of numpy arrays (one row per job) and the seed's Table 1 workload types.

Time inside the scheduler is integer hours since the experiment start (hour ``t`` covers [t, t+1)).
Durations are whole wall-clock hours *including* the periodic checkpoint writes (that is what profiling
measures); the checkpoint overhead is charged on top only when a job is suspended/resumed or recovers
from a failure (one restore per event).

Units: ``gpu_kw`` kW per GPU (board power), ``data_gb`` GB to move when a job runs away from its home
region, ``ckpt_interval_h`` / ``ckpt_overhead_h`` hours.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Workload types of the seed's Table 1 (index = ``Jobs.type`` code).
TYPES: tuple[str, ...] = ("lm", "cv", "rl", "rec")
TYPE_NAMES: dict[str, str] = {"lm": "language model", "cv": "computer vision", "rl": "reinforcement learning",
                              "rec": "recommendation"}


@dataclass(frozen=True)
class TypeSpec:
    """Table 1 row: GPU count, duration (h), checkpoint interval (min) and deadline flexibility (fraction)
    ranges, plus the data set size range (GB) — the last is our assumption (the seed gives none):
    web-scale text corpora for LM, image sets for CV, small replay buffers for RL, click logs for REC."""

    gpus: tuple[int, int]
    duration_h: tuple[float, float]
    ckpt_min: tuple[float, float]
    flex: tuple[float, float]
    data_gb: tuple[float, float]


TABLE1: dict[str, TypeSpec] = {
    "lm": TypeSpec((32, 128), (48, 168), (30, 60), (0.20, 0.40), (500, 2000)),
    "cv": TypeSpec((8, 64), (12, 72), (15, 30), (0.30, 0.50), (100, 1000)),
    "rl": TypeSpec((16, 256), (72, 240), (60, 120), (0.40, 0.60), (1, 50)),
    "rec": TypeSpec((8, 32), (6, 48), (20, 40), (0.25, 0.45), (200, 1500)),
}
#: Fields that count whole things (hours, GPUs, indices): a fractional value is an error, never truncated.
WHOLE_FIELDS: tuple[str, ...] = ("id", "type", "submit_h", "gpus", "duration_h", "est_duration_h", "deadline_h", "home")
#: Checkpoint write/restore overhead, minutes (seed §3.3: "each checkpoint incurring 2-5 minutes").
CKPT_OVERHEAD_MIN: tuple[float, float] = (2.0, 5.0)
#: Profiling error of duration estimates (seed §3.3: "typical accuracy within 20% margins").
PROFILING_ERROR: float = 0.20


@dataclass
class Jobs:
    """Struct of arrays; every field has one entry per job, index ``i`` is the job's row."""

    id: np.ndarray               # int64
    type: np.ndarray             # int8, index into TYPES
    submit_h: np.ndarray         # int64, hour the job arrives
    gpus: np.ndarray             # int64
    duration_h: np.ndarray       # int64, true wall-clock hours (unknown to policies)
    est_duration_h: np.ndarray   # int64, profiled estimate, what policies see
    flex: np.ndarray             # float64, deadline flexibility as a fraction (0.3 = 30 %)
    deadline_h: np.ndarray       # int64, submit + ceil(est × (1 + flex))
    ckpt_interval_h: np.ndarray  # float64
    ckpt_overhead_h: np.ndarray  # float64
    gpu_kw: np.ndarray           # float64, kW per GPU
    data_gb: np.ndarray          # float64
    home: np.ndarray             # int64, region index the data lives in

    def __post_init__(self) -> None:
        n = len(self.id)
        for f in fields(self):
            arr = getattr(self, f.name)
            if len(arr) != n:
                raise ValueError(f"Jobs.{f.name}: length {len(arr)} != {n} (id)")
        self.validate()

    def validate(self, n_regions: int | None = None) -> None:
        """Input checks, vectorised: raise a ValueError naming the field and the first offending jobs
        (id and row) for a non-finite value, a fractional value in a :data:`WHOLE_FIELDS` field (hours, GPUs,
        indices), ``submit_h`` < 0, ``duration_h``/``est_duration_h`` < 1 h, ``gpus`` < 1, ``gpu_kw`` ≤ 0 kW,
        ``data_gb`` < 0 GB, ``ckpt_interval_h`` ≤ 0 h, ``ckpt_overhead_h`` < 0 h, ``flex`` < 0, ``type``
        outside ``TYPES``, ``home`` < 0 or (with ``n_regions``) ≥ ``n_regions``, or a deadline before the
        submit hour or not equal to ``submit_h + ceil(est_duration_h × (1 + flex))``."""
        for name in WHOLE_FIELDS:
            arr = np.asarray(getattr(self, name))
            if arr.dtype.kind == "f":
                bad = np.isfinite(arr) & (arr != np.floor(arr))
                if bad.any():
                    raise ValueError(f"Jobs.{name}: must be a whole number (never truncated); "
                                     f"{self._offenders(bad, name)}")
            elif arr.dtype.kind not in "iub":
                raise ValueError(f"Jobs.{name}: expected a numeric array, got dtype {arr.dtype}")
        if n_regions is not None:
            bad = ~(np.asarray(self.home) < n_regions)
            if bad.any():
                raise ValueError(f"Jobs.home: region index must be < {n_regions} (the number of regions); "
                                 f"{self._offenders(bad, 'home')}")
        checks = (("submit_h", self.submit_h >= 0, "must be ≥ 0 h"),
                  ("duration_h", self.duration_h >= 1, "must be ≥ 1 h"),
                  ("est_duration_h", self.est_duration_h >= 1, "must be ≥ 1 h"),
                  ("gpus", self.gpus >= 1, "every job needs ≥ 1 GPU"),
                  ("gpu_kw", self.gpu_kw > 0, "power per GPU must be > 0 kW"),
                  ("data_gb", self.data_gb >= 0, "data size must be ≥ 0 GB"),
                  ("ckpt_interval_h", self.ckpt_interval_h > 0, "checkpoint interval must be > 0 h"),
                  ("ckpt_overhead_h", self.ckpt_overhead_h >= 0, "checkpoint overhead must be ≥ 0 h"),
                  ("flex", self.flex >= 0, "flexibility must be ≥ 0"),
                  ("type", (self.type >= 0) & (self.type < len(TYPES)), f"must index TYPES {TYPES}"),
                  ("home", self.home >= 0, "region index must be ≥ 0"),
                  ("deadline_h", self.deadline_h >= self.submit_h, "deadline must be ≥ submit_h"))
        for name, ok, rule in checks:
            bad = ~(ok & np.isfinite(getattr(self, name)))
            if bad.any():
                raise ValueError(f"Jobs.{name}: {rule} and finite; {self._offenders(bad, name)}")
        expected = deadlines(self.submit_h, self.est_duration_h, self.flex)
        bad = self.deadline_h != expected
        if bad.any():
            raise ValueError("Jobs.deadline_h: must equal submit_h + ceil(est_duration_h × (1 + flex)); "
                             f"{self._offenders(bad, 'deadline_h')}")

    def _offenders(self, bad: np.ndarray, name: str, show: int = 5) -> str:
        """'N job(s) fail, e.g. id 7 (row 3): -1.0' for the first ``show`` rows flagged in ``bad``."""
        rows = np.flatnonzero(bad)
        vals = getattr(self, name)
        listed = ", ".join(f"id {self.id[r]} (row {r}): {vals[r]}" for r in rows[:show])
        return f"{len(rows)} job(s) fail, e.g. {listed}"

    def __len__(self) -> int:
        return len(self.id)

    def take(self, idx: np.ndarray) -> Jobs:
        """Subset (rows ``idx``), keeping ids."""
        return Jobs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @property
    def power_kw(self) -> np.ndarray:
        """IT power of each job, kW (GPUs × kW per GPU; PUE is applied per data centre)."""
        return self.gpus * self.gpu_kw

    def frame(self):
        """Jobs as a DataFrame (for reports), ``type`` as its name."""
        import pandas as pd

        df = pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})
        df["type"] = np.asarray(TYPES)[self.type]
        return df


def deadlines(submit_h: np.ndarray, est_duration_h: np.ndarray, flex: np.ndarray) -> np.ndarray:
    """Deadline hour = submit + ceil(estimated duration × (1 + flexibility)) (seed §3.3/§5.1)."""
    return (submit_h + np.ceil(est_duration_h * (1.0 + flex) - 1e-9)).astype(np.int64)


def estimate_durations(duration_h: np.ndarray, rng: np.random.Generator,
                       error: float = PROFILING_ERROR) -> np.ndarray:
    """Profiled estimate = true duration × (1 + U(−error, +error)), rounded to whole hours, ≥ 1."""
    est = np.rint(duration_h * (1.0 + rng.uniform(-error, error, len(duration_h))))
    return np.maximum(est, 1).astype(np.int64)


def make_jobs(*, type_: np.ndarray, submit_h: np.ndarray, gpus: np.ndarray, duration_h: np.ndarray,
              flex: np.ndarray, ckpt_interval_h: np.ndarray, data_gb: np.ndarray, home: np.ndarray,
              rng: np.random.Generator, gpu_kw: float, profiling_error: float = PROFILING_ERROR,
              est_duration_h: np.ndarray | None = None, n_regions: int | None = None) -> Jobs:
    """Assemble a :class:`Jobs` table: draws the profiled estimate (unless given) and the checkpoint
    overhead (U(2, 5) min), computes deadlines; ids are 0..n−1. ``duration_h`` is rounded to whole hours;
    ``type_``, ``submit_h``, ``gpus``, ``home`` and a given ``est_duration_h`` must be whole numbers (a
    fraction is an error, never truncated); with ``n_regions`` every ``home`` must be < ``n_regions``."""
    n = len(submit_h)
    whole = {"type_": type_, "submit_h": submit_h, "gpus": gpus, "home": home, "est_duration_h": est_duration_h}
    for name, arr in (("submit_h", submit_h), ("duration_h", duration_h), ("gpus", gpus), ("home", home)):
        bad = np.flatnonzero(~np.isfinite(np.asarray(arr, dtype=np.float64)))
        if len(bad):
            raise ValueError(f"make_jobs.{name}: {len(bad)} job(s) not finite, e.g. rows {bad[:5].tolist()}")
    for name, given in whole.items():
        if given is None:
            continue
        values = np.asarray(given, dtype=np.float64)
        bad = np.flatnonzero(values != np.floor(values))
        if len(bad):
            raise ValueError(f"make_jobs.{name}: must be whole numbers (never truncated); {len(bad)} job(s) fail, "
                             f"e.g. rows {bad[:5].tolist()}: {values[bad[:5]].tolist()}")
    bad = np.flatnonzero(np.asarray(duration_h, dtype=np.float64) <= 0)
    if len(bad):
        raise ValueError(f"make_jobs.duration_h: must be > 0 h (rounded to whole hours, ≥ 1); "
                         f"{len(bad)} job(s) fail, e.g. rows {bad[:5].tolist()}")
    duration_h = np.maximum(np.rint(duration_h), 1).astype(np.int64)
    est = estimate_durations(duration_h, rng, profiling_error) if est_duration_h is None else est_duration_h
    submit_h = np.asarray(submit_h, dtype=np.int64)
    flex = np.asarray(flex, dtype=np.float64)
    jobs = Jobs(
        id=np.arange(n, dtype=np.int64), type=np.asarray(type_, dtype=np.int8), submit_h=submit_h,
        gpus=np.asarray(gpus, dtype=np.int64), duration_h=duration_h, est_duration_h=np.asarray(est, np.int64),
        flex=flex, deadline_h=deadlines(submit_h, est, flex),
        ckpt_interval_h=np.asarray(ckpt_interval_h, dtype=np.float64),
        ckpt_overhead_h=rng.uniform(*CKPT_OVERHEAD_MIN, n) / 60.0,
        gpu_kw=np.full(n, gpu_kw, dtype=np.float64), data_gb=np.asarray(data_gb, dtype=np.float64),
        home=np.asarray(home, dtype=np.int64))
    if n_regions is not None:
        jobs.validate(n_regions)
    return jobs
