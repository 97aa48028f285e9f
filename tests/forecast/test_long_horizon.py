"""Forecasts up to a week ahead: one place for the horizon limit and the default buckets, configs/backtests that
accept it (and refuse more), every model at 168 h on real data from the past only, and per-bucket calibration and
reporting out to 168 h."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.config_doc import parse_doc
from carbonshift.forecast import report
from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.calibration import RollingCQR
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, MAX_HORIZON_H, QUANTILE_COLUMNS
from carbonshift.forecast.ensemble import RollingEnsemble
from carbonshift.forecast.models.base import check_forecast_table
from carbonshift.forecast.models.gbm import GBMForecaster
from carbonshift.forecast.models.naive import NaiveForecaster

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


@pytest.fixture(scope="module")
def gb_slice() -> pd.DataFrame:
    """GB (Electricity Maps), 2022-01-01 → 2022-04-14 UTC, no weather: the forecast_em setting."""
    p = load_panel(["GB"], [2022], weather=False)
    return p[(p["time"] >= "2022-01-01") & (p["time"] < "2022-04-15")].reset_index(drop=True)


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


def test_run_backtest_refuses_horizons_past_the_limit(gb_slice):
    w = Windows.from_strings(None, "2022-01-31", "2022-02-01", "2022-02-28", "2022-03-01", "2022-03-14")
    with pytest.raises(ValueError, match="horizon must be 1–168 h, got 169"):
        run_backtest(gb_slice, "ci_direct", {"s24": lambda: NaiveForecaster("seasonal24")}, w,
                     PipelineSettings(horizon=MAX_HORIZON_H + 1), progress=False)


def _week_ahead(name: str):
    """Every forecaster class at horizon 168 h, with settings small enough for a test."""
    if name in ("persistence", "seasonal24", "seasonal168"):
        return NaiveForecaster(name, horizon=MAX_HORIZON_H)
    if name == "gbm":
        return GBMForecaster(horizon=MAX_HORIZON_H, max_iter=20)
    if name == "prophet":
        from carbonshift.forecast.models.prophet import ProphetForecaster
        return ProphetForecaster(horizon=MAX_HORIZON_H, yearly=False, train_days=45)
    if name == "lstm":
        from carbonshift.forecast.models.lstm import LSTMForecaster
        return LSTMForecaster(horizon=MAX_HORIZON_H, encoder_h=48, hidden=8, max_epochs=1, stride_h=12, seed=3)
    from carbonshift.forecast.models.tft import TFTForecaster
    return TFTForecaster(horizon=MAX_HORIZON_H, encoder_h=48, hidden=8, attention_heads=1, max_epochs=1,
                         limit_train_batches=3, stride_h=24, seed=0, train_days=40)


def _scrambled(panel: pd.DataFrame, after: pd.Timestamp) -> pd.DataFrame:
    """``panel`` with every target value at or after ``after`` replaced by garbage (gCO2eq/kWh)."""
    out = panel.copy()
    out.loc[out["time"] >= after, "ci_direct"] = 1e4
    return out


@pytest.mark.parametrize("name", ["persistence", "seasonal24", "seasonal168", "prophet",
                                  pytest.param("gbm", marks=pytest.mark.slow),    # 168 GBM horizons ≈ 4 s CPU
                                  pytest.param("lstm", marks=pytest.mark.slow),   # ≈ 14 s fit on 2 cores
                                  pytest.param("tft", marks=pytest.mark.slow)])   # ≈ 18 s fit + predict
def test_every_model_forecasts_a_week_ahead_from_the_past_only(gb_slice, name):
    """A 168 h forecast on real data covers horizons 1 … 168 for every issue, and is bit-for-bit the same when
    every target at or after the issue is garbage (the fit, too, reads nothing at or after ``until``)."""
    until = pd.Timestamp("2022-03-01", tz="UTC")
    issues = pd.date_range("2022-02-28 23:00", periods=2, freq="D", tz="UTC")
    m = _week_ahead(name).fit(gb_slice, "ci_direct", until)
    fc = m.predict(gb_slice, issues, MAX_HORIZON_H)
    check_forecast_table(fc)
    for _, g in fc.groupby("issue_time"):
        assert g["horizon_h"].tolist() == list(range(1, MAX_HORIZON_H + 1))
    assert ((fc["time"] - fc["issue_time"]) / pd.Timedelta(hours=1) == fc["horizon_h"]).all()
    assert fc[["mean", *QUANTILE_COLUMNS]].notna().all().all()
    first = fc[fc["issue_time"] == issues[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(m.predict(_scrambled(gb_slice, issues[0]), issues[:1], MAX_HORIZON_H), first)
    if name not in ("lstm", "tft"):   # refitting the neural members twice costs more than the test budget
        refit = _week_ahead(name).fit(_scrambled(gb_slice, until), "ci_direct", until)
        pd.testing.assert_frame_equal(refit.predict(gb_slice, issues[:1], MAX_HORIZON_H), first)



def test_gbm_horizon_blocks_keep_the_short_horizons_of_a_48_h_model(gb_slice):
    """GBM at 168 h fits its own models per horizon block (default edge 48 h): horizons 1–48 are exactly a 48 h
    model's, 49–168 come from the second block's models."""
    until = pd.Timestamp("2022-03-01", tz="UTC")
    issues = pd.date_range("2022-03-01 23:00", periods=3, freq="D", tz="UTC")
    week = GBMForecaster(horizon=MAX_HORIZON_H, max_iter=10).fit(gb_slice, "ci_direct", until)
    assert week.blocks == [(0, 48), (48, 168)] and [len(b) for b in week.models["GB"]] == [7, 7]
    two_days = GBMForecaster(horizon=48, max_iter=10).fit(gb_slice, "ci_direct", until)
    assert two_days.blocks == [(0, 48)]
    fc = week.predict(gb_slice, issues, MAX_HORIZON_H)
    pd.testing.assert_frame_equal(fc[fc["horizon_h"] <= 48].reset_index(drop=True),
                                  two_days.predict(gb_slice, issues, 48))
    assert GBMForecaster(horizon=MAX_HORIZON_H, horizon_blocks=[24, 96, 200]).blocks == [(0, 24), (24, 96), (96, 168)]
    with pytest.raises(ValueError, match="horizon_blocks must be ascending"):
        GBMForecaster(horizon=MAX_HORIZON_H, horizon_blocks=[96, 48])
    with pytest.raises(ConfigError, match=r"models.gbm: gbm: horizon_blocks must be ascending hours ≥ 1, got \[0, 48\]"):
        doc = quick()
        doc["models"]["gbm"]["horizon_blocks"] = [0, 48]
        parse_doc(doc, "q.yaml")

def test_week_ahead_backtest_calibrates_and_reports_the_97_to_168_h_bucket(gb_slice):
    """A 168 h backtest (rolling ensemble + rolling conformal, as forecast_em) fits corrections for the last
    bucket on validation hours, and the bucket table reports it with intervals wider than at 1–6 h."""
    w = Windows.from_strings(None, "2022-01-31", "2022-02-01", "2022-02-28", "2022-03-01", "2022-03-31")
    models = {k: (lambda k=k: NaiveForecaster(k, horizon=MAX_HORIZON_H))
              for k in ("persistence", "seasonal24", "seasonal168")}
    settings = PipelineSettings(horizon=MAX_HORIZON_H, weighting=RollingEnsemble(), calibration=RollingCQR(window_days=14))
    bt = run_backtest(gb_slice, "ci_direct", models, w, settings, progress=False)
    last = len(DEFAULT_BUCKETS) - 1
    corr = bt.corrections[(bt.corrections["model"] == "ensemble") & (bt.corrections["bucket"] == last)]
    assert len(corr) == 3 and (corr["n"] > 24 * 7).all()     # one per nominal level, from a week+ of hours
    table = report.bucket_table(bt.forecasts, DEFAULT_BUCKETS)
    ens = table[table["model"] == "ensemble"].set_index("horizons")
    assert list(ens.index) == ["1–6 h", "7–12 h", "13–24 h", "25–48 h", "49–96 h", "97–168 h"]
    assert ens.loc["97–168 h", "n"] == 31 * 72                # 31 test issues × horizons 97 … 168
    assert ens.loc["97–168 h", "width90"] > 1.5 * ens.loc["1–6 h", "width90"]
    assert ens.loc["97–168 h", "mape"] > ens.loc["1–6 h", "mape"]
    assert ens["picp90"].between(0.7, 1.0).all()


def test_bucket_table_scores_each_bucket_on_its_own_hours():
    t0 = pd.Timestamp("2023-01-01 23:00", tz="UTC")
    h = [1, 6, 7, 168]
    fc = pd.DataFrame({"model": "m", "window": "test", "region": "X", "issue_time": t0,
                       "time": [t0 + pd.Timedelta(hours=k) for k in h], "horizon_h": h,
                       "mean": [110.0, 90.0, 100.0, 150.0], "actual": [100.0, 100.0, 200.0, 100.0],
                       "q0.05": [90.0, 80.0, 50.0, 0.0], "q0.95": [120.0, 95.0, 150.0, 300.0]})
    out = report.bucket_table(fc, DEFAULT_BUCKETS).set_index("horizons")
    assert list(out.index) == ["1–6 h", "7–12 h", "97–168 h"]                # empty buckets are absent
    assert out.loc["1–6 h", ["mape", "picp90", "width90", "n"]].tolist() == [10.0, 0.5, 22.5, 2]
    assert out.loc["7–12 h", "mape"] == 50.0 and out.loc["97–168 h", "picp90"] == 1.0
    with pytest.raises(ValueError, match="beyond the last bucket edge"):
        report.bucket_table(fc, (6, 12, 24, 48, 96))



@pytest.mark.slow
def test_forecast_train_then_predict_a_week_ahead(shared_data, tmp_path, capsys):
    """A forecaster trained at horizon_h 168 (> the old 96 h cap; own_zone.yaml's members) → saved → `forecast
    predict` from the folder: one row per horizon 1 … 168, the in-memory table, conformal state up to 168 h."""
    from carbonshift.experiments.cli import main
    from carbonshift.experiments.config import as_dict
    from carbonshift.experiments.backtest_config import BacktestConfig
    from carbonshift.experiments.backtest_inputs import model_factories, pipeline_settings
    from carbonshift.experiments.config_doc import read_doc
    from carbonshift.forecast import artifact
    from test_own_data_backtest import make_user_zone

    data_dir = make_user_zone(shared_data, tmp_path / "mydata")
    doc, source = read_doc(CONFIGS / "own_zone.yaml", {"backtest.horizon_h": MAX_HORIZON_H,
                                                        "backtest.buckets": [24, 48, MAX_HORIZON_H]})
    _, cfg = parse_doc(doc, source)
    assert isinstance(cfg, BacktestConfig)
    factories = model_factories(cfg)
    w = cfg.windows
    panel = load_panel(["CA-ON"], [2024], weather=False, data_dir=data_dir)
    fitted = artifact.train(panel, "ci_direct", factories,
                            Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start,
                                                 w.test_end), pipeline_settings(cfg, factories), config=as_dict(cfg))
    assert fitted.horizon == MAX_HORIZON_H and set(fitted.calibration.corrections["bucket"]) == {0, 1, 2}
    folder = fitted.save(tmp_path / "trained")
    out = tmp_path / "week.csv"
    assert main(["forecast", "predict", str(folder), "--issue-time", "2024-03-20T23:00Z", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out, parse_dates=["issue_time", "time"])
    assert table["horizon_h"].tolist() == list(range(1, MAX_HORIZON_H + 1))
    assert table["time"].iloc[-1] == pd.Timestamp("2024-03-27 23:00", tz="UTC")
    ours = fitted.predict(panel, pd.Timestamp("2024-03-20 23:00", tz="UTC"))
    np.testing.assert_allclose(table[["mean", *QUANTILE_COLUMNS]].to_numpy(), ours[["mean", *QUANTILE_COLUMNS]].to_numpy())
