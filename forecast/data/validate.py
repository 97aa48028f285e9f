"""Validation of hourly series with errors that name the file, the row/time and the problem.

Checks are vectorised; each failing check raises :class:`DataValidationError` listing the first
offending rows. Nothing is repaired here unless :func:`repair_gaps` is called explicitly, and it
reports every hour it filled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Carbon intensity above this (gCO2eq/kWh) is implausible for a grid average (lignite ≈ 1200).
CI_MAX = 2000.0
#: Tolerance of the pairwise checks (:func:`check_ordered`): the exports' two-decimal rounding.
ORDER_TOLERANCE = 0.01
#: A value unchanged for this many consecutive hours is reported by :func:`flat_runs` (a stuck feed).
FLAT_RUN_H = 24
#: Largest gap (hours) that :func:`repair_gaps` will interpolate.
MAX_REPAIR_GAP_H = 3
_SHOW = 5


class DataValidationError(ValueError):
    """Input data is malformed; the message names the file, the row or time, and the problem."""

    def __init__(self, source: str, problem: str, where: list[str] | None = None):
        self.source, self.problem, self.where = source, problem, list(where or [])
        shown = ", ".join(self.where[:_SHOW])
        more = f" (+{len(self.where) - _SHOW} more)" if len(self.where) > _SHOW else ""
        super().__init__(f"{source}: {problem}" + (f" at {shown}{more}" if shown else ""))


def _rows(frame: pd.DataFrame, mask: np.ndarray, time_col: str | None, label: str = "row") -> list[str]:
    """Human-readable locations of the True entries of ``mask`` (file row numbers count the header as row 1)."""
    idx = np.flatnonzero(mask)
    out = []
    for i in idx[: _SHOW + 1]:
        where = f"{label} {i + 2}"
        if time_col is not None:
            where += f" ({frame[time_col].iloc[i]})"
        out.append(where)
    out += [""] * max(0, len(idx) - len(out))  # keep the count right for the "+N more" suffix
    return out


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            source, f"missing column(s) {missing}; found {list(frame.columns)} — renamed or wrong file type?"
        )


def require_rows(frame: pd.DataFrame, source: str, minimum: int = 1) -> None:
    if len(frame) < minimum:
        raise DataValidationError(source, f"empty or truncated file: {len(frame)} data rows, need ≥ {minimum}")


def parse_utc(values: pd.Series, source: str, column: str, assume_utc: bool = True) -> pd.Series:
    """Parse timestamps to tz-aware UTC. Naive values are taken as UTC when ``assume_utc``;
    explicit offsets other than +00:00 in a column documented as UTC are an error (time-zone mistake)."""
    text = values.astype("string")
    offset = text.str.extract(r"([+-]\d{2}:?\d{2}|Z)$", expand=False)
    bad_offset = offset.notna() & ~offset.isin(["+00:00", "+0000", "Z", "-00:00"])
    if assume_utc and bad_offset.any():
        raise DataValidationError(
            source, f"column '{column}' is documented as UTC but carries a non-zero UTC offset",
            _rows(values.to_frame(column), bad_offset.to_numpy(), column),
        )
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise DataValidationError(source, f"unparseable timestamp in '{column}'", _rows(values.to_frame(column), bad, column))
    return parsed


def check_hourly_index(times: pd.Series, source: str) -> None:
    """Times must be on the hour, strictly increasing by exactly one hour: no duplicates, gaps or disorder."""
    t = times.reset_index(drop=True)
    frame = t.to_frame("time")
    off_hour = (t.dt.minute != 0) | (t.dt.second != 0)
    if off_hour.any():
        raise DataValidationError(source, "timestamp not at the start of an hour (sub-hourly data? resample first)",
                                  _rows(frame, off_hour.to_numpy(), "time"))
    step = t.diff().dt.total_seconds().to_numpy()[1:] / 3600.0
    dup = np.r_[False, step == 0]
    if dup.any():
        raise DataValidationError(source, "duplicate hour", _rows(frame, dup, "time"))
    back = np.r_[False, step < 0]
    if back.any():
        raise DataValidationError(source, "time goes backwards (non-monotonic)", _rows(frame, back, "time"))
    gap = np.r_[False, step > 1]
    if gap.any():
        sizes = step[gap[1:]] - 1
        raise DataValidationError(
            source, f"gap in the hourly series ({int(sizes.sum())} missing hour(s) in {int(gap.sum())} gap(s), "
            f"longest {int(sizes.max())} h; use repair to interpolate gaps ≤ {MAX_REPAIR_GAP_H} h)",
            [f"{frame['time'].iloc[i - 1]} → {frame['time'].iloc[i]} ({int(step[i - 1]) - 1} h missing)"
             for i in np.flatnonzero(gap)],
        )


def check_values(frame: pd.DataFrame, source: str, time_col: str, ci_cols: list[str], pct_cols: list[str],
                 allow_nan: list[str] | None = None) -> None:
    """NaN, negative, implausible CI (> CI_MAX or looks like kg/kWh) and percentages outside 0–100."""
    nan_ok = set(allow_nan or [])
    for col in [*ci_cols, *pct_cols]:
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        non_numeric = np.isnan(v) & frame[col].notna().to_numpy()
        if non_numeric.any():
            raise DataValidationError(source, f"non-numeric value in '{col}'", _rows(frame, non_numeric, time_col))
        if col not in nan_ok and np.isnan(v).any():
            raise DataValidationError(source, f"missing value (NaN) in '{col}'", _rows(frame, np.isnan(v), time_col))
        if (v < 0).any():
            raise DataValidationError(source, f"negative value in '{col}'", _rows(frame, v < 0, time_col))
        if col in ci_cols:
            if np.nanmedian(v) > CI_MAX:
                raise DataValidationError(
                    source, f"'{col}' holds power, not carbon intensity (median {np.nanmedian(v):,.0f} > {CI_MAX:g}; "
                    "looks like MW from a generation column — a known upstream defect); exclude the column "
                    "(config data.exclude_columns) if the run does not need it", _rows(frame, v > CI_MAX, time_col))
            if (v > CI_MAX).any():
                raise DataValidationError(source, f"implausible carbon intensity > {CI_MAX:g} gCO2eq/kWh in '{col}'",
                                          _rows(frame, v > CI_MAX, time_col))
            finite = v[np.isfinite(v)]
            if finite.size and np.nanmedian(finite) < 5 and finite.max() < 2.5:
                raise DataValidationError(
                    source, f"'{col}' looks like kgCO2eq/kWh (median {np.median(finite):.3f}); expected gCO2eq/kWh")
        else:
            if (v > 100).any():
                raise DataValidationError(source, f"percentage outside 0–100 in '{col}'", _rows(frame, v > 100, time_col))
            finite = v[np.isfinite(v)]
            if finite.size and finite.max() <= 1 and (finite != np.round(finite)).any():
                raise DataValidationError(
                    source, f"'{col}' looks like 0–1 fractions, not percentages (max {finite.max():.3f}, every value "
                    "≤ 1 and some fractional); multiply by 100 — expected 0–100 %")


def check_ordered(frame: pd.DataFrame, source: str, time_col: str,
                  pairs: list[tuple[str, str, str]]) -> None:
    """For each ``(low, high, why)``: ``high`` ≥ ``low`` − :data:`ORDER_TOLERANCE` in every row where both are
    present (e.g. life-cycle ≥ direct carbon intensity, low-carbon ≥ renewable share); an error names the rows."""
    for low, high, why in pairs:
        lo = pd.to_numeric(frame[low], errors="coerce").to_numpy(dtype=float)
        hi = pd.to_numeric(frame[high], errors="coerce").to_numpy(dtype=float)
        bad = lo - hi > ORDER_TOLERANCE + 1e-9  # False where either is NaN; 1e-9: float error of the rounding
        if bad.any():
            raise DataValidationError(source, f"'{high}' below '{low}' in {int(bad.sum())} row(s) ({why}) — columns "
                                      "swapped or mislabelled?", _rows(frame, bad, time_col))


def flat_runs(frame: pd.DataFrame, time_col: str, cols: list[str], min_h: int = FLAT_RUN_H) -> list[str]:
    """Warnings (not errors: a stuck feed is suspicious, not impossible) for every run of at least ``min_h``
    consecutive hours in which a column of ``cols`` holds exactly the same value, naming column, value, length
    and the first and last row of the run (file rows, header = row 1)."""
    out = []
    for col in cols:
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        if v.size < min_h:
            continue
        same = np.r_[False, v[1:] == v[:-1]]  # NaN never equals NaN, so gaps end a run
        run_id = np.cumsum(~same)
        lengths = np.bincount(run_id)
        for rid in np.flatnonzero(lengths >= min_h)[:_SHOW]:
            first = int(np.argmax(run_id == rid))
            last = first + int(lengths[rid]) - 1
            out.append(f"warning: '{col}' flat at {v[first]:g} for {int(lengths[rid])} h, rows {first + 2}–{last + 2} "
                       f"({frame[time_col].iloc[first]} → {frame[time_col].iloc[last]}): a stuck or filled-in feed?")
    return out


@dataclass
class RepairReport:
    """What :func:`repair_gaps` did: the hours it inserted and interpolated, per source."""

    filled: dict[str, list[pd.Timestamp]] = field(default_factory=dict)

    @property
    def n_filled(self) -> int:
        return sum(len(v) for v in self.filled.values())

    def lines(self) -> list[str]:
        return [f"{src}: interpolated {len(ts)} hour(s): {', '.join(str(t) for t in ts[:_SHOW])}"
                + (" …" if len(ts) > _SHOW else "") for src, ts in self.filled.items() if ts]


def repair_gaps(frame: pd.DataFrame, source: str, value_cols: list[str], report: RepairReport,
                max_gap_h: int = MAX_REPAIR_GAP_H) -> pd.DataFrame:
    """Drop exact duplicate hours (keeping the first), insert missing hours of gaps ≤ ``max_gap_h`` and
    interpolate ``value_cols`` linearly over them. Longer gaps still raise. Every change is reported."""
    f = frame.drop_duplicates("time", keep="first").sort_values("time").reset_index(drop=True)
    full = pd.date_range(f["time"].iloc[0], f["time"].iloc[-1], freq="h")
    missing = full.difference(pd.DatetimeIndex(f["time"]))
    if len(missing):
        f = f.set_index("time").reindex(full)
        f.index.name = "time"
        run = pd.Series(f[value_cols[0]].isna().to_numpy(), index=full)
        run_id = (~run).cumsum()
        lengths = run.groupby(run_id).transform("sum").where(run, 0)
        if (lengths > max_gap_h).any():
            first = lengths[lengths > max_gap_h].index[0]
            raise DataValidationError(source, f"gap longer than {max_gap_h} h cannot be repaired", [f"at {first}"])
        f[value_cols] = f[value_cols].interpolate(method="linear", limit=max_gap_h)
        f = f.ffill().reset_index()
    report.filled.setdefault(source, []).extend(missing)
    return f
