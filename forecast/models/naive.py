"""Baselines: persistence (last observed hour) and seasonal-naive (same hour of the latest complete day,
24 h, or week, 168 h). Quantiles = point forecast + empirical quantiles of the training residuals per
region and horizon. They are the floor every model must beat."""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import as_issue_index, forecast_frame
from carbonshift.forecast.models.features import direct_design, issue_indices, region_series

_FEATURE = {"persistence": "y_last", "seasonal24": "y_day", "seasonal168": "y_week"}


class NaiveForecaster:
    """``kind`` = ``persistence`` | ``seasonal24`` | ``seasonal168``; residual quantiles are fitted on
    daily issues at ``issue_hour`` UTC before ``until``."""

    def __init__(self, kind: Literal["persistence", "seasonal24", "seasonal168"] = "seasonal24",
                 issue_hour: int = 23, horizon: int = 48) -> None:
        if kind not in _FEATURE:
            raise ValueError(f"unknown naive kind {kind!r}; known: {sorted(_FEATURE)}")
        self.kind, self.issue_hour, self.horizon = kind, issue_hour, horizon
        self.name = kind
        self.target: str | None = None
        self.residual_q: dict[str, np.ndarray] = {}   # region -> [horizon × level]

    def _point(self, series, issue_idx: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, J, names = direct_design(series, issue_idx, horizons)
        return X[:, names.index(_FEATURE[self.kind])].reshape(J.shape), J

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None) -> NaiveForecaster:
        self.target = target
        h = np.arange(1, self.horizon + 1)
        for region, s in region_series(panel, target).items():
            i = issue_indices(s, None, until, self.issue_hour, self.horizon)
            if len(i) < 7:
                raise ValueError(f"{self.name}: {region} has {len(i)} training issue days before {until}; need ≥ 7")
            point, J = self._point(s, i, h)
            resid = s.y[J] - point
            self.residual_q[region] = np.nanquantile(resid, QUANTILE_LEVELS, axis=0).T
        return self

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        if self.target is None:
            raise RuntimeError(f"{self.name}: fit before predict")
        if horizon > self.horizon:
            raise ValueError(f"{self.name}: fitted for horizons ≤ {self.horizon}, asked {horizon}")
        issues = as_issue_index(issue_times)
        h = np.arange(1, horizon + 1)
        frames = []
        for region, s in region_series(history, self.target).items():
            point, _ = self._point(s, s.index_of(issues), h)
            q = point[:, :, None] + self.residual_q[region][None, :horizon, :]
            frames.append(forecast_frame(region, issues, h, point, q))
        return pd.concat(frames, ignore_index=True)
