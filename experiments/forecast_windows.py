"""Surplus-renewable windows decided causally from day-ahead forecasts made by the forecasting stack — the
``forecast_windows`` section shared by the ``curtailment_training`` and ``migration`` kinds.

One model (a naive kind or ``gbm``) is backtested on ``windows.column`` (:func:`forecast.backtest.run_backtest`:
fitted on everything loaded before the calibration window, CQR-calibrated on the ``val_days`` before the first
hour, test = the hours used), its calibrated forecasts are cut into windows at each issue
(:func:`scheduler.curtailment.windows_from_forecast`) and handed off per hour.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.bounds import MAX_SPAN_DAYS, MAX_SPAN_H, bounded
from carbonshift.forecast.data.panel import to_matrix
from carbonshift.forecast.data.schema import MAX_HORIZON_H, QUANTILE_COLUMNS
from carbonshift.forecast.forecast_cube import column_cube
from carbonshift.forecast.models.base import Forecaster
from carbonshift.forecast.models.gbm import GBMForecaster
from carbonshift.forecast.models.naive import NaiveForecaster, NaiveKind
from carbonshift.scheduler.curtailment import ForecastWindowRule, WindowRule, windows_from_forecast

#: forecast models the section may name: the naive kinds and ``gbm``
MODELS = ("persistence", "seasonal24", "seasonal168", "gbm")


@dataclass
class ForecastWindowsSection:
    """Causal windows from a forecast of ``windows.column`` (see module docstring). ``model``: a naive kind
    (persistence | seasonal24 | seasonal168) or ``gbm``; ``stat``: mean or a quantile column (q0.05 … q0.95)."""

    model: str = "seasonal24"
    val_days: int = bounded(28, ge=7, le=MAX_SPAN_DAYS)   # calibration window just before data.start
    trailing_days: int = bounded(28, ge=1, le=MAX_SPAN_DAYS)   # thresholds: percentiles of the actuals in the past trailing_days
    stat: str = "mean"
    warmup_h: int = bounded(24, le=MAX_SPAN_H)
    issue_hour: int = 23            # UTC; day D is planned from the issue at D − 1 day + issue_hour
    horizon_h: int = 48

    def __post_init__(self) -> None:
        check(self.model in MODELS, "forecast_windows.model", "expected persistence | seasonal24 | seasonal168 | gbm")
        check(self.stat == "mean" or self.stat in QUANTILE_COLUMNS, "forecast_windows.stat",
              f"expected mean or one of {list(QUANTILE_COLUMNS)}")
        check(24 <= self.horizon_h <= MAX_HORIZON_H and 0 <= self.issue_hour <= 23, "forecast_windows.horizon_h",
              f"horizon 24–{MAX_HORIZON_H} h (covers the next day), issue hour 0–23")


@dataclass
class ForecastWindows:
    """Forecast windows over ``n`` hours from ``start``: ``mask`` [R × n] (hand-off of the per-issue
    membership), per-region × horizon-bucket precision/recall ``pr`` vs windows cut from the actuals with the
    same causal thresholds, and ``label``."""

    mask: np.ndarray
    pr: pd.DataFrame
    label: str


def member(sec: ForecastWindowsSection, seed: int) -> Callable[[], Forecaster]:
    """Factory of the section's forecast model: GBM (150 iterations) or the naive kind."""
    if sec.model == "gbm":
        return lambda: GBMForecaster(sec.issue_hour, sec.horizon_h, max_iter=150, seed=seed)
    return lambda: NaiveForecaster(cast(NaiveKind, sec.model), sec.issue_hour, sec.horizon_h)


def forecast_window_mask(panel: pd.DataFrame, regions: list[str], rule: WindowRule, sec: ForecastWindowsSection,
                         start: pd.Timestamp, n: int, seed: int, progress: bool) -> ForecastWindows:
    """Backtest ``sec.model`` on ``rule.column`` (fit before the validation window, CQR on ``val_days`` before
    ``start``, test = the ``n`` hours from ``start``) and cut causal windows from its calibrated forecasts."""
    day = pd.Timedelta(days=1)
    val_start = start - sec.val_days * day
    windows = Windows(None, val_start - day, val_start, start - day, start, start + (n // 24 - 1) * day)
    bt = run_backtest(panel, rule.column, {sec.model: member(sec, seed)}, windows,
                      PipelineSettings(sec.issue_hour, sec.horizon_h), progress=progress)
    fc = bt.forecasts[(bt.forecasts["model"] == sec.model) & (bt.forecasts["window"] == "test")]
    actual, times, _ = to_matrix(panel, rule.column, regions)
    issues, values = column_cube(fc, sec.stat, regions, sec.horizon_h)
    if np.isnan(values).any():
        raise ValueError(f"forecast_windows: the {sec.model} forecast of {rule.column} misses some issue/region/"
                         "horizon rows")
    issue_idx = times.get_indexer(issues)
    if (issue_idx < 0).any():
        raise ValueError(f"forecast_windows: issue times {list(issues[issue_idx < 0][:3])} are not panel hours")
    frule = ForecastWindowRule(sec.trailing_days, sec.stat, sec.warmup_h)
    mask, pr = windows_from_forecast(actual, issue_idx, values, rule, frule, regions, times.get_loc(start), n)
    return ForecastWindows(mask, pr, frule.label(f"{sec.model}+cqr"))
