"""Conformalised quantile regression (CQR, Romano et al. 2019) per region × horizon bucket.

On a calibration window (preceding the test window) the conformity score of the central interval at
nominal level 1 − α is E = max(q_lo − y, y − q_hi) / s, with s = |median| (scale-normalised, so interval
widths follow the level of the series). The correction Q̂ = the ⌈(1 − α)(n + 1)⌉/n empirical quantile of E;
calibrated intervals are [q_lo − Q̂ s, q_hi + Q̂ s]. The median is unchanged; quantiles are re-sorted.
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
