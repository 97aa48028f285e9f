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
Horizon blocks: horizons are split at ``horizon_blocks`` (upper edges, h; the last block runs to ``horizon``) and
each block gets its own models, fitted on its own horizons only — one model set over 1–168 h underfits the short
horizons (forecast_em, GB, 2023 test: 1–6 h MAPE 16.6 % with a 48 h model, 34.1 % with one 168 h model). With
the default edge 48, horizons 1–48 are fitted exactly as by a 48 h model (same issues, rows and features).
OpenMP threads are capped at ``n_threads`` (default 1): on a shared, oversubscribed machine the default
all-cores OpenMP pool spin-waits and was measured 15× slower.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from carbonshift.forecast.bounds import MAX_BOOSTING_ITER, MAX_CPUS, MAX_SPAN_DAYS, bounded
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import Capabilities, Forecaster, forecast_frame
from carbonshift.forecast.models.features import (RegionSeries, direct_design, issue_indices, region_series,
                                                   relative_to_level, select)
from carbonshift.forecast.models.registry import register_forecaster

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor


#: ``level`` → the baseline column the target is taken relative to (None: the target itself).
_BASELINE = {"absolute": None, "relative": "y_mean168", "profile": "y_prof7"}


@dataclass
class GBMParams:
    """Hyperparameters of :class:`GBMForecaster` (``max_iter`` … ``min_samples_leaf``: the sklearn knobs)."""

    max_iter: int = bounded(300, le=MAX_BOOSTING_ITER)
    learning_rate: float = 0.05
    max_leaf_nodes: int = bounded(31, le=100_000)   # leaves per tree, at most
    min_samples_leaf: int = bounded(40, le=1_000_000)   # training rows per leaf, at least
    train_days: int | None = bounded(None, le=MAX_SPAN_DAYS)   # train on the last N days before each fit only (null: all)
    n_threads: int = bounded(1, le=MAX_CPUS)   # OpenMP threads of each fit and prediction
    level: Literal["absolute", "relative", "profile"] = "absolute"   # target − trailing 7-day mean / same-hour mean
    recency_halflife_days: float | None = None   # training samples weighted 0.5^(age / half-life)
    past_covariates: list[str] = field(default_factory=list)   # observed panel columns (e.g. mix_wind_pct) read before issue
    holidays: bool = False   # national public-holiday flag of the target hour's local date
    horizon_blocks: list[int] = field(default_factory=lambda: [48])   # own models per horizon block (upper edges, h)

    def __post_init__(self) -> None:
        b = self.horizon_blocks
        if not b or b[0] < 1 or any(y <= x for x, y in zip(b, b[1:])):
            raise ValueError(f"gbm: horizon_blocks must be ascending hours ≥ 1, got {b}")
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
    refit_every_days = 91   # quarterly; chosen on 2022 (before every shipped test year): experiments/configs/README.md#refit-schedules

    def __init__(self, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        p = self.params
        self.sk_params = dict(max_iter=p.max_iter, learning_rate=p.learning_rate, max_leaf_nodes=p.max_leaf_nodes,
                              min_samples_leaf=p.min_samples_leaf, random_state=self.seed, early_stopping=False)
        upper = [e for e in p.horizon_blocks if e < horizon] + [horizon]
        self.blocks = list(zip([0, *upper[:-1]], upper))   # horizons (lo, hi] of each model set, h
        self.models: dict[str, list[list[HistGradientBoostingRegressor]]] = {}   # region → block → quantile
        self.features: dict[str, list[list[str]]] = {}                           # region → block → names

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None, **options: Any) -> GBMForecaster:
        with threadpool_limits(self.params.n_threads):
            return super().fit(panel, target, until, **options)

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        with threadpool_limits(self.params.n_threads):
            return super().predict(history, issue_times, horizon)

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        # lazy: scikit-learn takes ~1 s to import; configs naming gbm import this module just to parse (issue 24)
        from sklearn.ensemble import HistGradientBoostingRegressor

        p = self.params
        for region, s in region_series(panel, target, self.oracle_weather, p.past_covariates).items():
            start = None if (until is None or p.train_days is None) else until - pd.Timedelta(days=p.train_days)
            self.models[region], self.features[region] = [], []
            for lo, hi in self.blocks:
                i = issue_indices(s, start, until, self.issue_hour, hi)
                if len(i) < 14:
                    raise ValueError(f"gbm: {region} has {len(i)} training issue days before {until} for horizons "
                                     f"{lo + 1}–{hi} h; need ≥ 14")
                h = np.arange(lo + 1, hi + 1)
                X, J, names = direct_design(s, i, h, self._profile_days, p.holidays)
                keep = [k for k, n in enumerate(names) if not np.isnan(X[:, k]).all()]
                features = [names[k] for k in keep]
                X, y = X[:, keep], s.y[J].ravel()
                level = _BASELINE[p.level]
                if level is not None:
                    X, base = relative_to_level(X, features, level)
                    y = y - base
                w = self._recency_weights(i, len(h))
                self.features[region].append(features)
                self.models[region].append([HistGradientBoostingRegressor(loss="quantile", quantile=q, **self.sk_params)
                                            .fit(X, y, sample_weight=w) for q in QUANTILE_LEVELS])

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
        frames = []
        for region, s in region_series(history, self.fitted_target, self.oracle_weather, self.params.past_covariates).items():
            parts = [self._predict_block(s, s.index_of(issues), np.arange(lo + 1, min(hi, horizon) + 1),
                                         self.models[region][b], self.features[region][b])
                     for b, (lo, hi) in enumerate(self.blocks) if lo < horizon]
            q = np.concatenate(parts, axis=1)                                   # [issue × horizon × quantile]
            frames.append(forecast_frame(region, issues, np.arange(1, horizon + 1),
                                         q[:, :, QUANTILE_LEVELS.index(0.5)], q))
        return pd.concat(frames, ignore_index=True)

    def _predict_block(self, s: RegionSeries, issue_idx: np.ndarray, h: np.ndarray,
                       models: list[HistGradientBoostingRegressor], features: list[str]) -> np.ndarray:
        """Quantile forecasts [issue × len(h) × quantile] (target unit) of one horizon block's models."""
        X, J, names = direct_design(s, issue_idx, h, self._profile_days, self.params.holidays)
        X = select(X, names, features)
        base: np.ndarray | float = 0.0
        level = _BASELINE[self.params.level]
        if level is not None:
            X, level_base = relative_to_level(X, features, level)
            base = level_base[:, None]
        return (np.stack([m.predict(X) for m in models], axis=1) + base).reshape(*J.shape, len(QUANTILE_LEVELS))
