"""Train once, predict later: `forecast train` → artifact (MLflow) → `forecast predict` in a fresh process gives
the byte-identical forecast table; the trained ensemble is the backtest's at its first test issue."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import as_dict
from carbonshift.experiments.config import load as load_config
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import model_factories, pipeline_settings
from carbonshift.forecast import artifact
from carbonshift.forecast.backtest import Windows, run_backtest
from carbonshift.forecast.calibration import StaticCQR
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.registry import REPO_ROOT
from carbonshift.forecast.data.schema import FORECAST_COLUMNS, PANEL_COLUMNS
from test_own_data_backtest import cli_env, make_user_zone

CLI = [sys.executable, "-m", "carbonshift.experiments.cli"]
CONFIG = REPO_ROOT / "experiments/configs/own_zone.yaml"
ISSUE = pd.Timestamp("2024-03-20 23:00", tz="UTC")


@pytest.fixture(scope="module")
def user_dir(shared_data, tmp_path_factory) -> Path:
    return make_user_zone(shared_data, tmp_path_factory.mktemp("mydata"))


def _train_in_process(data_dir: Path) -> tuple[artifact.TrainedForecaster, pd.DataFrame, BacktestConfig]:
    cfg = load_config(CONFIG, BacktestConfig)
    panel = load_panel(["CA-ON"], [2024], weather=False, data_dir=data_dir)
    factories = model_factories(cfg)
    w = cfg.windows
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    fitted = artifact.train(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories),
                            config=as_dict(cfg))
    return fitted, panel, cfg


def _cli(args: list[str], tmp_path: Path, data_dir: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *args], cwd=tmp_path, env=cli_env(tmp_path, data_dir), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_train_predict_round_trip_in_fresh_processes(user_dir, tmp_path):
    fitted, panel, _ = _train_in_process(user_dir)
    in_memory = fitted.predict(panel, ISSUE)
    assert list(in_memory.columns) == ["model", *FORECAST_COLUMNS] and len(in_memory) == 48
    assert in_memory["model"].unique().tolist() == [fitted.label] and fitted.label.startswith("ensemble(seasonal24 ")
    expected = in_memory.to_csv(index=False).encode()
    fitted.save(tmp_path / "local")
    out = tmp_path / "from_folder.csv"
    _cli(["forecast", "predict", str(tmp_path / "local"), "--issue-time", "2024-03-20T23:00Z", "--out", str(out)],
         tmp_path, user_dir)
    assert out.read_bytes() == expected          # saved → reloaded in a fresh process: byte-identical
    train = json.loads(_cli(["forecast", "train", str(CONFIG), "--json", "--out", str(tmp_path / "trained")],
                            tmp_path, user_dir).stdout)
    uri = train["forecasters"][0]["model_uri"]
    assert uri.startswith("runs:/") and train["forecasters"][0]["cutoff"] == "2024-03-14T23:00:00+00:00"
    out2 = tmp_path / "from_mlflow.csv"
    _cli(["forecast", "predict", uri, "--issue-time", "2024-03-20T23:00Z", "--out", str(out2)], tmp_path, user_dir)
    assert out2.read_bytes() == expected         # trained by the CLI, pulled from MLflow: the same table
    manifest = json.loads((tmp_path / "trained/forecaster/data/forecaster/forecaster.json").read_text())
    assert [m["name"] for m in manifest["members"]] == ["seasonal24", "gbm"] and manifest["label"] == fitted.label
    assert manifest["code_version"]["git_commit"] and manifest["config"]["name"] == "own_zone"
    # it is an MLflow (pyfunc) model too: the issue time is the hour after the last observed target hour
    import mlflow
    import mlflow.pyfunc
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    try:
        pyfunc = mlflow.pyfunc.load_model(uri).predict(panel[panel["time"] < ISSUE])
        logged = mlflow.get_run(uri.split("/")[1]).data.metrics   # what forecast train fitted, scored on validation
    finally:
        mlflow.set_tracking_uri(before)
    pd.testing.assert_frame_equal(pyfunc, in_memory)
    for model in ("seasonal24", "gbm", "ensemble_uncalibrated"):
        assert 0 < logged[f"val_mape.ci_direct.{model}.CA-ON"] < 200 and f"val_picp90.ci_direct.{model}.mean" in logged
    assert logged["val_mape.ci_direct.gbm.CA-ON"] == pytest.approx(
        fitted.validation_scores.set_index(["model", "region"]).loc[("gbm", "CA-ON"), "mape"])
    assert {"dropped_share.ci_direct.gbm", "dropped_share.ci_direct.seasonal24"} <= set(logged)
    # the scheduler's `forecast.source: table` reads it the way experiments/kinds/simulate.py does
    from carbonshift.scheduler.signals import ForecastSignal
    table = pd.read_csv(out2, parse_dates=["issue_time", "time"])
    times = pd.date_range("2024-03-21", periods=48, freq="h", tz="UTC")
    signal = ForecastSignal.from_table(table, ["CA-ON"], times)
    assert signal is not None


@pytest.mark.slow
def test_trained_ensemble_equals_the_backtest_at_every_issue(user_dir):
    """own_zone.yaml's default adaptive calibration: its online level starts at the cut-off, so predict replays
    every issue since then and equals the backtest at the first issue and at later ones."""
    fitted, panel, cfg = _train_in_process(user_dir)
    factories = model_factories(cfg)
    w = cfg.windows
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    bt = run_backtest(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories), progress=False)
    assert list(fitted.members) == ["seasonal24", "gbm"] and fitted.calibration.spec()["method"] == "adaptive"
    ens = bt.forecasts[(bt.forecasts["model"] == "ensemble") & (bt.forecasts["window"] == "test")]
    for issue in (fitted.cutoff, ISSUE, ISSUE + pd.Timedelta(days=7)):
        theirs = ens[ens["issue_time"] == issue].sort_values("time")
        ours = fitted.predict(panel, issue)
        assert len(ours) == len(theirs) == 48
        np.testing.assert_allclose(ours[["mean", "q0.05", "q0.95"]].to_numpy(),
                                   theirs[["mean", "q0.05", "q0.95"]].to_numpy(), rtol=1e-12, err_msg=str(issue))


def test_future_targets_are_masked_and_bad_inputs_fail_clearly(user_dir, tmp_path):
    fitted, panel, _ = _train_in_process(user_dir)
    base = fitted.predict(panel, ISSUE)
    leaked = panel.copy()
    leaked.loc[leaked["time"] >= ISSUE, "ci_direct"] *= 5.0
    pd.testing.assert_frame_equal(fitted.predict(leaked, ISSUE), base)
    with pytest.raises(ValueError, match="before the training cut-off 2024-03-14 23:00"):
        fitted.predict(panel, pd.Timestamp("2024-03-10 23:00", tz="UTC"))
    folder = fitted.save(tmp_path / "m")
    blob = bytearray((folder / "members/gbm/model.pkl").read_bytes())
    blob[-5] ^= 1
    (folder / "members/gbm/model.pkl").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"members/gbm/model\.pkl: sha256 differs"):
        artifact.load(folder)
    with pytest.raises(FileNotFoundError, match="not a forecaster artifact"):
        artifact.load(tmp_path)


@pytest.mark.slow
def test_predict_from_a_live_store_matches_the_data_dir(user_dir, tmp_path):
    from carbonshift.forecast.live.store import LiveStore

    fitted, panel, _ = _train_in_process(user_dir)
    folder = fitted.save(tmp_path / "m")
    rows = panel[panel["time"] < ISSUE][list(PANEL_COLUMNS)].assign(
        ci_marginal=np.nan, source="electricitymaps", fetched_at=pd.Timestamp("2024-03-21", tz="UTC"))
    LiveStore(tmp_path / "live.sqlite").append(rows)
    out = tmp_path / "live.csv"
    _cli(["forecast", "predict", str(folder), "--issue-time", "2024-03-20T23:00Z", "--live-store",
          str(tmp_path / "live.sqlite"), "--out", str(out)], tmp_path, user_dir)
    assert out.read_bytes() == fitted.predict(panel, ISSUE).to_csv(index=False).encode()


@pytest.mark.slow
def test_daily_issues_and_stale_history(user_dir):
    fitted, panel, _ = _train_in_process(user_dir)
    issues = pd.date_range(ISSUE, periods=3, freq="D")
    table = fitted.predict(panel, issues)
    assert table.groupby("issue_time").size().to_dict() == {t: 48 for t in issues}
    one = fitted.predict(panel, issues[1:2])
    pd.testing.assert_frame_equal(table[table["issue_time"] == issues[1]].reset_index(drop=True), one)
    stale = panel[panel["time"] < ISSUE - pd.Timedelta(hours=5)]
    with pytest.raises(ValueError, match=r"hour before 1 requested issue time\(s\) \(e\.g\. CA-ON 2024-03-20 23:00 UTC\)"):
        fitted.predict(stale, ISSUE)              # adaptive calibration (own_zone's default): the rolling path
    static = StaticCQR(fitted.buckets)
    static.static = fitted.calibration.static
    with pytest.raises(ValueError, match=r"issue time 2024-03-20 23:00 UTC for CA-ON \(last observed 2024-03-20 17:00 UTC\)"):
        dataclasses.replace(fitted, calibration=static, validation=None).predict(stale, ISSUE)


@pytest.mark.slow   # an LSTM fit
def test_neural_member_survives_the_artifact(dacf_slice, windows):
    """The attention-LSTM (a Lightning module class built inside a function) saves and reloads to the same forecast."""
    import pickle

    from carbonshift.forecast.models.lstm import LSTMForecaster

    until, issues = windows
    ciso = dacf_slice[dacf_slice["region"] == "CISO"]
    model = LSTMForecaster(23, 48, encoder_h=48, hidden=8, max_epochs=1, batch_size=64, stride_h=12,
                           patience=1).fit(ciso, "ci_direct", until=until)
    again = pickle.loads(pickle.dumps(model, protocol=5))
    pd.testing.assert_frame_equal(again.predict(ciso, issues[:2], 48), model.predict(ciso, issues[:2], 48))
