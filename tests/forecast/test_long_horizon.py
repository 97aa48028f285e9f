"""Forecasts up to a week ahead: one place for the horizon limit and the default buckets, and configs/backtests
that accept it (and refuse more)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.runner import parse_doc
from carbonshift.forecast.backtest import Windows, run_backtest
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, MAX_HORIZON_H
from carbonshift.forecast.models.naive import NaiveForecaster

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


def quick(**backtest) -> dict:
    doc = yaml.safe_load((CONFIGS / "forecast_quick.yaml").read_text())
    doc["backtest"] = {**doc["backtest"], **backtest}
    return doc


def test_default_buckets_reach_the_horizon_limit():
    assert MAX_HORIZON_H == 168 and DEFAULT_BUCKETS[-1] == MAX_HORIZON_H
    assert list(DEFAULT_BUCKETS) == sorted(set(DEFAULT_BUCKETS))
    _, cfg = parse_doc(quick(horizon_h=MAX_HORIZON_H), "q.yaml")
    assert cfg.backtest.horizon_h == 168 and cfg.backtest.buckets == list(DEFAULT_BUCKETS)


@pytest.mark.parametrize("backtest, message", [
    ({"horizon_h": MAX_HORIZON_H + 1}, "backtest.horizon_h: must be 1–168 h"),
    ({"horizon_h": 120, "buckets": [6, 12, 24, 48, 96]}, "backtest.buckets: must be ascending and end at ≥ horizon_h"),
])
def test_configs_refuse_horizons_past_the_limit_or_the_buckets(backtest, message):
    with pytest.raises(ConfigError, match=message):
        parse_doc(quick(**backtest), "q.yaml")


def test_run_backtest_refuses_horizons_past_the_limit(dacf_slice):
    w = Windows.from_strings(None, "2020-11-30", "2020-12-01", "2020-12-31", "2021-01-01", "2021-01-14")
    with pytest.raises(ValueError, match="horizon must be 1–168 h, got 169"):
        run_backtest(dacf_slice, "ci_direct", {"s24": lambda: NaiveForecaster("seasonal24")}, w,
                     horizon=MAX_HORIZON_H + 1, progress=False)
