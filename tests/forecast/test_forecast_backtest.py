"""Rolling backtest: no test-window leakage into ensemble/calibration fitting; quick config end-to-end."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import load
from carbonshift.experiments.kinds.backtest import BacktestConfig
from carbonshift.experiments.kinds.backtest import run as run_kind
from carbonshift.experiments.registry import Context
from carbonshift.forecast.backtest import Windows, issue_times, run_backtest
from carbonshift.forecast.models.gbm import GBMForecaster
from carbonshift.forecast.models.naive import NaiveForecaster

WINDOWS = Windows.from_strings("2020-10-01", "2020-12-31", "2021-01-01", "2021-01-12", "2021-01-13", "2021-01-25")


def _models():
    return {"seasonal24": lambda: NaiveForecaster("seasonal24", horizon=48),
            "persistence": lambda: NaiveForecaster("persistence", horizon=48),
            "gbm": lambda: GBMForecaster(horizon=48, max_iter=20, learning_rate=0.2)}


def test_issue_times_are_the_evening_before_each_day():
    it = issue_times(pd.Timestamp("2021-07-01", tz="UTC"), pd.Timestamp("2021-07-03", tz="UTC"), 23)
    assert list(it.strftime("%Y-%m-%d %H:%M")) == ["2021-06-30 23:00", "2021-07-01 23:00", "2021-07-02 23:00"]


@pytest.mark.slow
def test_test_window_never_reaches_ensemble_or_calibration(dacf_slice):
    base = run_backtest(dacf_slice, "ci_direct", _models(), WINDOWS, progress=False)
    corrupted = dacf_slice.copy()
    corrupted.loc[corrupted["time"] >= "2021-01-12 23:00", "ci_direct"] *= 3.0   # test-window hours only
    other = run_backtest(corrupted, "ci_direct", _models(), WINDOWS, progress=False)
    pd.testing.assert_frame_equal(base.weights, other.weights)
    pd.testing.assert_frame_equal(base.corrections, other.corrections)
    val = base.forecasts[base.forecasts["window"] == "validation"]
    assert val["time"].max() < pd.Timestamp("2021-01-12 23:00", tz="UTC")
    test = base.forecasts[base.forecasts["window"] == "test"]
    assert set(test["model"]) == {"seasonal24", "persistence", "gbm", "ensemble"}
    assert test["issue_time"].min() == pd.Timestamp("2021-01-12 23:00", tz="UTC")
    assert (test.groupby(["model", "region", "issue_time"]).size() == 48).all()


@pytest.mark.slow   # LSTM end-to-end backtest
def test_quick_config_end_to_end_through_the_kind(tmp_path):
    cfg = load("experiments/configs/forecast_quick.yaml", BacktestConfig)
    res = run_kind(cfg, Context(progress=False, out_dir=tmp_path))   # not the checkout's reports/
    m = res.metrics
    combined = res.summary["combined_forecast"]         # ensemble(gbm …, lstm …)+cqr, or one member's name+cqr
    key = "ensemble" if combined.startswith("ensemble(") else combined.replace("+", "_")
    for model in ("gbm", "lstm", key, "seasonal24"):
        for region in ("CISO", "SE"):
            assert np.isfinite(m[f"mape.ci_direct.{model}.{region}"])
            assert 0.0 <= m[f"picp90.ci_direct.{model}.{region}"] <= 1.0
    assert m["mape.ci_direct.dacf.CISO"] == pytest.approx(6.84, abs=0.01)   # DACF's published, first 2 test weeks
    assert m["mape.ci_direct.gbm.CISO"] < m["mape.ci_direct.seasonal24.CISO"]
    mt = res.tables["mape_by_region"].set_index("model")
    assert {"DACF (published)", combined, "seasonal24", "persistence"} <= set(mt.index)
    assert list(res.tables["accuracy_by_horizon"].columns) == ["model", 1, 6, 12, 24, 48]
    cov = res.tables["coverage"]
    assert set(cov["nominal"]) == {0.5, 0.8, 0.9}
    assert {"reliability.png", "forecast_vs_actual.png"} <= set(res.figures)
    assert "forecast_ensemble" not in res.tables   # a file artifact, never printed by --json
    fc = pd.read_csv(next(f for f in res.files if f.name == "forecast_ensemble.csv"))
    assert len(fc) == 2 * 14 * 48
