"""Conformalised quantile regression (CQR, Romano et al. 2019) per region × horizon bucket.

On a calibration window (preceding the test window) the conformity score of the central interval at
nominal level 1 − α is E = max(q_lo − y, y − q_hi) / s, with s = |median| (scale-normalised, so interval
widths follow the level of the series). The correction Q̂ = the ⌈(1 − α)(n + 1)⌉/n empirical quantile of E;
calibrated intervals are [q_lo − Q̂ s, q_hi + Q̂ s]. The median is unchanged; quantiles are re-sorted.

:func:`calibrate_rolling` is the online variant for a rolling-origin backtest: the corrections applied to the
forecasts issued at τ are fitted on the most recent ``window_days`` of forecasts whose target hour is before τ
(so every actual used was observed by τ), which follows drift between the calibration and test windows.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from carbonshift.forecast.ensemble import horizon_bucket
from carbonshift.forecast.metrics import INTERVALS
from carbonshift.forecast.models.base import sort_quantiles
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, QUANTILE_COLUMNS


class ConformalCalibrator:
    """``fit(calibration_table_with_actual)`` then ``transform(table)``; ``corrections`` is a tidy frame
    (region, bucket, level, q_hat, n)."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS) -> None:
        self.buckets = list(buckets)
        self.corrections: pd.DataFrame | None = None

    @staticmethod
    def _scale(table: pd.DataFrame) -> np.ndarray:
        return np.maximum(np.abs(table["q0.5"].to_numpy(float)), 1e-6)

    def fit(self, table: pd.DataFrame) -> ConformalCalibrator:
        t = table[table["actual"].notna()]
        y, s = t["actual"].to_numpy(float), self._scale(t)
        keys = pd.DataFrame({"region": t["region"].to_numpy(), "bucket": horizon_bucket(t["horizon_h"], self.buckets)})
        rows = []
        for level, (lo, hi) in INTERVALS.items():
            e = np.maximum(t[lo].to_numpy(float) - y, y - t[hi].to_numpy(float)) / s
            for (region, bucket), idx in keys.groupby(["region", "bucket"]).indices.items():
                n = len(idx)
                rank = min(np.ceil((level / 100) * (n + 1)) / n, 1.0)
                rows.append({"region": region, "bucket": int(bucket), "level": level,
                             "q_hat": float(np.quantile(e[idx], rank, method="higher")), "n": n})
        self.corrections = pd.DataFrame(rows)
        return self

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        if self.corrections is None:
            raise RuntimeError("calibration: fit on a calibration window before transform")
        out = table.copy()
        s = self._scale(out)
        keys = pd.DataFrame({"region": out["region"].to_numpy(), "bucket": horizon_bucket(out["horizon_h"], self.buckets)})
        q_hats: dict[int, np.ndarray] = {}
        for level in INTERVALS:
            c = self.corrections[self.corrections["level"] == level]
            q_hat = keys.merge(c, on=["region", "bucket"], how="left")["q_hat"].to_numpy(float)
            if np.isnan(q_hat).any():
                missing = keys[np.isnan(q_hat)].drop_duplicates().head(3).to_dict("records")
                raise ValueError(f"calibration: no correction for {missing}")
            q_hats[level] = q_hat
        return widen(out, q_hats, s)


