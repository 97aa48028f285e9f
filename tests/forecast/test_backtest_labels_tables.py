"""A backtest's rows named by what they are (forecast.backtest_labels) and the tables cut from them
(forecast.backtest_tables)."""
from __future__ import annotations

import pandas as pd
import pytest

from carbonshift.forecast.backtest import BacktestResult
from carbonshift.forecast.backtest_labels import label_models, label_uncalibrated
from carbonshift.forecast.backtest_tables import bucket_summary, ensemble_table, weight_basis

T0 = pd.Timestamp("2021-07-01", tz="UTC")


def _result(weights: dict[str, float]) -> BacktestResult:
    """Forecasts of every weighted member + the calibrated ensemble, one validation and one test row each."""
    models = [*weights, "ensemble"]
    forecasts = pd.DataFrame({"model": [m for m in models for _ in range(2)], "window": ["validation", "test"] * len(models),
                              "region": "DE", "time": T0, "mean": range(2 * len(models))})
    w = pd.DataFrame({"region": "DE", "bucket": 0, "model": list(weights), "weight": list(weights.values()),
                      "mae": 1.0})
    corrections = pd.DataFrame({"model": models, "q": 0.9})
    return BacktestResult(forecasts, w, corrections, pd.DataFrame())


def test_two_positive_members_name_an_ensemble_with_shown_member_names():
    bt = _result({"gbm": 0.75, "lstm": 0.25, "seasonal24": 0.0})
    labels = label_models(bt, {"lstm": "lstm (CPU-sized)"})
    assert labels.ensemble == "ensemble(gbm 0.75, lstm (CPU-sized) 0.25)+cqr"
    assert labels.raw == "ensemble(gbm 0.75, lstm (CPU-sized) 0.25) (uncalibrated)"
    assert labels.keys == {labels.ensemble: "ensemble", "lstm (CPU-sized)": "lstm"}
    for frame in (bt.forecasts, bt.corrections):
        assert set(frame["model"]) == {"gbm", "lstm (CPU-sized)", "seasonal24", labels.ensemble}


def test_one_positive_member_names_the_combination_by_it_and_keys_it_member_cqr():
    bt = _result({"gbm": 1.0, "seasonal24": 0.0})
    labels = label_models(bt, {})
    assert (labels.ensemble, labels.raw) == ("gbm+cqr", "gbm (uncalibrated)")
    assert labels.keys == {"gbm+cqr": "gbm_cqr"}
    coverage = pd.DataFrame({"model": ["ensemble (uncalibrated)", "gbm+cqr"], "picp90": [0.8, 0.9]})
    assert list(label_uncalibrated(coverage, labels)["model"]) == ["gbm (uncalibrated)", "gbm+cqr"]


def test_ensemble_table_is_the_test_rows_of_the_label():
    bt = _result({"gbm": 1.0})
    label_models(bt, {})
    table = ensemble_table(bt.forecasts, "gbm+cqr")
    assert list(table["window"]) == ["test"] and list(table["model"]) == ["gbm+cqr"]


def test_bucket_summary_averages_the_labels_rows_over_regions():
    by_bucket = pd.DataFrame({"model": ["e", "e", "e", "other"], "bucket": [0, 0, 1, 0],
                              "horizons": ["1–24 h", "1–24 h", "25–48 h", "1–24 h"], "region": ["A", "B", "A", "A"],
                              "mape": [2.0, 4.0, 5.12345, 99.0], "picp90": [0.8, 1.0, 0.9, 0.0]})
    assert bucket_summary(by_bucket, "e") == [{"horizons": "1–24 h", "mape": 3.0, "picp90": 0.9},
                                              {"horizons": "25–48 h", "mape": 5.123, "picp90": 0.9}]


@pytest.mark.parametrize("basis", [True, False])
def test_weight_basis_counts_issue_region_bucket_cells(basis):
    w = pd.DataFrame({"issue_time": [T0, T0, T0, T0 + pd.Timedelta(days=1)], "region": "DE", "bucket": [0, 0, 1, 0],
                      "model": ["gbm", "lstm", "gbm", "gbm"], "basis": ["none", "none", "window", "window"]})
    if basis:
        assert weight_basis(w) == {"none": 1, "window": 2}
    else:
        assert weight_basis(w.drop(columns="basis")) is None
