"""What a backtest config builds for the ``backtest`` kind and ``carbonshift forecast train``: the panel, a factory
per ensemble member, the pipeline settings (members, weighting, calibration, refit schedules) and DACF's published
forecasts to compare with."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.forecast_sections import member_sections
from carbonshift.forecast.backtest import PipelineSettings
from carbonshift.forecast.calibration import AdaptiveCQR, Calibration, RollingCQR, StaticCQR
from carbonshift.forecast.data.panel import load_dacf_forecasts
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, RollingEnsemble, Weighting
from carbonshift.forecast.models.base import Forecaster


def load_data(cfg: BacktestConfig, data_dir: str | None) -> pd.DataFrame:
    """The configured panel, with observed weather under ``backtest.oracle_weather`` and Open-Meteo forecasts
    published ≥ ``backtest.horizon_h`` before each hour under ``backtest.weather_forecasts``."""
    b = cfg.backtest
    return cfg.data.load(data_dir, weather=b.oracle_weather,
                         weather_forecast_lead_h=b.horizon_h if b.weather_forecasts else None)


@dataclass(frozen=True)
class Member:
    """One forecaster the backtest runs: its registered class, hyperparameters and the constructor context."""

    cls: type[Forecaster]
    params: dict[str, Any]
    context: dict[str, Any]

    def __call__(self) -> Forecaster:
        """A fresh, unfitted forecaster."""
        return self.cls(**self.context, **self.params)


def model_factories(cfg: BacktestConfig) -> dict[str, Member]:
    """Member name → zero-argument factory building a fresh, unfitted forecaster, for every ``models`` section
    (registered classes; the naive section builds one member per kind). Each gets the backtest's issue hour,
    horizon and seed, plus ``oracle_weather`` when it reads future covariates and the ``trainer`` settings when it
    trains on a GPU (its capabilities)."""
    b = cfg.backtest
    out: dict[str, Member] = {}
    for member, (cls, params) in member_sections(cfg.models).items():
        context: dict[str, Any] = {"issue_hour": b.issue_hour, "horizon": b.horizon_h, "seed": cfg.seed}
        if cls.capabilities.future_covariates:
            context["oracle_weather"] = b.oracle_weather
        if cls.capabilities.gpu:
            context["trainer"] = cfg.trainer.settings()
        out[member] = Member(cls, {"params": params}, context)
    return out


def ensemble_members(cfg: BacktestConfig, factories: Mapping[str, Member]) -> list[str]:
    """``backtest.ensemble_members``, else every non-baseline member (baselines: the naive kinds), else every
    member."""
    return cfg.backtest.ensemble_members or [n for n, f in factories.items() if not f.cls.baseline] or list(factories)


def pipeline_settings(cfg: BacktestConfig, factories: Mapping[str, Member]) -> PipelineSettings:
    """The one place the config's ``backtest`` section becomes the pipeline the backtest and ``forecast train``
    run: ensemble members, the weighting object (``ensemble_method``), the calibration object
    (``calibration``) and the members' refit schedules (``refit_every_days``)."""
    b = cfg.backtest
    buckets = tuple(b.buckets)
    weighting: Weighting
    if b.ensemble_method == "rolling":
        weighting = RollingEnsemble(buckets, b.ensemble_window_days, b.ensemble_power, b.ensemble_prune,
                                    b.ensemble_loss)
    else:
        weighting = ErrorWeightedEnsemble(buckets, b.ensemble_power, b.ensemble_prune, b.ensemble_method)
    calibration: Calibration = {
        "static": lambda: StaticCQR(buckets),
        "rolling": lambda: RollingCQR(buckets, b.calibration_window_days),
        "adaptive": lambda: AdaptiveCQR(buckets, b.calibration_window_days, b.calibration_step)}[b.calibration]()
    return PipelineSettings(b.issue_hour, b.horizon_h, tuple(ensemble_members(cfg, factories)), weighting,
                            calibration, dict(b.refit_every_days), b.refit_before_test)


def refit_schedule(settings: PipelineSettings, factories: Mapping[str, Member]) -> dict[str, int]:
    """Member → days between its refits over the test window (0: fitted once), as the backtest runs them."""
    return {name: settings.refit_days(name, f.cls) for name, f in factories.items()}


def dacf_forecasts(cfg: BacktestConfig, target: str, data_dir: str | None) -> tuple[pd.DataFrame | None, str]:
    """DACF's published day-ahead forecasts (direct CI) for the configured DACF regions and a note; ``None``
    (and why) for other sources/targets or when a region (e.g. a user's own DACF-format region) has none —
    the comparison then covers no region rather than a subset under the same "mean" label."""
    if cfg.data.source != "dacf" or target != "ci_direct":
        return None, "not applicable"
    table, missing = load_dacf_forecasts(cfg.data.regions, data_dir)
    if missing:
        return None, f"not compared: no published DACF forecasts for {missing}"
    return table, "compared"
