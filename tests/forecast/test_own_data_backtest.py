"""Bring your own zone: a shipped export renamed into a zone and a year the bundle does not have, found in a
user data dir (CARBONSHIFT_DATA_DIR) and backtested through `carbonshift forecast backtest`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from carbonshift.forecast.data.registry import REPO_ROOT

CLI = [sys.executable, "-m", "carbonshift.experiments.cli"]


def make_user_zone(shared: Path, dest: Path, zone: str = "CA-ON", year: int = 2024) -> Path:
    """GB 2023 as ``zone`` ``year``: the file renamed, its Zone Id rewritten, its hours moved on by 365 days."""
    frame = pd.read_csv(shared / "electricitymaps" / "GB_2023_hourly.csv.gz", dtype=str, keep_default_na=False)
    frame["Zone Id"] = zone
    frame["Datetime (UTC)"] = (pd.to_datetime(frame["Datetime (UTC)"]) + pd.Timedelta(days=365)).dt.strftime(
        "%Y-%m-%d %H:%M:%S")
    path = dest / "electricitymaps" / f"{zone}_{year}_hourly.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return dest


def cli_env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "CARBONSHIFT_DATA_DIR": str(data_dir), "CARBONSHIFT_RUNS_DIR": str(tmp_path / "runs")}


@pytest.mark.slow
def test_unknown_zone_and_year_backtest_through_the_cli(shared_data, tmp_path):
    data_dir = make_user_zone(shared_data, tmp_path / "mydata")
    proc = subprocess.run([*CLI, "forecast", "backtest", str(REPO_ROOT / "experiments/configs/own_zone.yaml"),
                           "--json", "--reports-dir", str(tmp_path / "reports")],
                          cwd=tmp_path, env=cli_env(tmp_path, data_dir), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["status"] == "FINISHED"
    metrics = {r["metric"]: r["value"] for r in doc["metrics"]}
    for model in ("seasonal24", "gbm", "ensemble"):
        assert 0 < metrics[f"mape.ci_direct.{model}.CA-ON"] < 200
    assert [r["model"] for r in doc["mape_by_region"]] and "CA-ON" in doc["mape_by_region"][0]
    # stdout: summary and metric/report tables only; the forecast table is a file (reports + MLflow files/)
    assert "forecast_ensemble" not in doc and len(proc.stdout) < 200_000
    table = pd.read_csv(tmp_path / "reports" / "own_zone" / doc["run_id"] / "forecast_ensemble.csv", parse_dates=["issue_time"])
    assert set(table["region"]) == {"CA-ON"} and len(table) == 14 * 48
    assert table["issue_time"].min() == pd.Timestamp("2024-03-14 23:00", tz="UTC")
    logged = list((tmp_path / "runs").rglob("files/forecast_ensemble.csv"))
    assert len(logged) == 1 and logged[0].read_bytes() == (tmp_path / "reports/own_zone/latest/forecast_ensemble.csv").read_bytes()


@pytest.mark.slow
def test_user_dacf_region_backtests_without_published_forecasts(shared_data, tmp_path):
    import gzip

    from carbonshift.experiments.config import parse
    from carbonshift.experiments.kinds.backtest import BacktestConfig
    from carbonshift.experiments.kinds.backtest import run as run_kind
    from carbonshift.experiments.registry import Context

    (tmp_path / "dacf").mkdir()
    for kind in ("2019_clean", "direct_emissions"):
        with gzip.open(shared_data / "dacf" / f"SE_{kind}.csv.gz", "rb") as src:
            (tmp_path / "dacf" / f"NO1_{kind}.csv").write_bytes(src.read())
    doc = {"kind": "backtest", "name": "own_dacf", "data": {"source": "dacf", "regions": ["NO1", "CISO"]},
           "windows": {"train_start": "2020-11-01", "train_end": "2021-01-31", "val_start": "2021-02-01",
                       "val_end": "2021-02-14", "test_start": "2021-07-01", "test_end": "2021-07-07"},
           "backtest": {"buckets": [24, 48], "ensemble_members": ["seasonal24", "gbm"]},
           "models": {"naive": {"kinds": ["seasonal24"]}, "gbm": {"max_iter": 20, "learning_rate": 0.2}}}
    res = run_kind(parse(doc, BacktestConfig, "own_dacf"), Context(data_dir=str(tmp_path), out_dir=tmp_path / "r",
                                                                  progress=False))
    for region in ("NO1", "CISO"):
        assert 0 < res.metrics[f"mape.ci_direct.gbm.{region}"] < 100
    assert res.summary["dacf_published_ci_direct"] == "not compared: no published DACF forecasts for ['NO1']"
    assert not any(k.startswith("mape.ci_direct.dacf.") for k in res.metrics)


@pytest.mark.slow
def test_unknown_zone_and_year_in_panel_summary(shared_data, tmp_path):
    """panel_summary takes a zone and a year the bundle does not ship (no weather file: weather off)."""
    data_dir = make_user_zone(shared_data, tmp_path / "mydata")
    proc = subprocess.run([*CLI, "run", str(REPO_ROOT / "experiments/configs/quickstart_data.yaml"), "--json",
                           "--set", "data.zones=[CA-ON]", "--set", "data.years=[2024]", "--set", "data.weather=false",
                           "--reports-dir", str(tmp_path / "reports")],
                          cwd=tmp_path, env=cli_env(tmp_path, data_dir), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["zone_summary"]
    assert [r["zone"] for r in rows] == ["CA-ON"] and rows[0]["start_utc"].startswith("2024-01-0")
