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

from forecast.ensemble import horizon_bucket
from forecast.metrics import INTERVALS
from forecast.models.base import sort_quantiles
from forecast.data.schema import QUANTILE_COLUMNS


class ConformalCalibrator:
    """``fit(calibration_table_with_actual)`` then ``transform(table)``; ``corrections`` is a tidy frame
    (region, bucket, level, q_hat, n)."""

    def __init__(self, buckets: Sequence[int] = (6, 12, 24, 48, 96)) -> None:
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
        for level, (lo, hi) in INTERVALS.items():
            c = self.corrections[self.corrections["level"] == level]
            q_hat = keys.merge(c, on=["region", "bucket"], how="left")["q_hat"].to_numpy(float)
            if np.isnan(q_hat).any():
                missing = keys[np.isnan(q_hat)].drop_duplicates().head(3).to_dict("records")
                raise ValueError(f"calibration: no correction for {missing}")
            out[lo] = out[lo].to_numpy(float) - q_hat * s
            out[hi] = out[hi].to_numpy(float) + q_hat * s
        q = sort_quantiles(out[list(QUANTILE_COLUMNS)].to_numpy(float))
        out[list(QUANTILE_COLUMNS)] = q
        out["mean"] = np.clip(out["mean"].to_numpy(float), q[:, 0], q[:, -1])
        return out


def calibrate_rolling(history: pd.DataFrame, table: pd.DataFrame, window_days: int,
                      buckets: Sequence[int] = (6, 12, 24, 48, 96)) -> pd.DataFrame:
    """Calibrate ``table`` issue by issue. For each issue time τ the CQR corrections are fitted on the rows of
    ``history`` ∪ ``table`` (both with ``actual``) whose ``time`` < τ and ``issue_time`` ≥ τ − ``window_days``.
    A (region, bucket) with no such rows yet falls back to the whole ``history``."""
    if window_days < 1:
        raise ValueError(f"calibration window must be ≥ 1 day, got {window_days}")
    pool = pd.concat([history, table], ignore_index=True)
    pool = pool[pool["actual"].notna()]
    static = ConformalCalibrator(buckets).fit(history).corrections
    span = pd.Timedelta(days=window_days)
    out = []
    for issue, part in table.groupby("issue_time", sort=True):  # one fit per issue day (≈ 180 per test half-year)
        recent = pool[(pool["time"] < issue) & (pool["issue_time"] >= issue - span)]
        cal = ConformalCalibrator(buckets).fit(recent) if len(recent) else ConformalCalibrator(buckets)
        fitted = cal.corrections if cal.corrections is not None else static.iloc[:0]
        keys = ["region", "bucket", "level"]
        cal.corrections = pd.concat([fitted, static.merge(fitted[keys], on=keys, how="left", indicator=True)
                                     .query("_merge == 'left_only'").drop(columns="_merge")], ignore_index=True)
        out.append(cal.transform(part))
    return pd.concat(out, ignore_index=True)
