"""Causal surplus windows from forecasts (scheduler.curtailment.forecast_windows): no look-ahead, hand-off,
precision/recall by hand."""
import numpy as np
import pytest

from carbonshift.scheduler.curtailment import (ForecastWindowRule, WindowRule, forecast_windows, handoff_mask,
                                   precision_recall)

H = 48


def _setup(seed=0, days=45):
    rng = np.random.default_rng(seed)
    t = 24 * days
    actual = 50 + 40 * np.sin(np.arange(t) / 24 * 2 * np.pi)[None, :] + rng.normal(0, 8, (3, t))
    issues = np.arange(24 * 29 - 1, t - H, 24)                     # daily at 23:00 after 4 weeks of history
    forecast = np.stack([actual[:, i + 1:i + 1 + H] for i in issues]) + rng.normal(0, 10, (len(issues), 3, H))
    return actual, issues, forecast


@pytest.mark.parametrize("rule", [WindowRule(min_hours=3), WindowRule(mode="absolute", enter=70.0, min_hours=1)])
def test_scrambling_future_actuals_leaves_forecast_windows_unchanged(rule):
    actual, issues, forecast = _setup()
    fr = ForecastWindowRule(trailing_days=28, stat="mean", warmup_h=24)
    base = forecast_windows(actual, issues, forecast, rule, fr)
    rng = np.random.default_rng(7)
    for k, i in enumerate(issues):
        scrambled = actual.copy()
        scrambled[:, i:] = rng.permutation(scrambled[:, i:].T).T * 3.0        # everything from the issue on
        scrambled[:, :i - 28 * 24] = -1e3                                       # and before the trailing window
        again = forecast_windows(scrambled, issues[k:k + 1], forecast[k:k + 1], rule, fr)
        np.testing.assert_array_equal(again[0], base[k])


def test_thresholds_use_past_actuals_only_so_they_move_with_the_issue():
    actual, issues, forecast = _setup()
    fr = ForecastWindowRule(trailing_days=7)
    shifted = actual.copy()
    shifted[:, issues[3] - 7 * 24:issues[3]] += 30.0                            # a greener past week at issue 3
    a = forecast_windows(actual, issues[3:4], forecast[3:4], WindowRule(min_hours=1), fr)
    b = forecast_windows(shifted, issues[3:4], forecast[3:4], WindowRule(min_hours=1), fr)
    assert b.sum() < a.sum()                                                    # higher bar, fewer window hours


def test_windows_from_actual_future_values_match_the_hysteresis_by_hand():
    actual = np.zeros((1, 30))
    actual[0, :24] = np.tile([0.0, 100.0], 12)
    future = np.array([[[100.0, 50.0, 0.0, 100.0, 100.0, 100.0]]])
    rule = WindowRule(mode="absolute", enter=80.0, hysteresis=40.0, min_hours=2)  # enter 80, exit 40
    fr = ForecastWindowRule(trailing_days=1, warmup_h=2)                         # warm-up: [0, 100] → open at hour 23
    got = forecast_windows(actual, np.array([24]), future, rule, fr)[0, 0]
    # open (100) → 50 ≥ exit 40 stays open → 0 closes → 100,100,100 opens a 3-h window
    np.testing.assert_array_equal(got, [True, True, False, True, True, True])


def test_handoff_takes_the_latest_issue_before_each_hour_and_fails_on_gaps():
    member = np.zeros((2, 1, 4), dtype=bool)
    member[0, 0, :] = [True, False, True, False]                                # issue at hour 10: hours 11–14
    member[1, 0, :] = [False, True, True, True]                                 # issue at hour 12: hours 13–16
    got = handoff_mask(member, np.array([10, 12]), 11, 6)[0]
    np.testing.assert_array_equal(got, [True, False, False, True, True, True])  # 11,12 from 10; 13–16 from 12
    with pytest.raises(ValueError, match="no forecast issue covers hour 17"):
        handoff_mask(member, np.array([10, 12]), 11, 7)


def test_precision_recall_by_hand():
    pred = np.array([[[1, 1, 0, 1], [0, 0, 0, 0]]], dtype=bool)                 # [I=1 × R=2 × H=4]
    act = np.array([[[1, 0, 1, 1], [0, 1, 0, 0]]], dtype=bool)
    t = precision_recall(pred, act, ["A", "B"], np.array([1, 2, 7, 8]), buckets=(6, 12))
    a = t[t["region"] == "A"].set_index("horizon")
    assert a.loc["1-6h", ["tp", "fp", "fn"]].tolist() == [1, 1, 0]
    assert a.loc["1-6h", "precision_pct"] == pytest.approx(50.0) and a.loc["1-6h", "recall_pct"] == 100.0
    assert a.loc["7-12h", ["tp", "fp", "fn"]].tolist() == [1, 0, 1]
    assert a.loc["7-12h", "recall_pct"] == pytest.approx(50.0)
    b = t[t["region"] == "B"].set_index("horizon")
    assert np.isnan(b.loc["1-6h", "precision_pct"]) and b.loc["1-6h", "recall_pct"] == 0.0
    hour = precision_recall(pred[0], act[0], ["A", "B"])                        # [R × T] masks: one bucket
    assert hour["horizon"].tolist() == ["all", "all"] and hour["tp"].tolist() == [2, 0]


def test_too_little_history_is_a_clear_error():
    actual, issues, forecast = _setup()
    with pytest.raises(ValueError, match="needs 672 h of actuals"):
        forecast_windows(actual, issues - 24 * 10, forecast, WindowRule(), ForecastWindowRule(trailing_days=28))
