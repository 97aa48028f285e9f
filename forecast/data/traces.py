"""Readers for the non-hourly traces: the Alibaba GPU task trace (relative seconds) and the
Let's-Wait-Awhile FR/GB generation-mix and CI files (30-min / 15-min steps, UTC)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.validate import DataValidationError, _rows, parse_utc, require_columns, require_rows

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
