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


def _table(actual: np.ndarray, point: np.ndarray, spread: float = 10.0) -> pd.DataFrame:
    """A forecast table (regions R0, R1, …; daily issues at 23:00 UTC) from [issue × region × horizon] arrays,
    quantiles point ± spread × standard-normal quantiles."""
    from scipy.stats import norm

    from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS
    n_i, n_r, n_h = actual.shape
    i, r, h = (a.ravel() for a in np.meshgrid(np.arange(n_i), np.arange(n_r), np.arange(1, n_h + 1), indexing="ij"))
    issue = pd.date_range("2023-01-01 23:00", periods=n_i, freq="D", tz="UTC")[i]
    t = pd.DataFrame({"region": np.array([f"R{k}" for k in range(n_r)])[r], "issue_time": issue,
                      "time": issue + pd.to_timedelta(h, "h"), "horizon_h": h, "mean": point.ravel(),
                      "actual": actual.ravel()})
    for c, lv in zip(QUANTILE_COLUMNS, QUANTILE_LEVELS):
        t[c] = t["mean"] + spread * norm.ppf(lv)
    return t


def test_scores_known_answers_and_intervals():
    from carbonshift.forecast.decision_scores import POOLED, value_report
    actual = _cycle(n_i=40)
    noisy = actual + np.random.default_rng(5).normal(0, 40, actual.shape)
    rep = value_report({"perfect": _table(actual, actual), "flat": _table(actual, np.ones_like(actual)),
                        "inverted": _table(actual, -actual), "noisy": _table(actual, noisy)},
                       n_boot=200, reference="noisy", baseline="flat")
    s = rep.scores.set_index(["model", "choice", "region", "group"])
    pooled = s.xs((POOLED, "all shapes"), level=("region", "group"))
    assert pooled.loc[("perfect", "time"), "captured_share_pct"] == pytest.approx(100.0)
    assert pooled.loc[("perfect", "time"), "regret_pct"] == pytest.approx(0.0, abs=1e-9)
    assert pooled.loc[("perfect", "time + region"), "captured_share_pct"] == pytest.approx(100.0)
    assert pooled.loc[("flat", "time"), "captured_share_pct"] == pytest.approx(0.0)
    assert pooled.loc[("inverted", "time"), "captured_share_pct"] < 0
    assert 0 < pooled.loc[("noisy", "time"), "captured_share_pct"] < 100
    finite = rep.scores.dropna(subset=["captured_share_pct_lo"])
    assert ((finite["captured_share_pct_lo"] <= finite["captured_share_pct"] + 1e-9)
            & (finite["captured_share_pct"] <= finite["captured_share_pct_hi"] + 1e-9)).all()
    assert set(rep.scores["group"]) == {"all shapes", "L 1–8 h, S 24–48 h"}   # 48 h table: no 96–168 h group
    assert "L=1 h, S=96 h: slack beyond the table's 48 h horizon" in rep.notes["shapes_dropped"]
    p = rep.paired.set_index(["choice", "region", "group"]).loc[("time", POOLED, "all shapes")]
    assert p["difference_pp"] == pytest.approx(pooled.loc[("noisy", "time"), "captured_share_pct"])
    assert p["excludes_zero"] and p["difference_lo"] > 0
    rel = rep.reliability.set_index("model")
    assert "flat" not in rel.index                      # a flat forecast never prefers a start but run-now
    assert (rel.loc["perfect", "observed"] == 1.0).all()   # perfect foresight's choice always beats run-now
    assert rel.loc["inverted", "observed"].max() == 0.0   # the inverted forecast's never does


def test_incomplete_actuals_excluded_and_counted_in_tables():
    from carbonshift.forecast.decision_scores import value_report
    actual = _cycle(n_i=5, n_r=1)
    actual[4, 0, 40:] = np.nan   # the last issue's hours past the data end
    rep = value_report({"m": _table(actual, actual)}, n_boot=50)
    row = rep.scores[(rep.scores["region"] == "R0") & (rep.scores["group"] == "all shapes")].iloc[0]
    n_48 = int((np.array([s for s in (6, 12, 24, 48) for length in (1, 2, 4, 8, 12, 24) if length <= s]) == 48).sum())
    assert row["excluded_actual"] == n_48 and row["n_decisions"] == 5 * 20 - n_48


def test_prob_less_matches_normal_closed_form():
    from scipy.stats import norm

    from carbonshift.forecast.data.schema import QUANTILE_LEVELS
    from carbonshift.forecast.decision_reliability import prob_less
    z = norm.ppf(QUANTILE_LEVELS)
    q = np.stack([z, z + 1.0, z - 2.0])
    p = prob_less(q, np.stack([z + 1.0, z, z]))
    assert p[0] == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.01)   # N(0,1) < N(1,1)
    assert p[1] == pytest.approx(1 - norm.cdf(1 / np.sqrt(2)), abs=0.01)
    assert p[2] == pytest.approx(norm.cdf(2 / np.sqrt(2)), abs=0.01)
    assert prob_less(q[:1], q[:1])[0] == pytest.approx(0.5)
