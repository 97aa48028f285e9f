"""Readers for the non-hourly traces: the Alibaba GPU task trace (relative seconds) and the
Let's-Wait-Awhile FR/GB generation-mix and CI files (30-min / 15-min steps, UTC).

The Alibaba trace has exactly one reader, :func:`read_alibaba_pods` (validation), and one selection of
tasks with a known runtime, :func:`alibaba_finished_tasks`, used by every consumer (the scheduler's trace
workload, the duration estimator and its experiment). **Censoring rule** (the only one): a task has a
runtime when it was scheduled (``scheduled_time`` set; *Pending* tasks never ran) and was deleted before
the trace was cut (``deletion_time < ALIBABA_TRACE_END_S``). Tasks still running at the cut (34 in the
shipped file, ``deletion_time == ALIBABA_TRACE_END_S``) are right-censored — their runtime is only a lower
bound — and are dropped everywhere, counted and logged; they are never used as if finished.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.registry import resolve
from carbonshift.forecast.data.validate import DataValidationError, _rows, parse_utc, require_columns, require_rows

log = logging.getLogger(__name__)

#: The pod list inside the data bundle.
ALIBABA_PODS_FILE = "alibaba_gpu_v2023/openb_pod_list_default.csv.gz"
#: The trace cut, s since trace start: pods still running then have ``deletion_time`` equal to this.
ALIBABA_TRACE_END_S = 12_902_960

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
               "creation_time", "deletion_time", "scheduled_time")


def _csv(path: str | Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.EmptyDataError, EOFError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataValidationError(str(path), f"cannot read as CSV ({type(exc).__name__}: {exc})") from exc


def read_alibaba_pods(path: str | Path) -> pd.DataFrame:
    """Alibaba cluster-trace-gpu-v2023 pod list. Times are seconds since trace start; ``scheduled_time``
    is NaN for never-scheduled pods. Checks: columns, integer GPU counts 0–8, GPU share 0–1000 milli,
    non-negative times, creation ≤ scheduled ≤ deletion, unique names."""
    source = str(path)
    frame = _csv(path, dtype={"gpu_spec": str})
    require_columns(frame, POD_COLUMNS, source)
    require_rows(frame, source)
    dup = frame["name"].duplicated().to_numpy()
    if dup.any():
        raise DataValidationError(source, "duplicate task name", _rows(frame, dup, "name"))
    for col, lo, hi in (("num_gpu", 0, 8), ("gpu_milli", 0, 1000), ("cpu_milli", 0, None), ("memory_mib", 0, None)):
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (v < lo) | ((v > hi) if hi is not None else False)
        if bad.any():
            raise DataValidationError(source, f"missing or out-of-range '{col}' (allowed {lo}..{hi or '∞'})",
                                      _rows(frame, bad, "name"))
    times = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
             for c in ("creation_time", "scheduled_time", "deletion_time")}
    for col in ("creation_time", "deletion_time"):
        bad = ~np.isfinite(times[col]) | (times[col] < 0)
        if bad.any():
            raise DataValidationError(source, f"missing or negative '{col}'", _rows(frame, bad, "name"))
    sched = times["scheduled_time"]
    order = np.isfinite(sched) & ((sched < times["creation_time"]) | (sched > times["deletion_time"]))
    order |= times["deletion_time"] < times["creation_time"]
    if order.any():
        raise DataValidationError(source, "times out of order (need creation ≤ scheduled ≤ deletion)",
                                  _rows(frame, order, "name"))
    return frame


def alibaba_finished_tasks(data_dir: str | Path | None = None, path: str | Path | None = None) -> pd.DataFrame:
    """Validated Alibaba pods that ran and finished before the trace cut (the module's censoring rule),
    sorted by ``creation_time`` (stable), with ``runtime_s`` = ``deletion_time − scheduled_time`` (s, ≥ 0).

    ``path`` overrides the bundle file (``ALIBABA_PODS_FILE`` under ``data_dir``). The numbers of
    never-scheduled and censored pods dropped are logged and kept in ``frame.attrs`` (``n_pending``,
    ``n_censored``)."""
    source = Path(path) if path is not None else resolve(ALIBABA_PODS_FILE, data_dir)
    pods = read_alibaba_pods(source)
    pending = pods["scheduled_time"].isna().to_numpy()
    censored = ~pending & (pods["deletion_time"].to_numpy(dtype=float) >= ALIBABA_TRACE_END_S)
    log.info("%s: dropped %d never-scheduled and %d censored (running at the trace cut) of %d pods",
             source, int(pending.sum()), int(censored.sum()), len(pods))
    done = pods[~pending & ~censored].sort_values("creation_time", kind="stable").reset_index(drop=True)
    done["runtime_s"] = (done["deletion_time"] - done["scheduled_time"]).astype(np.float64)
    done.attrs.update(n_pending=int(pending.sum()), n_censored=int(censored.sum()))
    return done


def read_lwa(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Let's-Wait-Awhile CSV (``*_ci.csv`` or ``*_production.csv``): first column is the UTC timestamp,
    the rest MW or gCO2eq/kWh. Returns the frame (``time`` + values) and the number of empty cells, which
    the upstream GB production file has (16) and which are reported, not hidden."""
    source = str(path)
    frame = _csv(path)
    require_rows(frame, source)
    tcol = frame.columns[0]
    frame = frame.rename(columns={tcol: "time"})
    frame["time"] = parse_utc(frame["time"], source, tcol if not tcol.startswith("Unnamed") else "first column")
    step = frame["time"].diff().dt.total_seconds().to_numpy()[1:]
    bad = np.r_[False, step <= 0]
    if bad.any():
        raise DataValidationError(source, "duplicate or non-increasing timestamp", _rows(frame, bad, "time"))
    values = frame.drop(columns="time").apply(pd.to_numeric, errors="coerce")
    if "Carbon Intensity" in values.columns:
        ci = values["Carbon Intensity"].to_numpy()
        bad = ~np.isfinite(ci) | (ci < 0) | (ci > 2000)
        if bad.any():
            raise DataValidationError(source, "missing, negative or implausible carbon intensity", _rows(frame, bad, "time"))
    return frame, int(values.isna().to_numpy().sum())
