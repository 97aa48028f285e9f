"""Gradient-boosted quantile regression on the direct design (one model per region and quantile level).

Known-future inputs: calendar, the ``fc_*`` day-ahead GFS weather and source-production forecasts and the
carbon intensity / renewable share they imply (``fcx_*``), plus target lags and trailing statistics known
at issue (see :mod:`forecast.models.features`). scikit-learn ``HistGradientBoostingRegressor`` with
``loss="quantile"``; the point forecast (``mean``) is the median model (it minimises absolute error, the
right target for MAPE). ``level="relative"`` fits the target minus the trailing 7-day mean known at issue
(``level="profile"``: minus the trailing 7-day mean of the same hour of day) and the lag features likewise, so the forecast follows a grid whose level leaves the training range
instead of staying inside the leaf values seen in training; ``recency_halflife_days`` weights training
samples by 0.5^(age / half-life) so recent regimes count more. ``past_covariates`` (panel columns observed
with the target, e.g. ``renewable_pct``, %) add their values before the issue as features, ``holidays`` a
national public-holiday flag of the target hour (both off by default; see :func:`direct_design`). CPU-friendly: a fit on two years of daily issues × 48 horizons takes seconds.
OpenMP threads are capped at ``n_threads`` (default 1): on a shared, oversubscribed machine the default
all-cores OpenMP pool spin-waits and was measured 15× slower.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import Capabilities, Forecaster, forecast_frame
from carbonshift.forecast.models.features import direct_design, issue_indices, region_series, relative_to_level, select
from carbonshift.forecast.models.registry import register_forecaster


#: ``level`` → the baseline column the target is taken relative to (None: the target itself).
_BASELINE = {"absolute": None, "relative": "y_mean168", "profile": "y_prof7"}


@dataclass
class GBMParams:
    """Hyperparameters of :class:`GBMForecaster` (``max_iter`` … ``min_samples_leaf``: the sklearn knobs)."""

    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    train_days: int | None = None
    n_threads: int = 1
    level: Literal["absolute", "relative", "profile"] = "absolute"   # target − trailing 7-day mean / same-hour mean
    recency_halflife_days: float | None = None   # training samples weighted 0.5^(age / half-life)
    past_covariates: list[str] = field(default_factory=list)   # observed panel columns (e.g. mix_wind_pct) read before issue
    holidays: bool = False   # national public-holiday flag of the target hour's local date

    def __post_init__(self) -> None:
        if self.level not in _BASELINE:
            raise ValueError(f"gbm: level must be one of {sorted(_BASELINE)}, got {self.level!r}")
        if self.recency_halflife_days is not None and self.recency_halflife_days <= 0:
            raise ValueError(f"gbm: recency_halflife_days must be > 0 days, got {self.recency_halflife_days}")


@register_forecaster("gbm")
class GBMForecaster(Forecaster):
    """Per-region quantile gradient boosting (hyperparameters: :class:`GBMParams`); ``oracle_weather`` lets
    observed ``obs_*`` weather act as known-future input (label results "oracle weather")."""

    Params = GBMParams
    capabilities = Capabilities(quantiles=True, past_covariates=True, future_covariates=True)
    requires = ("scikit-learn",)

    def __init__(self, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        p = self.params
        self.sk_params = dict(max_iter=p.max_iter, learning_rate=p.learning_rate, max_leaf_nodes=p.max_leaf_nodes,
                              min_samples_leaf=p.min_samples_leaf, random_state=self.seed, early_stopping=False)
        self.models: dict[str, list[HistGradientBoostingRegressor]] = {}
        self.features: dict[str, list[str]] = {}

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None, **options: Any) -> GBMForecaster:
        with threadpool_limits(self.params.n_threads):
            return super().fit(panel, target, until, **options)

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        with threadpool_limits(self.params.n_threads):
            return super().predict(history, issue_times, horizon)

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        p = self.params
        h = np.arange(1, self.horizon + 1)
        for region, s in region_series(panel, target, self.oracle_weather, p.past_covariates).items():
            start = None if (until is None or p.train_days is None) else until - pd.Timedelta(days=p.train_days)
            i = issue_indices(s, start, until, self.issue_hour, self.horizon)
            if len(i) < 14:
                raise ValueError(f"gbm: {region} has {len(i)} training issue days before {until}; need ≥ 14")
            X, J, names = direct_design(s, i, h, self._profile_days, p.holidays)
            keep = [k for k, n in enumerate(names) if not np.isnan(X[:, k]).all()]
            self.features[region] = [names[k] for k in keep]
            X, y = X[:, keep], s.y[J].ravel()
            if _BASELINE[self.params.level] is not None:
                X, base = relative_to_level(X, self.features[region], _BASELINE[self.params.level])
                y = y - base
            w = self._recency_weights(i, len(h))
            self.models[region] = [HistGradientBoostingRegressor(loss="quantile", quantile=q, **self.sk_params)
                                   .fit(X, y, sample_weight=w) for q in QUANTILE_LEVELS]

    @property
    def _profile_days(self) -> int:
        return 7 if self.params.level == "profile" else 0

    def _recency_weights(self, issue_idx: np.ndarray, n_h: int) -> np.ndarray | None:
        """Per-row sample weights 0.5^(age / half-life), age in days before the latest training issue."""
        halflife = self.params.recency_halflife_days
        if halflife is None:
            return None
        age_days = (issue_idx.max() - issue_idx) / 24.0
        return np.repeat(0.5 ** (age_days / halflife), n_h)

    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        h = np.arange(1, horizon + 1)
        frames = []
        for region, s in region_series(history, self.target, self.oracle_weather, self.params.past_covariates).items():
            X, J, names = direct_design(s, s.index_of(issues), h, self._profile_days, self.params.holidays)
            X = select(X, names, self.features[region])
            base = 0.0
            if _BASELINE[self.params.level] is not None:
                X, base = relative_to_level(X, self.features[region], _BASELINE[self.params.level])
                base = base[:, None]
            q = (np.stack([m.predict(X) for m in self.models[region]], axis=1) + base).reshape(
                *J.shape, len(QUANTILE_LEVELS))
            frames.append(forecast_frame(region, issues, h, q[:, :, QUANTILE_LEVELS.index(0.5)], q))
        return pd.concat(frames, ignore_index=True)
