"""Train once, predict later for rolling configs (``ensemble_method: rolling`` + ``calibration: rolling``):
predict at T re-forecasts the past issues with the saved members, weights and calibrates them as the backtest
does at T, reads no actual at or after T, and reproduces its table byte for byte in a fresh process."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from carbonshift.experiments.config import as_dict
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import model_factories, pipeline_settings
from carbonshift.experiments.config_doc import parse_doc, read_doc
from carbonshift.forecast import artifact
from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.calibration import RollingCQR, StaticCQR
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.registry import REPO_ROOT
from carbonshift.forecast.data.schema import FORECAST_COLUMNS
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, RollingEnsemble
from test_own_data_backtest import cli_env, make_user_zone

pytestmark = pytest.mark.slow   # every test reads the module's trained own-zone forecaster (GBM + rolling ensemble: ≈ 4 s CPU)

CLI = [sys.executable, "-m", "carbonshift.experiments.cli"]
ISSUE = pd.Timestamp("2024-03-20 23:00", tz="UTC")   # 7-day look-back reaches into the validation window
LATE = pd.Timestamp("2024-03-27 23:00", tz="UTC")    # look-back entirely after the cut-off (days skipped)
MEMBERS = ["seasonal24", "persistence", "gbm"]
VALUES = ["mean", "q0.05", "q0.25", "q0.5", "q0.75", "q0.95"]


def _doc() -> dict:
    """own_zone.yaml with three members, a 3-day rolling ensemble and a 4-day rolling calibration window."""
    doc, _ = read_doc(REPO_ROOT / "experiments/configs/own_zone.yaml", {
        "models.naive.kinds": ["seasonal24", "persistence"], "backtest.ensemble_members": MEMBERS,
        "backtest.ensemble_method": "rolling", "backtest.ensemble_window_days": 3,
        "backtest.calibration": "rolling", "backtest.calibration_window_days": 4})
    return doc


@pytest.fixture(scope="module")
def setup(shared_data, tmp_path_factory) -> tuple[Path, BacktestConfig, pd.DataFrame, artifact.TrainedForecaster]:
    data_dir = make_user_zone(shared_data, tmp_path_factory.mktemp("mydata"))
    _, cfg = parse_doc(_doc(), "own_zone rolling")
    panel = load_panel(["CA-ON"], [2024], weather=False, data_dir=data_dir)
    factories = model_factories(cfg)
    w = cfg.windows
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    fitted = artifact.train(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories),
                            config=as_dict(cfg))
    return data_dir, cfg, panel, fitted


def test_rolling_forecaster_round_trip_through_the_cli(setup, tmp_path):
    data_dir, _, panel, fitted = setup
    assert fitted.rolling and fitted.lookback_days == 7 and isinstance(fitted.weighting, RollingEnsemble)
    table = fitted.predict(panel, ISSUE)
    assert list(table.columns) == ["model", *FORECAST_COLUMNS] and len(table) == 48
    label = table["model"].unique().tolist()
    assert len(label) == 1 and label[0].startswith("ensemble(") and label[0].endswith(")+rolling3d+cqr")
    listed = [part.rsplit(" ", 1)[0] for part in label[0][len("ensemble("):-len(")+rolling3d+cqr")].split(", ")]
    assert len(listed) >= 2 and set(listed) <= set(MEMBERS)
    config = tmp_path / "own_zone_rolling.yaml"
    config.write_text(yaml.safe_dump(_doc()))
    env = cli_env(tmp_path, data_dir)

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    proc = run(["forecast", "train", str(config), "--json", "--out", str(tmp_path / "trained")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout)["forecasters"][0]
    manifest = json.loads((tmp_path / "trained/forecaster/data/forecaster/forecaster.json").read_text())
    assert manifest["ensemble"] == {"method": "rolling", "window_days": 3, "power": 2.0, "prune": 1.5,
                                    "loss": "mape"}
    assert manifest["calibration"] == {"method": "rolling", "window_days": 4} and manifest["lookback_days"] == 7
    assert [m["name"] for m in manifest["members"]] == MEMBERS and row["label"].endswith("+rolling3d+cqr")
    out = tmp_path / "issued.csv"
    proc = run(["forecast", "predict", row["model_uri"], "--issue-time", "2024-03-20T23:00Z", "--out", str(out),
                "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["model"] == label[0]      # the summary names the table's weights, not training's
    assert out.read_bytes() == table.to_csv(index=False).encode()   # fresh process, from MLflow: byte-identical
    again = artifact.load(tmp_path / "trained/forecaster/data/forecaster")
    pd.testing.assert_frame_equal(again.validation, fitted.validation)
    pd.testing.assert_frame_equal(again.predict(panel, LATE), fitted.predict(panel, LATE))


def test_rolling_predict_equals_the_backtest_ensemble(setup):
    _, cfg, panel, fitted = setup
    w = cfg.windows
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    factories = model_factories(cfg)
    bt = run_backtest(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories), progress=False)
    ens = bt.forecasts[(bt.forecasts["model"] == "ensemble") & (bt.forecasts["window"] == "test")]
    for issue in (fitted.cutoff, ISSUE, LATE):
        ours = fitted.predict(panel, issue)
        theirs = ens[ens["issue_time"] == issue].sort_values("time")
        assert len(ours) == len(theirs) == 48
        np.testing.assert_allclose(ours[VALUES].to_numpy(), theirs[VALUES].to_numpy(), rtol=1e-9, err_msg=str(issue))
    weights = bt.weights[bt.weights["issue_time"] == ISSUE]
    assert weights["weight"].gt(0).groupby(weights["model"]).any().sum() >= 2   # a real ensemble at ISSUE
    both = fitted.predict(panel, pd.DatetimeIndex([ISSUE, LATE]))             # several issues in one call
    pd.testing.assert_frame_equal(both[both["issue_time"] == LATE].drop(columns="model").reset_index(drop=True),
                                  fitted.predict(panel, LATE).drop(columns="model"))


def test_no_look_ahead_and_clear_errors(setup):
    _, _, panel, fitted = setup
    base = fitted.predict(panel, ISSUE)
    rng = np.random.default_rng(0)
    scrambled = panel.copy()
    after = scrambled["time"] >= ISSUE
    scrambled.loc[after, "ci_direct"] = rng.permutation(scrambled.loc[after, "ci_direct"].to_numpy()) * 3.0
    pd.testing.assert_frame_equal(fitted.predict(scrambled, ISSUE), base)
    short = panel[panel["time"] >= pd.Timestamp("2024-03-18", tz="UTC")]   # cannot re-forecast 14–17 March issues
    with pytest.raises(ValueError, match=r"past \(re-forecast\) issue time\(s\) \(e\.g\. CA-ON 2024-03-14 23:00"):
        fitted.predict(short, ISSUE)
    one_day = dataclasses.replace(fitted, weighting=RollingEnsemble(fitted.buckets, 1, 2.0, 1.5))
    reaches = fitted.cutoff + pd.Timedelta(days=5)   # look-back reaches the cut-off: the backtest's fallback applies
    assert len(one_day.predict(panel, reaches)) == 48
    with pytest.raises(ValueError, match=r"no observed member error in the last 1 d .*bucket 1"):
        one_day.predict(panel, LATE)   # 25–48 h never observed within 1 day, earlier days not re-forecast
    with pytest.raises(ValueError, match="no observed member error in the last 1 d"):
        one_day.predict(panel, pd.DatetimeIndex([reaches, LATE]))   # the days between the two look-backs are missing


def test_static_weights_with_rolling_calibration_equal_the_backtest(setup):
    """Rolling calibration with static weights: corrections refitted at T."""
    _, cfg, panel, _ = setup
    w, b = cfg.windows, cfg.backtest
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    factories = model_factories(cfg)
    settings = PipelineSettings(b.issue_hour, b.horizon_h, tuple(MEMBERS), ErrorWeightedEnsemble(b.buckets),
                                RollingCQR(b.buckets, 4))
    fitted = artifact.train(panel, "ci_direct", factories, windows, settings)
    assert fitted.rolling and fitted.lookback_days == 4 and fitted.label.endswith(")+cqr")
    bt = run_backtest(panel, "ci_direct", factories, windows, settings, progress=False)
    ens = bt.forecasts[(bt.forecasts["model"] == "ensemble") & (bt.forecasts["window"] == "test")]
    ours = fitted.predict(panel, ISSUE)
    theirs = ens[ens["issue_time"] == ISSUE].sort_values("time")
    np.testing.assert_allclose(ours[VALUES].to_numpy(), theirs[VALUES].to_numpy(), rtol=1e-9)
    static_cqr = StaticCQR(b.buckets)
    static_cqr.static = fitted.calibration.static
    static = dataclasses.replace(fitted, calibration=static_cqr, validation=None).predict(panel, ISSUE)
    assert not np.allclose(static["q0.05"].to_numpy(), theirs["q0.05"].to_numpy())   # validation-only CQR differs
