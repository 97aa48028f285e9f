"""The one interface every forecaster implements, and helpers shared by all of them.

Timing convention (the information set, enforced by :mod:`forecast.models.features`): a forecast issued
at ``issue_time`` (a UTC hour boundary) may use the target for hours starting strictly before it (the hour
``issue_time − 1 h`` is complete at issue) and *known-future* covariates (``fc_*`` day-ahead forecasts,
calendar) for the target hours. Horizon ``h`` is the hour starting at ``issue_time + h`` hours (h ≥ 1), as
in :data:`forecast.data.schema.FORECAST_COLUMNS`. Issued at 23:00 UTC, horizons 1–24 are the next UTC day
(00:00–23:00), the same hours DACF forecasts day-ahead.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import FORECAST_COLUMNS, QUANTILE_COLUMNS, QUANTILE_LEVELS


@runtime_checkable
class Forecaster(Protocol):
    """A probabilistic multi-horizon forecaster of one panel target.

    ``fit(panel, target, until)`` trains on panel rows with ``time < until`` (all rows when ``None``).
    ``predict(history, issue_times, horizon)`` returns a forecast table (:data:`FORECAST_COLUMNS`) for every
    region of ``history`` and every issue time, horizons ``1 … horizon`` h; it reads the target only at hours
    before each issue time (later target values in ``history`` are ignored) and known-future covariates at
    the target hours."""

    name: str

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None) -> Forecaster: ...

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame: ...


def as_issue_index(issue_times: pd.DatetimeIndex | pd.Timestamp) -> pd.DatetimeIndex:
    """Issue times as a sorted UTC ``DatetimeIndex`` of whole hours; raises on naive or non-hour times."""
    idx = pd.DatetimeIndex([issue_times] if isinstance(issue_times, pd.Timestamp) else issue_times)
    if idx.tz is None:
        raise ValueError("issue times must be tz-aware UTC")
    idx = idx.tz_convert("UTC")
    if (idx != idx.floor("h")).any():
        raise ValueError(f"issue times must be whole hours, got {idx[idx != idx.floor('h')][:3].tolist()}")
    return idx.sort_values()


def sort_quantiles(q: np.ndarray) -> np.ndarray:
    """Make the last axis (quantile levels) non-decreasing (rearrangement; Chernozhukov et al. 2010)."""
    return np.sort(q, axis=-1)


def forecast_frame(region: str, issue: pd.DatetimeIndex, horizons: np.ndarray, mean: np.ndarray,
                   quantiles: np.ndarray) -> pd.DataFrame:
    """Build a forecast table for one region from ``mean`` [issue × horizon] and ``quantiles``
    [issue × horizon × level]; quantiles are sorted, the mean is kept inside [q0.05, q0.95]."""
    n_i, n_h = mean.shape
    if quantiles.shape != (n_i, n_h, len(QUANTILE_LEVELS)):
        raise ValueError(f"quantiles shape {quantiles.shape}, expected {(n_i, n_h, len(QUANTILE_LEVELS))}")
    q = sort_quantiles(quantiles).reshape(-1, len(QUANTILE_LEVELS))
    issue_col = pd.DatetimeIndex(issue).repeat(n_h)
    h = np.tile(np.asarray(horizons, dtype=int), n_i)
    frame = pd.DataFrame({
        "region": region,
        "issue_time": issue_col,
        "time": issue_col + pd.to_timedelta(h, unit="h"),
        "horizon_h": h,
        "mean": np.clip(mean.reshape(-1), q[:, 0], q[:, -1]),
    })
    for j, col in enumerate(QUANTILE_COLUMNS):
        frame[col] = q[:, j]
    return frame[list(FORECAST_COLUMNS)]


def check_forecast_table(table: pd.DataFrame, where: str = "forecast table") -> None:
    """Raise ``ValueError`` unless ``table`` has the schema columns, finite values and sorted quantiles."""
    missing = [c for c in FORECAST_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing columns {missing}")
    q = table[list(QUANTILE_COLUMNS)].to_numpy(dtype=float)
    if not np.isfinite(q).all() or not np.isfinite(table["mean"].to_numpy(dtype=float)).all():
        raise ValueError(f"{where}: non-finite forecast values")
    if (np.diff(q, axis=1) < -1e-9).any():
        raise ValueError(f"{where}: quantiles decrease along the levels")
    if (table["horizon_h"] < 1).any():
        raise ValueError(f"{where}: horizon_h must be ≥ 1")
