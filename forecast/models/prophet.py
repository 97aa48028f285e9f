"""Prophet (daily + weekly + yearly seasonality, national holidays, known-future covariates as extra
regressors) with a fitted bias correction: at issue, the mean Prophet error over the last 24 h (known then)
is carried forward with a per-horizon coefficient β_h fitted by least squares on training issues.
Quantiles = point + empirical quantiles of the training residuals per region and horizon.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import as_issue_index, forecast_frame
from carbonshift.forecast.models.features import RegionSeries, issue_indices, region_series

#: Prophet/holidays country code of each region (DACF regions and Electricity Maps zones).
HOLIDAY_COUNTRY = {"CISO": "US", "ERCO": "US", "PJM": "US", "SE": "SE", "DE": "DE", "US-CAL-CISO": "US",
                   "US-TEX-ERCO": "US", "US-MIDA-PJM": "US", "US-NY-NYIS": "US", "GB": "UK", "JP-TK": "JP",
                   "SG": "SG", "AU-NSW": "AU", "IN-WE": "IN"}

for _name in ("prophet", "cmdstanpy"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class ProphetForecaster:
    """One Prophet model per region, fitted on the last ``train_days`` days before ``until``."""

    def __init__(self, issue_hour: int = 23, horizon: int = 48, yearly: bool = True, holidays: bool = True,
                 regressors: bool = True, changepoint_prior_scale: float = 0.05, train_days: int | None = 365,
                 oracle_weather: bool = False) -> None:
        self.name = "prophet"
        self.issue_hour, self.horizon = issue_hour, horizon
        self.yearly, self.holidays, self.regressors = yearly, holidays, regressors
        self.cps, self.train_days, self.oracle_weather = changepoint_prior_scale, train_days, oracle_weather
        self.target: str | None = None
        self.models: dict[str, object] = {}
        self.regs: dict[str, list[str]] = {}
        self.fill: dict[str, np.ndarray] = {}
        self.beta: dict[str, np.ndarray] = {}
        self.residual_q: dict[str, np.ndarray] = {}

    def _frame(self, s: RegionSeries, rows: np.ndarray) -> pd.DataFrame:
        df = pd.DataFrame({"ds": s.times[rows].tz_localize(None)})
        for k, name in enumerate(s.known_names):
            if name in self.regs[s.region]:
                col = s.known[rows, k]
                df[name] = np.where(np.isnan(col), self.fill[s.region][self.regs[s.region].index(name)], col)
        return df

    def _in_sample(self, s: RegionSeries) -> np.ndarray:
        """Prophet prediction for every hour of the series (vectorised, no sampling)."""
        return self.models[s.region].predict(self._frame(s, np.arange(len(s.y))))["yhat"].to_numpy()

    def _point(self, s: RegionSeries, yhat: np.ndarray, i: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        err = np.nan_to_num(s.y - yhat)
        c = np.concatenate([[0.0], np.cumsum(err)])
        bias = (c[i] - c[i - 24]) / 24.0          # mean error over hours [i − 24, i), known at issue
        J = i[:, None] + h[None, :]
        return yhat[J] + self.beta[s.region][None, : len(h)] * bias[:, None], J

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None) -> ProphetForecaster:
        from prophet import Prophet

        self.target = target
        h = np.arange(1, self.horizon + 1)
        for region, s in region_series(panel, target, self.oracle_weather).items():
            end = len(s.y) if until is None else int(np.searchsorted(s.times, until))
            start = 0 if self.train_days is None else max(0, end - 24 * self.train_days)
            rows = np.arange(start, end)
            rows = rows[~np.isnan(s.y[rows])]
            cols = [n for k, n in enumerate(s.known_names)
                    if self.regressors and not np.isnan(s.known[rows, k]).any() and np.nanstd(s.known[rows, k]) > 0]
            self.regs[region] = cols
            self.fill[region] = np.array([np.nanmean(s.known[rows, s.known_names.index(n)]) for n in cols])
            m = Prophet(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=self.yearly,
                        changepoint_prior_scale=self.cps, uncertainty_samples=0)
            country = HOLIDAY_COUNTRY.get(region)
            if self.holidays and country:
                m.add_country_holidays(country_name=country)
            for c in cols:
                m.add_regressor(c)
            df = self._frame(s, rows)
            df["y"] = s.y[rows]
            m.fit(df)
            self.models[region] = m
            yhat = self._in_sample(s)
            i = issue_indices(s, s.times[start], until, self.issue_hour, self.horizon, min_history=max(336, start + 24))
            if len(i) < 14:
                raise ValueError(f"prophet: {region} has {len(i)} training issue days before {until}; need ≥ 14")
            err = np.nan_to_num(s.y - yhat)
            c = np.concatenate([[0.0], np.cumsum(err)])
            bias = (c[i] - c[i - 24]) / 24.0
            J = i[:, None] + h[None, :]
            resid = s.y[J] - yhat[J]
            self.beta[region] = (bias @ resid) / max(float(bias @ bias), 1e-9)
            point, _ = self._point(s, yhat, i, h)
            self.residual_q[region] = np.quantile(s.y[J] - point, QUANTILE_LEVELS, axis=0).T
        return self

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        if self.target is None:
            raise RuntimeError("prophet: fit before predict")
        if horizon > self.horizon:
            raise ValueError(f"prophet: fitted for horizons ≤ {self.horizon}, asked {horizon}")
        issues = as_issue_index(issue_times)
        h = np.arange(1, horizon + 1)
        frames = []
        for region, s in region_series(history, self.target, self.oracle_weather).items():
            i = s.index_of(issues)
            if (i < 24).any() or (i + horizon >= len(s.y)).any():
                raise ValueError(f"prophet: {region} issue times need 24 h of history and {horizon} h after")
            point, _ = self._point(s, self._in_sample(s), i, h)
            q = point[:, :, None] + self.residual_q[region][None, :horizon, :]
            frames.append(forecast_frame(region, issues, h, point, q))
        return pd.concat(frames, ignore_index=True)
