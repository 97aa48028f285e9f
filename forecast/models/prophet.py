"""Prophet (daily + weekly + yearly seasonality, national holidays, known-future covariates as extra
regressors) with a fitted bias correction: at issue, the mean Prophet error over the last 24 h (known then)
is carried forward with a per-horizon coefficient β_h fitted by least squares on training issues.
Quantiles = point + empirical quantiles of the training residuals per region and horizon.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast.bounds import MAX_SPAN_DAYS, bounded
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import Capabilities, Forecaster, forecast_frame
from carbonshift.forecast.models.features import HOLIDAY_COUNTRY, RegionSeries, issue_indices, region_series
from carbonshift.forecast.models.registry import register_forecaster

for _name in ("prophet", "cmdstanpy"):
    logging.getLogger(_name).setLevel(logging.WARNING)

log = logging.getLogger("carbonshift.forecast.prophet")
#: Prophet's own log lines handled here (logger → message start): plotly is for Prophet's interactive plots, which
#: this package never draws; the yearly-seasonality warning is recorded on the model (``notes``) instead, once.
_HANDLED = {"prophet.plot": "Importing plotly failed", "prophet": "Yearly seasonality is enabled with less than"}


class _Handled(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_HANDLED[record.name])


#: UserWarning of the ``holidays`` package handled here: Prophet lists a country's holiday names over the years
#: 1995–2044 (``prophet.make_holidays.get_holiday_names``), and India's calendar (zone IN-WE) warns for the years
#: outside 2001–2035 — none of which this package fits or forecasts (the holiday rows are made for the data's
#: years), so the warning says nothing about a run; it is silenced for that one message while fitting.
_HOLIDAYS_RANGE = r"Requested Holidays are available only from 2001 to 2035"


@contextlib.contextmanager
def _prophet_logs():
    """Drop the :data:`_HANDLED` lines of Prophet's loggers and the :data:`_HOLIDAYS_RANGE` warning while
    importing and fitting it."""
    handled = _Handled()
    loggers = [logging.getLogger(name) for name in _HANDLED]
    for logger in loggers:
        logger.addFilter(handled)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_HOLIDAYS_RANGE, category=UserWarning)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(handled)


@dataclass
class ProphetParams:
    """Hyperparameters of :class:`ProphetForecaster`."""

    yearly: bool = True   # yearly seasonality; under-identified on < 730 days of history (recorded in the model's notes)
    holidays: bool = True
    regressors: bool = True
    changepoint_prior_scale: float = 0.05
    train_days: int | None = bounded(365, le=MAX_SPAN_DAYS)   # fit on the last N days before until only (null: all)


@register_forecaster("prophet")
class ProphetForecaster(Forecaster):
    """One Prophet model per region, fitted on the last ``train_days`` days before ``until``."""

    Params = ProphetParams
    capabilities = Capabilities(future_covariates=True)
    requires = ("prophet",)
    refit_every_days = 28   # chosen on 2022 (before every shipped test year): experiments/configs/README.md#refit-schedules

    def __init__(self, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        self.models: dict[str, Any] = {}                 # region → fitted prophet.Prophet
        self.regs: dict[str, list[str]] = {}
        self.fill: dict[str, np.ndarray] = {}
        self.beta: dict[str, np.ndarray] = {}
        self.residual_q: dict[str, np.ndarray] = {}
        self.notes: list[str] = []   # what Prophet would have warned about, once per fit

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

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        self.notes = []
        with _prophet_logs():
            self._fit_quietly(panel, target, until)
        for note in self.notes:
            log.debug("prophet: %s", note)

    def _fit_quietly(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        from prophet import Prophet

        p = self.params
        h = np.arange(1, self.horizon + 1)
        for region, s in region_series(panel, target, self.oracle_weather).items():
            end = len(s.y) if until is None else int(np.searchsorted(s.times, until))
            start = 0 if p.train_days is None else max(0, end - 24 * p.train_days)
            rows = np.arange(start, end)
            rows = rows[~np.isnan(s.y[rows])]
            cols = [n for k, n in enumerate(s.known_names)
                    if p.regressors and not np.isnan(s.known[rows, k]).any() and np.nanstd(s.known[rows, k]) > 0]
            self.regs[region] = cols
            self.fill[region] = np.array([np.nanmean(s.known[rows, s.known_names.index(n)]) for n in cols])
            m = Prophet(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=p.yearly,
                        changepoint_prior_scale=p.changepoint_prior_scale, uncertainty_samples=0)
            country = HOLIDAY_COUNTRY.get(region)
            if p.holidays and country:
                m.add_country_holidays(country_name=country)
            for col in cols:
                m.add_regressor(col)
            days = (s.times[rows[-1]] - s.times[rows[0]]) / pd.Timedelta(days=1)
            if p.yearly and days < 730:
                self.notes.append(f"yearly seasonality fitted on {days:.0f} days of {region} (< 730: under-identified)")
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

    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        h = np.arange(1, horizon + 1)
        frames = []
        for region, s in region_series(history, self.fitted_target, self.oracle_weather).items():
            i = s.index_of(issues)
            if (i < 24).any() or (i + horizon >= len(s.y)).any():
                raise ValueError(f"prophet: {region} issue times need 24 h of history and {horizon} h after")
            point, _ = self._point(s, self._in_sample(s), i, h)
            q = point[:, :, None] + self.residual_q[region][None, :horizon, :]
            frames.append(forecast_frame(region, issues, h, point, q))
        return pd.concat(frames, ignore_index=True)
