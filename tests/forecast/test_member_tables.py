"""Per-member forecast tables of the backtest kind (output.member_tables): the forecast-table schema, each member's
own conformal intervals (fitted on its validation forecasts only), truthful names, and no test-window leakage."""
import numpy as np
import pandas as pd
import pytest
import yaml

from carbonshift.experiments.config import load
from carbonshift.experiments.kinds.backtest import BacktestConfig
from carbonshift.forecast.backtest_tables import member_tables
from carbonshift.experiments.kinds.backtest import run as run_kind
from carbonshift.experiments.registry import Context
from carbonshift.forecast.backtest import PipelineSettings, Windows, extend_panel, issue_times, run_backtest
from carbonshift.forecast.calibration import ConformalCalibrator, RollingCQR, StaticCQR
from carbonshift.forecast.data.schema import QUANTILE_COLUMNS
from carbonshift.forecast.models.base import check_forecast_table
from carbonshift.forecast.models.naive import NaiveForecaster

WINDOWS = Windows.from_strings("2020-10-01", "2020-12-31", "2021-01-01", "2021-01-12", "2021-01-13", "2021-01-25")
MODELS = {"persistence": lambda: NaiveForecaster("persistence", horizon=48),
          "seasonal24": lambda: NaiveForecaster("seasonal24", horizon=48)}


def _tables(panel: pd.DataFrame, calibration_window_days: int = 0) -> dict[str, pd.DataFrame]:
    calibration = RollingCQR(window_days=calibration_window_days) if calibration_window_days else StaticCQR()
    bt = run_backtest(panel, "ci_direct", MODELS, WINDOWS, PipelineSettings(calibration=calibration), progress=False)
    return member_tables(bt.forecasts, list(MODELS), {})


def _with_actual(table: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    actual = panel.set_index(["region", "time"])["ci_direct"]
    return table.assign(actual=actual.reindex(pd.MultiIndex.from_frame(table[["region", "time"]])).to_numpy(float))


def test_member_tables_hold_each_members_own_validation_calibrated_intervals(dacf_slice):
    tables = _tables(dacf_slice)
    assert set(tables) == {"persistence", "seasonal24"}
    data = extend_panel(dacf_slice[dacf_slice["time"] >= WINDOWS.train_start], 48)
    val_issues = issue_times(WINDOWS.val_start, WINDOWS.val_end, 23)
    test_issues = issue_times(WINDOWS.test_start, WINDOWS.test_end, 23)
    for name, table in tables.items():
        check_forecast_table(table, name)
        assert set(table["model"]) == {f"{name}+cqr"} and set(table["window"]) == {"test"}
        assert (table.groupby(["region", "issue_time"]).size() == 48).all()
        assert table["issue_time"].min() == test_issues[0]
        q = table[list(QUANTILE_COLUMNS)].to_numpy(float)
        assert (np.diff(q, axis=1) >= -1e-9).all()
        # independent re-derivation: the raw member, CQR fitted on its own validation forecasts only
        raw_val = MODELS[name]().fit(data, "ci_direct", until=val_issues[0]).predict(data, val_issues, 48)
        raw_val = _with_actual(raw_val[raw_val["time"] < test_issues[0]], dacf_slice)
        raw_test = MODELS[name]().fit(data, "ci_direct", until=test_issues[0]).predict(data, test_issues, 48)
        expected = ConformalCalibrator().fit(raw_val).transform(_with_actual(raw_test, dacf_slice))
        got = table.sort_values(["region", "issue_time", "time"]).reset_index(drop=True)
        expected = expected.sort_values(["region", "issue_time", "time"]).reset_index(drop=True)
        np.testing.assert_allclose(got[list(QUANTILE_COLUMNS)].to_numpy(float),
                                   expected[list(QUANTILE_COLUMNS)].to_numpy(float), rtol=1e-9)
        uncalibrated = raw_test.sort_values(["region", "issue_time", "time"]).reset_index(drop=True)
        assert not np.allclose(got["q0.95"] - got["q0.05"], uncalibrated["q0.95"] - uncalibrated["q0.05"])
    width = {n: (t["q0.95"] - t["q0.05"]).mean() for n, t in tables.items()}
    assert width["persistence"] != pytest.approx(width["seasonal24"])   # each member its own corrections


@pytest.mark.parametrize("calibration_window_days", [0, 3])
def test_member_tables_do_not_see_the_future(dacf_slice, calibration_window_days):
    tau = pd.Timestamp("2021-01-18 23:00", tz="UTC")           # a mid-test issue
    base = _tables(dacf_slice, calibration_window_days)
    corrupted = dacf_slice.copy()
    corrupted.loc[corrupted["time"] >= tau, "ci_direct"] *= 3.0   # only hours at/after tau change
    other = _tables(corrupted, calibration_window_days)
    cols = ["region", "issue_time", "time", "mean", *QUANTILE_COLUMNS]
    for name in MODELS:
        before = base[name][base[name]["issue_time"] <= tau][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(before, other[name][other[name]["issue_time"] <= tau][cols].reset_index(drop=True))
        later = base[name]["issue_time"] > tau
        assert not np.allclose(base[name].loc[later, "mean"], other[name].loc[later, "mean"])   # the probe bites


def test_member_tables_fail_for_an_unknown_member(dacf_slice):
    bt = run_backtest(dacf_slice, "ci_direct", MODELS, WINDOWS, progress=False)
    with pytest.raises(ValueError, match="gbm"):
        member_tables(bt.forecasts, ["persistence", "gbm"], {})


@pytest.mark.slow
def test_kind_writes_member_tables_next_to_the_ensemble_table(tmp_path):
    doc = {"kind": "backtest", "name": "members_tiny", "data": {"source": "dacf", "regions": ["CISO", "SE"]},
           "windows": {"train_start": "2021-03-01", "train_end": "2021-04-30", "val_start": "2021-05-01",
                       "val_end": "2021-06-30", "test_start": "2021-07-01", "test_end": "2021-07-08"},
           "backtest": {"ensemble_members": ["persistence", "seasonal24"]},
           "models": {"naive": {"kinds": ["persistence", "seasonal24"]}}, "output": {"member_tables": True}}
    path = tmp_path / "members.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = run_kind(load(path, BacktestConfig), Context(progress=False, out_dir=tmp_path))
    files = {f.name: f for f in res.files}
    assert set(files) == {"forecast_ensemble.csv", "forecast_persistence.csv", "forecast_seasonal24.csv"}
    ens = pd.read_csv(files["forecast_ensemble.csv"])
    for name in ("persistence", "seasonal24"):
        table = pd.read_csv(files[f"forecast_{name}.csv"])
        assert list(table.columns) == list(ens.columns) and len(table) == len(ens) == 2 * 8 * 48
        assert set(table["model"]) == {f"{name}+cqr"}
    assert ens["model"].iloc[0].startswith("ensemble(") and ens["model"].iloc[0].endswith(")+cqr")
    doc["output"] = {"member_tables": False}
    path.write_text(yaml.safe_dump(doc))
    assert [f.name for f in run_kind(load(path, BacktestConfig), Context(progress=False, out_dir=tmp_path)).files] \
        == ["forecast_ensemble.csv"]