def calibrate_rolling(history: pd.DataFrame, table: pd.DataFrame, window_days: int,
                      buckets: Sequence[int] = DEFAULT_BUCKETS) -> pd.DataFrame:
    """Calibrate ``table`` issue by issue. For each issue time τ the CQR corrections are fitted on the rows of
    ``history`` ∪ ``table`` (both with ``actual``) whose ``time`` < τ and ``issue_time`` ≥ τ − ``window_days``.
    A (region, bucket) with no such rows yet falls back to the whole ``history``. Same corrections as
    :class:`ConformalCalibrator` fitted on each window (one numpy sort per issue instead of pandas fits)."""
    if window_days < 1:
        raise ValueError(f"calibration window must be ≥ 1 day, got {window_days}")
    pool = pd.concat([history, table], ignore_index=True)
    pool = pool[pool["actual"].notna()]
    static = ConformalCalibrator(buckets).fit(history).corrections
    regions = np.unique(np.concatenate([pool["region"].to_numpy(str), table["region"].to_numpy(str)]))
    n_b = len(buckets) + 1

    def cells(t: pd.DataFrame) -> np.ndarray:
        return np.searchsorted(regions, t["region"].to_numpy(str)) * n_b + horizon_bucket(t["horizon_h"], buckets)

    p_cell, t_cell = cells(pool), cells(table)
    p_issue, p_time = pool["issue_time"].to_numpy("datetime64[ns]"), pool["time"].to_numpy("datetime64[ns]")
    t_issue = table["issue_time"].to_numpy("datetime64[ns]")
    y, scale = pool["actual"].to_numpy(float), ConformalCalibrator._scale(pool)
    scores = {level: np.maximum(pool[lo].to_numpy(float) - y, y - pool[hi].to_numpy(float)) / scale
              for level, (lo, hi) in INTERVALS.items()}
    span = np.timedelta64(window_days, "D")
    q_hat = {level: np.full(len(table), np.nan) for level in INTERVALS}
    for tau in np.unique(t_issue):   # one sort per issue day and level (≈ 180 per test half-year)
        m = (p_time < tau) & (p_issue >= tau - span)
        rows = t_issue == tau
        for level in INTERVALS:
            q_hat[level][rows] = _cell_quantile(scores[level][m], p_cell[m], level, n_b * len(regions))[t_cell[rows]]
    out = table.copy()
    for level in INTERVALS:
        q = q_hat[level]
        gap = np.isnan(q)
        if gap.any():
            c = static[static["level"] == level]
            keys = pd.DataFrame({"region": table["region"].to_numpy()[gap],
                                 "bucket": horizon_bucket(table["horizon_h"].to_numpy()[gap], buckets)})
            q[gap] = keys.merge(c, on=["region", "bucket"], how="left")["q_hat"].to_numpy(float)
            if np.isnan(q).any():
                missing = keys[np.isnan(q[gap])].drop_duplicates().head(3).to_dict("records")
                raise ValueError(f"calibration: no correction for {missing}")
    return widen(out, q_hat, ConformalCalibrator._scale(out))


def widen(out: pd.DataFrame, q_hat: dict[int, np.ndarray], scale: np.ndarray) -> pd.DataFrame:
    """Move each interval's bounds out by its conformal correction × ``scale`` (per row, in the target's unit;
    a negative correction narrows), re-sort the quantiles and clip the mean into the outermost interval; in place,
    returns ``out``."""
    for level, (lo, hi) in INTERVALS.items():
        out[lo] = out[lo].to_numpy(float) - q_hat[level] * scale
        out[hi] = out[hi].to_numpy(float) + q_hat[level] * scale
    q = sort_quantiles(out[list(QUANTILE_COLUMNS)].to_numpy(float))
    out[list(QUANTILE_COLUMNS)] = q
    out["mean"] = np.clip(out["mean"].to_numpy(float), q[:, 0], q[:, -1])
    return out


def _cell_quantile(e: np.ndarray, cell: np.ndarray, level: int, n_cell: int) -> np.ndarray:
    """Per cell, the CQR correction of :meth:`ConformalCalibrator.fit`: the ⌈(level/100)(n + 1)⌉/n
    ("higher") empirical quantile of the scores ``e``; NaN for cells without rows."""
    order = np.lexsort((e, cell))
    e, cell = e[order], cell[order]
    n = np.bincount(cell, minlength=n_cell)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    out = np.full(n_cell, np.nan)
    ok = n > 0
    rank = np.minimum(np.ceil((level / 100) * (n[ok] + 1)) / n[ok], 1.0)
    out[ok] = e[start[ok] + np.ceil((n[ok] - 1) * rank).astype(np.intp)]
    return out
