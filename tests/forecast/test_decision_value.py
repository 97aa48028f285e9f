"""Decision value (forecast.decision_value): hand-checkable synthetic cases and a real slice."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.decision_value import decide, shape_grid, to_cube


def _cycle(n_i: int = 30, n_r: int = 2, n_h: int = 48, seed: int = 0) -> np.ndarray:
    """A daily cycle with noise and a per-region level: actual intensities [issue × region × horizon]."""
    rng = np.random.default_rng(seed)
    h = np.arange(n_h)
    base = 300 + 100 * np.sin(2 * np.pi * h / 24)[None, None, :] + 50 * np.arange(n_r)[None, :, None]
    return base + rng.normal(0, 20, (n_i, n_r, n_h))


def test_hand_example_temporal_and_spatial():
    # one issue, two regions, 4 hours; L=2, S=4 → starts 1, 2, 3
    actual = np.array([[[10., 8., 2., 4.], [6., 1., 1., 9.]]])
    point = np.array([[[10., 9., 9., 1.], [6., 1., 1., 9.]]])   # region 0 prefers start 3 (mean 5 → actual 3)
    d = decide(point, actual, [(2, 4)])
    assert d.run_now[0, 0].tolist() == [9.0, 3.5]
    assert d.chosen_start[0, 0].tolist() == [3, 2] and d.best_start[0, 0].tolist() == [3, 2]
    assert d.chosen[0, 0].tolist() == [3.0, 1.0] and d.best[0, 0].tolist() == [3.0, 1.0]
    s = decide(point, actual, [(2, 4)], spatial=True)   # best over all: region 1, start 2 (mean 1)
    assert s.chosen_region[0, 0].tolist() == [1, 1] and s.chosen_start[0, 0].tolist() == [2, 2]
    assert s.best[0, 0].tolist() == [1.0, 1.0] and s.run_now[0, 0].tolist() == [9.0, 3.5]


def test_ties_pick_earliest_start():
    actual = np.array([[[5., 1., 1., 1.]]])
    d = decide(np.zeros_like(actual), actual, [(1, 4)])   # constant forecast: every start ties → run now
    assert d.chosen_start[0, 0, 0] == 1 and d.best_start[0, 0, 0] == 2
    assert d.chosen[0, 0, 0] == d.run_now[0, 0, 0] == 5.0
    assert np.isnan(d.spearman[0, 0, 0])   # constant forecast: rank correlation undefined


def test_perfect_and_inverted_forecasts():
    actual = _cycle()
    shapes, _ = shape_grid(48)
    perfect = decide(actual, actual, shapes)
    assert np.array_equal(perfect.chosen_start, perfect.best_start)
    assert np.allclose(perfect.spearman[perfect.length_h < perfect.slack_h], 1.0)
    inv = decide(-actual, actual, shapes)
    wide = inv.slack_h > inv.length_h
    assert (inv.chosen[wide] >= inv.best[wide]).all() and np.nanmean(inv.spearman[wide]) < -0.99


def test_incomplete_windows_are_counted():
    actual, point = _cycle(n_i=3, n_r=1), _cycle(n_i=3, n_r=1, seed=1)
    actual[1, 0, 30] = np.nan      # issue 1: hour 31 missing → S=48 excluded, S ≤ 24 scored
    point[2, 0, 5] = np.nan        # issue 2: forecast hour 6 missing → every shape with S ≥ 6 excluded
    d = decide(point, actual, [(1, 24), (4, 48)])
    assert d.valid[:, :, 0].tolist() == [[True, True, False], [True, False, False]]
    assert d.missing_actual[:, :, 0].tolist() == [[False, False, False], [False, True, False]]
    assert d.missing_forecast[:, :, 0].tolist() == [[False, False, True], [False, False, True]]
    assert np.isnan(d.chosen[1, 1, 0]) and d.chosen_start[1, 1, 0] == -1


def test_shape_grid_drops_with_reasons():
    kept, dropped = shape_grid(48)
    assert (24, 48) in kept and (1, 96) not in kept and (12, 6) not in kept
    assert "L=12 h, S=6 h: length exceeds slack" in dropped
    assert "L=1 h, S=96 h: slack beyond the table's 48 h horizon" in dropped
    assert len(kept) + len(dropped) == 36
    with pytest.raises(ValueError, match="L ≤ S"):
        decide(np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), [(2, 6)])


def test_to_cube_pivots_a_table():
    issues = pd.date_range("2023-01-01 23:00", periods=2, freq="D", tz="UTC")
    rows = [{"region": r, "issue_time": t, "time": t + pd.Timedelta(hours=h), "horizon_h": h,
             "mean": 10 * h + k, "actual": h} for k, r in enumerate(["B", "A"]) for t in issues for h in (1, 2, 3)]
    cube = to_cube(pd.DataFrame(rows).drop(index=[4]))   # region B, issue 2, horizon 2 missing
    assert cube.regions == ("B", "A") and cube.point.shape == (2, 2, 3) and cube.quantiles is None
    assert cube.point[0, 1, 2] == 31 and np.isnan(cube.point[1, 0, 1])


def test_captured_share_known_cases():
    from carbonshift.forecast.decision_value import captured_share
    actual = _cycle()
    shapes, _ = shape_grid(48)
    assert captured_share(decide(actual, actual, shapes)) == pytest.approx(100.0)
    assert captured_share(decide(np.ones_like(actual), actual, shapes)) == pytest.approx(0.0)
    assert captured_share(decide(-actual, actual, shapes)) < 0
    per_region = captured_share(decide(actual + _cycle(seed=3) - 300, actual, shapes), axis=(0, 1))
    assert per_region.shape == (2,) and ((per_region > 0) & (per_region < 100)).all()
