"""Scoring forecaster settings on a validation window (hyper-parameter tuning): the panel a candidate sees, the
hours it fits on, the issues it forecasts and the score it is chosen on.

The panel handed to a candidate ends at the last hour of the validation window (later hours are never loaded
into it), padded with ``horizon_h`` empty hours so the last issues have forecast rows. It fits on the hours
before the first validation issue (or the end of the training window, if earlier) and forecasts every
validation day from ``issue_hour``; its score is the day-ahead (horizons ≤ ``day_ahead_h``) MAPE (%) per
region on the validation hours. All times UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from carbonshift.forecast.backtest import extend_panel, issue_times
from carbonshift.forecast.metrics import mape
from carbonshift.forecast.models.base import Forecaster
from carbonshift.forecast.models.naive import NaiveForecaster


@dataclass(frozen=True)
class Objective:
    """What a candidate forecasts and is scored on: ``target`` (a panel column), issued daily at ``issue_hour``
    (UTC) for horizons 1 … ``horizon_h`` h, scored on horizons ≤ ``day_ahead_h`` h."""

    target: str
    issue_hour: int
    horizon_h: int
    day_ahead_h: int


@dataclass(frozen=True)
class ValidationWindow:
    """Fit on hours before ``fit_until``; forecast from ``issues`` (one per validation day); score hours before
    ``end`` (the hour after the last validation day). UTC."""

    fit_until: pd.Timestamp
    issues: pd.DatetimeIndex
    end: pd.Timestamp


def cut_validation(panel: pd.DataFrame, objective: Objective, *, train_start: str | None, train_end: str,
                   val_start: str, val_end: str) -> tuple[pd.DataFrame, ValidationWindow]:
    """The panel a candidate sees (``train_start`` … last validation hour, padded ``horizon_h`` empty hours) and
    its window; the dates are inclusive UTC days (YYYY-MM-DD), ``train_start`` None = from the panel's start."""
    end = pd.Timestamp(val_end, tz="UTC") + pd.Timedelta(days=1)
    keep = panel["time"] < end
    if train_start is not None:
        keep &= panel["time"] >= pd.Timestamp(train_start, tz="UTC")
    issues = issue_times(pd.Timestamp(val_start, tz="UTC"), pd.Timestamp(val_end, tz="UTC"), objective.issue_hour)
    fit_until = min(pd.Timestamp(train_end, tz="UTC") + pd.Timedelta(days=1), issues[0])
    data = extend_panel(panel[keep].reset_index(drop=True), objective.horizon_h)
    return data, ValidationWindow(fit_until, issues, end)


def validation_mape(forecast: pd.DataFrame, panel: pd.DataFrame, target: str, day_ahead_h: int,
                    end: pd.Timestamp) -> dict[str, float]:
    """Day-ahead MAPE (%) per region of ``forecast`` against ``panel[target]`` on hours before ``end``."""
    rows = forecast[(forecast["horizon_h"] <= day_ahead_h) & (forecast["time"] < end)]
    actual = panel.set_index(["region", "time"])[target]
    y = actual.reindex(pd.MultiIndex.from_frame(rows[["region", "time"]])).to_numpy(float)
    return {str(r): mape(y[idx], rows["mean"].to_numpy(float)[idx])
            for r, idx in rows.groupby("region", sort=True).indices.items()}


def score(forecaster: Forecaster, panel: pd.DataFrame, window: ValidationWindow, objective: Objective,
          **fit_options: Any) -> dict[str, float]:
    """Fit ``forecaster`` on the window's training hours (``fit_options`` go to its ``fit``, e.g. Lightning
    ``callbacks``), forecast the validation issues and return its day-ahead MAPE (%) per region."""
    forecaster.fit(panel, objective.target, until=window.fit_until, **fit_options)
    forecast = forecaster.predict(panel, window.issues, objective.horizon_h)
    return validation_mape(forecast, panel, objective.target, objective.day_ahead_h, window.end)


def seasonal_naive_scores(panel: pd.DataFrame, window: ValidationWindow, objective: Objective) -> dict[str, float]:
    """Seasonal-naive 24 h day-ahead MAPE (%) per region on the window: the reference tuned settings must beat."""
    return score(NaiveForecaster("seasonal24", objective.issue_hour, objective.horizon_h), panel, window, objective)
