"""Forecast-quality metrics on a forecast table joined with actuals (column ``actual``).

Point: MAPE (%, mean of |ŷ − y| / |y| over hours with y ≠ 0), MAE (target unit), accuracy = 100 − MAPE
(the seed paper's definition). Probabilistic: PICP of the central 50/80/90 % intervals (fraction of actuals
inside [q_lo, q_hi]), mean interval width (target unit), pinball loss averaged over the 7 levels, and CRPS
approximated from the quantiles as 2 × the mean pinball loss over the levels (exact as the levels densify).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS

#: nominal central-interval coverage -> (lower, upper) quantile column
INTERVALS: dict[int, tuple[str, str]] = {50: ("q0.25", "q0.75"), 80: ("q0.1", "q0.9"), 90: ("q0.05", "q0.95")}


def mape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute percentage error, % (hours with y = 0 or NaN are skipped)."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ok = (y != 0) & np.isfinite(y)
    return float(100.0 * np.mean(np.abs(yhat[ok] - y[ok]) / np.abs(y[ok]))) if ok.any() else float("nan")


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute error (target unit); hours without an actual (NaN) are skipped."""
    return float(np.nanmean(np.abs(np.asarray(yhat, float) - np.asarray(y, float))))


def pinball(y: np.ndarray, q: np.ndarray, levels: Sequence[float] = QUANTILE_LEVELS) -> float:
    """Mean pinball (quantile) loss over hours and levels; ``q`` is [n × levels]."""
    y = np.asarray(y, float)[:, None]
    tau = np.asarray(levels, float)[None, :]
    d = y - np.asarray(q, float)
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d)))


def crps(y: np.ndarray, q: np.ndarray, levels: Sequence[float] = QUANTILE_LEVELS) -> float:
    """CRPS approximated from quantiles: 2 × mean pinball loss over the levels (target unit)."""
    return 2.0 * pinball(y, q, levels)


def picp(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Prediction-interval coverage probability: fraction of ``y`` in ``[lo, hi]``."""
    y = np.asarray(y, float)
    return float(np.mean((y >= lo) & (y <= hi)))


def score(table: pd.DataFrame) -> dict[str, float]:
    """All metrics of one forecast table with an ``actual`` column (rows with NaN actual are dropped)."""
    t = table[table["actual"].notna()]
    y, m = t["actual"].to_numpy(float), t["mean"].to_numpy(float)
    out = {"mape": mape(y, m), "mae": mae(y, m), "n": float(len(t))}
    out["accuracy"] = 100.0 - out["mape"]
    if all(c in t.columns for c in QUANTILE_COLUMNS):
        q = t[list(QUANTILE_COLUMNS)].to_numpy(float)
        out["pinball"] = pinball(y, q)
        out["crps"] = crps(y, q)
        for level, (lo, hi) in INTERVALS.items():
            out[f"picp{level}"] = picp(y, t[lo].to_numpy(float), t[hi].to_numpy(float))
            out[f"width{level}"] = float(np.mean(t[hi].to_numpy(float) - t[lo].to_numpy(float)))
    return out


def score_by(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`score` per group of ``by`` columns, as a tidy frame (one row per group)."""
    rows = []
    for key, group in table.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), **score(group)})
    return pd.DataFrame(rows)
