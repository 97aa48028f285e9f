"""A backtest's scores and warnings as metrics and summary lines (experiments.backtest_results)."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

from carbonshift.experiments.backtest_results import (coverage_warnings, dacf_metrics, score_metrics,
                                                      weather_forecast_note)


def test_score_metrics_name_each_score_by_target_model_key_and_region_and_average_some_over_regions():
    scores = pd.DataFrame({"model": ["e+cqr", "e+cqr", "gbm"], "region": ["A", "B", "A"], "n": [24, 24, 24],
                           "mape": [2.0, 4.0, 3.0], "accuracy": [0.98, 0.96, 0.97], "crps": [1.0, 3.0, 2.0],
                           "picp50": 0.5, "picp80": 0.8, "picp90": [0.9, 0.7, 0.9], "width90": [10.0, 20.0, 5.0]})
    m = score_metrics(scores, "ci_direct", {"e+cqr": "ensemble"})
    assert m["mape.ci_direct.ensemble.B"] == 4.0 and m["width90.ci_direct.gbm.A"] == 5.0
    assert m["mape.ci_direct.ensemble.mean"] == 3.0 and m["picp90.ci_direct.ensemble.mean"] == pytest.approx(0.8)
    assert "n.ci_direct.gbm.A" not in m and "width90.ci_direct.ensemble.mean" not in m
    assert len(m) == 3 * 7 + 2 * 6
    val = score_metrics(scores, "ci_direct", {}, prefix="val_", means=("mape",))   # forecast train's naming
    assert val["val_mape.ci_direct.e+cqr.mean"] == 3.0 and val["val_crps.ci_direct.gbm.A"] == 2.0
    assert len(val) == 3 * 7 + 2


def test_dacf_metrics_are_the_published_rows_mape_per_region():
    mape_t = pd.DataFrame({"model": ["gbm", "DACF (published)"], "CISO": [5.0, 6.84], "SE": [9.0, 12.5]})
    assert dacf_metrics(mape_t, "ci_direct") == {"mape.ci_direct.dacf.CISO": 6.84, "mape.ci_direct.dacf.SE": 12.5}


def test_coverage_warnings_say_and_log_each_alert(caplog):
    alerts = pd.DataFrame({"region": ["DE"], "window_days": [14], "picp_min": [0.71234],
                           "window_end": ["2021-08-01"], "days_below": [5]})
    with caplog.at_level(logging.WARNING):
        notes = coverage_warnings(alerts, "ci_direct")
    assert notes == ["ci_direct DE: trailing 14-day 90 % coverage fell to 71.2% (window ending 2021-08-01; "
                     "5 days below 85 %)"]
    assert [r.getMessage() for r in caplog.records] == [f"interval coverage: {notes[0]}"]
    assert coverage_warnings(alerts.iloc[:0], "ci_direct") == []


def test_weather_forecast_note_counts_hours_every_forecast_covers():
    panel = pd.DataFrame({"region": "DE", "fc_temp": [1.0, None, 3.0, 4.0], "fc_wind": [1.0, 2.0, None, 4.0],
                          "obs_temp": None})
    assert weather_forecast_note(panel, 48) == ("Open-Meteo ['fc_temp', 'fc_wind'], each hour's value published "
                                                "≥ 48 h before it; 50.0% of hours covered")
