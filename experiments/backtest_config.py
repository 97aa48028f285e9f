"""Config of the ``backtest`` kind and of ``carbonshift forecast train`` (the same file): data, windows, targets,
the pipeline's ``backtest`` section, ``models``, ``trainer`` and ``output``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from carbonshift.experiments.config import check, registry_sections
from carbonshift.experiments.forecast_sections import (MODELS_HINT, DataSection, TrainerSection, member_sections,
                                                       model_sections)
from carbonshift.forecast.backtest import Windows
from carbonshift.forecast.bounds import MAX_SPAN_DAYS, bounded
from carbonshift.forecast.calibration import ADAPTIVE_STEP, ADAPTIVE_WINDOW_DAYS
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, MAX_HORIZON_H, TARGETS
from carbonshift.forecast.models.naive import NaiveParams


@dataclass
class WindowSection:
    """Inclusive UTC dates (YYYY-MM-DD)."""

    train_end: str
    val_start: str
    val_end: str
    test_start: str
    test_end: str
    train_start: str | None = None

    def __post_init__(self) -> None:
        try:
            self.windows()
        except ValueError as exc:
            check(False, "windows", str(exc))

    def windows(self) -> Windows:
        """The backtest's train / validation / test windows."""
        return Windows.from_strings(self.train_start, self.train_end, self.val_start, self.val_end, self.test_start,
                                    self.test_end)


@dataclass
class BacktestSection:
    issue_hour: int = 23
    horizon_h: int = 48   # longest forecast horizon, h (1 … 168 = MAX_HORIZON_H)
    day_ahead_h: int = 24
    refit_every_days: dict[str, int] = field(default_factory=dict)   # member → days between refits over the test window (0: fit once); a member not named: its model's default (prophet 28, gbm 91, others 0)
    refit_before_test: bool = True
    buckets: list[int] = field(default_factory=lambda: list(DEFAULT_BUCKETS))
    ensemble_power: float = 2.0
    ensemble_prune: float = 1.5
    ensemble_method: Literal["inverse_error", "stacking", "rolling"] = "inverse_error"
    ensemble_window_days: int = bounded(14, le=MAX_SPAN_DAYS)   # rolling: weights at each issue from the last N days of observed errors
    ensemble_loss: Literal["mape", "mae", "regret"] = "mape"   # rolling: error the weights invert (regret: single-job decision regret, 1–8 h jobs, 24–48 h slack)
    ensemble_members: list[str] = field(default_factory=list)   # empty: every non-naive model
    oracle_weather: bool = False   # observed obs_* weather as known-future input ("oracle weather")
    weather_forecasts: bool = False   # Open-Meteo fc_* forecasts from the data dir, published ≥ horizon_h before each hour
    calibration: Literal["static", "rolling", "adaptive"] = "adaptive"   # CQR fitted on validation; refitted at each issue; + online level (ACI)
    calibration_window_days: int = bounded(ADAPTIVE_WINDOW_DAYS, le=MAX_SPAN_DAYS)   # rolling/adaptive: days of already-observed errors the corrections are refitted on
    calibration_step: float = ADAPTIVE_STEP   # adaptive: per issue, the quantile level moves step × (miss rate − α) per region × bucket

    def __post_init__(self) -> None:
        check(0 <= self.issue_hour <= 23, "backtest.issue_hour", "must be 0–23 (UTC)")
        check(1 <= self.horizon_h <= MAX_HORIZON_H, "backtest.horizon_h", f"must be 1–{MAX_HORIZON_H} h")
        check(self.calibration_window_days >= 1, "backtest.calibration_window_days",
              "must be ≥ 1 day (for validation-only corrections set backtest.calibration: static)")
        check(self.calibration_step > 0, "backtest.calibration_step", "must be > 0")
        check(self.ensemble_window_days >= 1, "backtest.ensemble_window_days", "must be ≥ 1 day")
        check(self.ensemble_loss == "mape" or self.ensemble_method == "rolling", "backtest.ensemble_loss",
              "is the rolling weights' loss (set backtest.ensemble_method: rolling)")
        check(1 <= self.day_ahead_h <= self.horizon_h, "backtest.day_ahead_h", "must be 1 … horizon_h")
        for member, days in self.refit_every_days.items():
            check(days >= 0, f"backtest.refit_every_days.{member}", "must be ≥ 0 days (0 = fitted once)")
        check(self.buckets == sorted(self.buckets) and self.buckets[-1] >= self.horizon_h, "backtest.buckets",
              "must be ascending and end at ≥ horizon_h")


@dataclass
class OutputSection:
    """Files a backtest writes besides the combined forecast table."""

    member_tables: bool = False   # also write forecast_<member>[_<target>].<format> per model (calibrated, test window)
    table_format: Literal["csv", "parquet"] = "csv"   # forecast tables' file format (parquet: ~10× smaller, faster to read)


@dataclass
class BacktestConfig:
    kind: str
    name: str
    data: DataSection
    windows: WindowSection
    targets: list[str] = field(default_factory=lambda: ["ci_direct"])
    backtest: BacktestSection = field(default_factory=BacktestSection)
    models: dict[str, Any] = registry_sections(model_sections, lambda: {"naive": NaiveParams()}, MODELS_HINT)   # registered forecasters (built-in or CARBONSHIFT_FORECASTERS plug-ins) → hyperparameters; absent = not run
    trainer: TrainerSection = field(default_factory=TrainerSection)   # LSTM/TFT members' Lightning settings
    output: OutputSection = field(default_factory=OutputSection)
    seed: int = 0

    def __post_init__(self) -> None:
        for t in self.targets:
            check(t in TARGETS, "targets", f"unknown target {t!r}; known: {sorted(TARGETS)}")
            check(t not in self.data.exclude_columns, "targets", f"target {t!r} is in data.exclude_columns")
        check(bool(self.models), "models", "configure at least one model")
        built = member_sections(self.models)
        unknown = [m for m in self.backtest.ensemble_members if m not in built]
        check(not unknown, "backtest.ensemble_members", f"{unknown} are not members of the configured models "
                                                        f"({list(built)})")
        unknown = [m for m in self.backtest.refit_every_days if m not in built]
        check(not unknown, "backtest.refit_every_days", f"{unknown} are not members of the configured models "
                                                        f"({list(built)})")
        check(not self.backtest.weather_forecasts or self.data.source == "electricitymaps",
              "backtest.weather_forecasts", "Open-Meteo forecasts are for electricitymaps zones (DACF ships its own fc_*)")

