"""Curtailment windows: hysteresis, minimum length, percentile/absolute rules, real panel slice."""
import numpy as np
import pytest

from carbonshift.scheduler.curtailment import WindowRule, surplus_windows, window_table, windows_from_panel


def test_hysteresis_and_min_length():
    v = np.array([[0, 90, 75, 85, 60, 90, 0, 0, 95, 0.0]])
    rule = WindowRule(mode="absolute", enter=80, hysteresis=10, min_hours=1)
    # opens at 90, stays through 75 (≥ exit 70), closes at 60; reopens at 90, 95
    assert surplus_windows(v, rule).astype(int).tolist() == [[0, 1, 1, 1, 0, 1, 0, 0, 1, 0]]
    no_h = WindowRule(mode="absolute", enter=80, hysteresis=0, min_hours=1)
    assert surplus_windows(v, no_h).astype(int).tolist() == [[0, 1, 0, 1, 0, 1, 0, 0, 1, 0]]
    long = WindowRule(mode="absolute", enter=80, hysteresis=10, min_hours=2)
    assert surplus_windows(v, long).astype(int).tolist() == [[0, 1, 1, 1, 0, 0, 0, 0, 0, 0]]


def test_low_ci_is_surplus():
    v = np.array([[300, 50, 60, 300.0]])
    m = surplus_windows(v, WindowRule(column="ci_direct", mode="absolute", enter=100, hysteresis=0, min_hours=1))
    assert m.astype(int).tolist() == [[0, 1, 1, 0]]


def test_real_panel_percentile_windows():
    from carbonshift.forecast.data.panel import load_panel

    panel = load_panel(["DE", "GB"], [2023], weather=False)
    rule = WindowRule(enter=80, hysteresis=10, min_hours=3)
    mask, times, regions = windows_from_panel(panel, rule)
    share = mask.mean(axis=1)
    assert mask.shape == (2, len(times)) and np.all((share > 0.1) & (share < 0.4))
    tab = window_table(mask, times, regions)
    assert tab["hours"].min() >= 3 and tab.groupby("region")["hours"].sum().to_dict() == dict(
        zip(regions, mask.sum(axis=1).tolist()))


def test_bad_rule():
    with pytest.raises(ValueError, match="mode"):
        WindowRule(mode="median")
