"""Baselines: persistence (last observed hour) and seasonal-naive (same hour of the latest complete day,
24 h, or week, 168 h). Quantiles = point forecast + empirical quantiles of the training residuals per
region and horizon. They are the floor every model must beat."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import Forecaster, forecast_frame
from carbonshift.forecast.models.features import direct_design, issue_indices, region_series
from carbonshift.forecast.models.registry import register_forecaster

_FEATURE = {"persistence": "y_last", "seasonal24": "y_day", "seasonal168": "y_week"}
NaiveKind = Literal["persistence", "seasonal24", "seasonal168"]


@dataclass
class NaiveParams:
    """The baseline kinds to run, one member each (a member has no other setting)."""

    kinds: list[NaiveKind] = field(default_factory=lambda: ["persistence", "seasonal24", "seasonal168"])

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in _FEATURE]
        if unknown or not self.kinds:
            raise ValueError(f"unknown naive kind {unknown[0] if unknown else None!r}; known: {sorted(_FEATURE)}")


@register_forecaster("naive")
class NaiveForecaster(Forecaster):
    """``kind`` = ``persistence`` | ``seasonal24`` | ``seasonal168`` (the member's name); residual quantiles are
    fitted on daily issues at ``issue_hour`` UTC before ``until``. The config section ``models.naive`` lists the
    kinds to run (:meth:`members`)."""

    Params = NaiveParams
    baseline = True

    def __init__(self, kind: NaiveKind | None = None, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        if kind is not None:
            kw["kinds"] = [kind]
        elif "params" not in kw and "kinds" not in kw:
            kw["kinds"] = ["seasonal24"]
        super().__init__(issue_hour, horizon, **kw)
        if len(self.params.kinds) != 1:
            raise ValueError(f"naive: a member runs one kind, got {self.params.kinds} (see NaiveForecaster.members)")
        self.kind = self.name = self.params.kinds[0]
        self.residual_q: dict[str, np.ndarray] = {}   # region -> [horizon × level]

    @classmethod
    def members(cls, params: NaiveParams) -> dict[str, NaiveParams]:
        """One member per configured kind, named by it."""
        return {k: NaiveParams([k]) for k in params.kinds}

    def _point(self, series, issue_idx: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, J, names = direct_design(series, issue_idx, horizons)
        return X[:, names.index(_FEATURE[self.kind])].reshape(J.shape), J

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        h = np.arange(1, self.horizon + 1)
        for region, s in region_series(panel, target).items():
            i = issue_indices(s, None, until, self.issue_hour, self.horizon)
            if len(i) < 7:
                raise ValueError(f"{self.name}: {region} has {len(i)} training issue days before {until}; need ≥ 7")
            point, J = self._point(s, i, h)
            resid = s.y[J] - point
            self.residual_q[region] = np.nanquantile(resid, QUANTILE_LEVELS, axis=0).T

    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        h = np.arange(1, horizon + 1)
        frames = []
        for region, s in region_series(history, self.fitted_target).items():
            point, _ = self._point(s, s.index_of(issues), h)
            q = point[:, :, None] + self.residual_q[region][None, :horizon, :]
            frames.append(forecast_frame(region, issues, h, point, q))
        return pd.concat(frames, ignore_index=True)
