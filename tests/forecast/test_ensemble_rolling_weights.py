"""Rolling (adaptive) ensemble on synthetic member tables: drift loses weight within days, no look-ahead,
select-best limit, and the static option is unchanged."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, RollingEnsemble

START = pd.Timestamp("2021-01-01 23:00", tz="UTC")


def _member(days: int, level: np.ndarray, bias: np.ndarray) -> pd.DataFrame:
    """Daily issues at 23:00 UTC, horizons 1–48 h, point = level + bias[issue day] (quantiles ± 5 % around it)."""
    h = np.tile(np.arange(1, 49), days)
    issue = START + pd.to_timedelta(np.repeat(np.arange(days), 48), unit="D")
    point = level[np.repeat(np.arange(days), 48) * 24 + h] + np.repeat(bias, 48)
    t = pd.DataFrame({"region": "X", "issue_time": issue, "time": issue + pd.to_timedelta(h, unit="h"),
                      "horizon_h": h, "mean": point})
    for col, q in zip(QUANTILE_COLUMNS, QUANTILE_LEVELS):
        t[col] = point * (1 + 0.1 * (q - 0.5))
    return t


def _case(days: int = 40, drift_day: int = 20):
    """Actual = 100 + daily sine; member 'a' is exact until ``drift_day`` then 30 too high, 'b' is always 5 high."""
    rng = np.random.default_rng(0)
    hours = np.arange(days * 24 + 72)
    level = 100 + 20 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.5, len(hours))
    a = _member(days, level, np.where(np.arange(days) >= drift_day, 30.0, 0.0))
    b = _member(days, level, np.full(days, 5.0))
    times = START + pd.to_timedelta(hours, unit="h")
    actual = pd.Series(level, index=pd.MultiIndex.from_arrays([["X"] * len(hours), times], names=["region", "time"]))
    return {"a": a, "b": b}, actual


def _weight(w: pd.DataFrame, model: str, day: int, bucket: int = 2) -> float:
    row = w[(w["model"] == model) & (w["bucket"] == bucket) & (w["issue_time"] == START + pd.Timedelta(days=day))]
    return float(row["weight"].iloc[0])


def test_drifting_member_loses_weight_within_days():
    tables, actual = _case()
    ens = RollingEnsemble(buckets=(6, 12, 24, 48), window_days=7)
    out = ens.combine(tables, actual)
    w = ens.weights
    assert _weight(w, "a", 19) > 0.99                  # before the drift 'a' (exact) carries the forecast
    # the drift starts with the forecasts issued on day 20; the first errors are observed by day 21's issue
    assert _weight(w, "a", 22) < 0.2                   # two days later 'b' has taken over (12–24 h bucket)
    assert _weight(w, "b", 25, bucket=3) > 0.9          # and in the 24–48 h bucket a little later
    late = out[out["issue_time"] >= START + pd.Timedelta(days=25)]
    y = actual.reindex(pd.MultiIndex.from_frame(late[["region", "time"]])).to_numpy()
    assert np.abs(late["mean"].to_numpy() - y).mean() < 6        # ≈ b's error (5), not a's (30)
    static = ErrorWeightedEnsemble(buckets=(6, 12, 24, 48)).fit(
        {m: t[t["issue_time"] < START + pd.Timedelta(days=18)] for m, t in tables.items()}, actual)
    s_out = static.combine(tables)
    s_late = s_out[s_out["issue_time"] >= START + pd.Timedelta(days=25)]
    assert np.abs(s_late["mean"].to_numpy() - y).mean() > 25     # static weights keep following the drifted member


def test_no_look_ahead_scrambled_future_actuals_change_nothing_before():
    tables, actual = _case()
    cut = START + pd.Timedelta(days=24)                 # the issue at day 24, 23:00 UTC
    scrambled = actual.copy()
    after = scrambled.index.get_level_values("time") >= cut
    scrambled[after] = np.random.default_rng(5).permutation(scrambled[after].to_numpy()) * 3
    e1, e2 = RollingEnsemble(window_days=7), RollingEnsemble(window_days=7)
    o1, o2 = e1.combine(tables, actual), e2.combine(tables, scrambled)
    keep = o1["issue_time"] <= cut
    pd.testing.assert_frame_equal(o1[keep], o2[keep])
    wk = e1.weights["issue_time"] <= cut
    pd.testing.assert_frame_equal(e1.weights[wk], e2.weights[e2.weights["issue_time"] <= cut])
    assert not np.allclose(o1.loc[~keep, "mean"], o2.loc[~keep, "mean"])   # later issues do see the new actuals


def test_select_best_limit_first_issue_equal_and_basis_counted():
    tables, actual = _case(days=10, drift_day=99)
    ens = RollingEnsemble(buckets=(24, 48), window_days=3, prune=1.0)
    out = ens.combine(tables, actual)
    w = ens.weights
    first = w[w["issue_time"] == START]
    assert (first["basis"] == "none").all() and np.allclose(first["weight"], 0.5)
    later = w[w["issue_time"] >= START + pd.Timedelta(days=3)]
    assert set(later.loc[later["weight"] > 0, "model"]) == {"a"} and np.allclose(later.loc[later["model"] == "a", "weight"], 1)
    counts = ens.basis_counts()
    # none: both buckets at the first issue and the 24–48 h bucket at the second (no such hour observed yet)
    assert counts["none"] == 3 and sum(counts.values()) == 10 * 2
    assert list(out.columns[:5]) == ["region", "issue_time", "time", "horizon_h", "mean"]


def test_bad_arguments_and_misaligned_members_are_clear_errors():
    tables, actual = _case(days=5)
    with pytest.raises(ValueError, match="window"):
        RollingEnsemble(window_days=0)
    with pytest.raises(ValueError, match="prune"):
        RollingEnsemble(prune=0.5)
    with pytest.raises(ValueError, match="RollingEnsemble"):
        ErrorWeightedEnsemble(method="rolling")
    with pytest.raises(ValueError, match="'b'"):
        RollingEnsemble().combine({"a": tables["a"], "b": tables["b"].iloc[1:]}, actual)


def test_regret_weights_follow_decisions_not_accuracy_and_wait_for_the_whole_slack_window():
    """'flat' (the daily mean: small MAPE, no timing) against 'shift' (the actual shape 30 too high: large MAPE,
    perfect timing): MAPE weights pick flat, decision-regret weights pick shift. An issue's decisions count only
    once its 48 h slack window is observed, and actuals after τ never reach the weights of τ."""
    days = 20
    _, actual = _case(days)
    level = actual.to_numpy()
    tables = {"flat": _member(days, np.full(len(level), 100.0), np.zeros(days)),
              "shift": _member(days, level, np.full(days, 30.0))}
    mape_w = RollingEnsemble(window_days=7, loss="mape")
    mape_w.combine(tables, actual)
    regret = RollingEnsemble(window_days=7, loss="regret")
    regret.combine(tables, actual)
    assert _weight(mape_w.weights, "flat", 10) > 0.9 and _weight(regret.weights, "shift", 10) > 0.9
    assert set(regret.weights.loc[regret.weights["issue_time"] <= START + pd.Timedelta(days=2), "basis"]) == {"none"}
    assert set(regret.weights.loc[regret.weights["issue_time"] == START + pd.Timedelta(days=3), "basis"]) == {"window"}
    tau = START + pd.Timedelta(days=10)
    corrupted = actual.copy()
    late = corrupted.index.get_level_values("time") >= tau
    corrupted[late] = corrupted[late].to_numpy()[::-1] * 2
    other = RollingEnsemble(window_days=7, loss="regret")
    other.combine(tables, corrupted)
    before = lambda w: w[w["issue_time"] <= tau].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(before(regret.weights), before(other.weights))
    assert not regret.weights["loss"].equals(other.weights["loss"])
