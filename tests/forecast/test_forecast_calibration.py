"""Conformal calibration and ensemble on synthetic forecast tables."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.calibration import ConformalCalibrator
from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble
from carbonshift.forecast.metrics import picp


def _table(n_issue: int, rng: np.random.Generator, spread: float, bias: float = 0.0) -> pd.DataFrame:
    """Forecasts of y = 100 + N(0, 10²) whose quantiles assume N(bias, spread²) — miscalibrated on purpose."""
    from scipy.stats import norm

    issues = pd.date_range("2021-01-01 23:00", periods=n_issue, freq="D", tz="UTC")
    h = np.arange(1, 25)
    it = issues.repeat(len(h))
    t = pd.DataFrame({"region": "X", "issue_time": it, "time": it + pd.to_timedelta(np.tile(h, n_issue), unit="h"),
                      "horizon_h": np.tile(h, n_issue), "mean": 100.0 + bias})
    for col, q in zip(QUANTILE_COLUMNS, QUANTILE_LEVELS):
        t[col] = 100.0 + bias + spread * norm.ppf(q)
    t["actual"] = 100.0 + rng.normal(0, 10, len(t))
    return t


@pytest.mark.parametrize("spread", [3.0, 30.0])
def test_cqr_reaches_nominal_coverage(spread):
    rng = np.random.default_rng(0)
    cal, test = _table(200, rng, spread), _table(200, rng, spread)
    raw = picp(test["actual"], test["q0.05"], test["q0.95"])
    out = ConformalCalibrator().fit(cal).transform(test)
    cov = picp(out["actual"], out["q0.05"], out["q0.95"])
    assert abs(raw - 0.9) > 0.08                      # the raw intervals are clearly off
    assert cov == pytest.approx(0.9, abs=0.02)        # calibrated: nominal 90 %
    assert picp(out["actual"], out["q0.25"], out["q0.75"]) == pytest.approx(0.5, abs=0.03)
    assert (np.diff(out[list(QUANTILE_COLUMNS)].to_numpy(), axis=1) >= 0).all()


def test_ensemble_weights_favour_accurate_member_and_keep_schema():
    rng = np.random.default_rng(1)
    good, bad = _table(30, rng, 10.0), _table(30, rng, 10.0, bias=30.0)
    actual = good.set_index(["region", "time"])["actual"]
    actual = actual[~actual.index.duplicated()]
    ens = ErrorWeightedEnsemble(buckets=(24,), power=2.0, prune=10.0).fit({"good": good, "bad": bad}, actual)
    w = ens.weights.set_index("model")["weight"]
    assert w["good"] > 0.6 > w["bad"]
    out = ens.combine({"good": good, "bad": bad})
    assert list(out.columns[:5]) == ["region", "issue_time", "time", "horizon_h", "mean"]
    assert np.allclose(out["mean"], 100 + 30 * w["bad"])


def test_stacking_weights_sum_to_one_and_pick_the_unbiased_combination():
    rng = np.random.default_rng(2)
    lo, hi = _table(30, rng, 10.0, bias=-20.0), _table(30, rng, 10.0, bias=20.0)
    hi["actual"] = lo["actual"].to_numpy()
    actual = lo.set_index(["region", "time"])["actual"]
    ens = ErrorWeightedEnsemble(buckets=(24,), prune=10.0, method="stacking").fit({"lo": lo, "hi": hi}, actual)
    w = ens.weights.set_index("model")["weight"]
    assert w.sum() == pytest.approx(1.0)
    assert w["lo"] == pytest.approx(0.5, abs=0.05)          # the two biases cancel
    with pytest.raises(ValueError, match="stacking"):
        ErrorWeightedEnsemble(method="median")


def test_rolling_calibration_follows_drift_without_peeking():
    """Errors widen after the calibration window: static CQR under-covers, rolling CQR recovers, and the
    corrections applied at issue τ never depend on actuals at or after τ."""
    from scipy.stats import norm

    from carbonshift.forecast.calibration import ConformalCalibrator, calibrate_rolling

    rng = np.random.default_rng(0)

    def table(start: str, days: int, sd: float) -> pd.DataFrame:
        issue = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.repeat(np.arange(days), 24), unit="D")
        h = np.tile(np.arange(1, 25), days)
        quant = {f"q{q:g}": 100 + 5 * norm.ppf(q) for q in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)}
        return pd.DataFrame({"region": "A", "issue_time": issue, "time": issue + pd.to_timedelta(h, unit="h"),
                             "horizon_h": h, "mean": 100.0, "actual": 100 + rng.normal(0, sd, days * 24), **quant})

    val, test = table("2021-01-01", 60, 5.0), table("2021-03-02", 60, 12.0)
    cover = lambda t: float(np.mean((t["actual"] >= t["q0.05"]) & (t["actual"] <= t["q0.95"])))  # noqa: E731
    static = ConformalCalibrator().fit(val).transform(test)
    rolling = calibrate_rolling(val, test, window_days=14)
    assert cover(static) < 0.6 and 0.85 < cover(rolling) < 0.95
    # changing actuals from day 30 on must not change any interval issued up to day 30
    cut = test["issue_time"].min() + pd.Timedelta(days=30)
    future = test.copy()
    future.loc[future["time"] >= cut, "actual"] += 1000.0
    a = rolling[rolling["issue_time"] <= cut].sort_values(["issue_time", "time"])
    b = calibrate_rolling(val, future, window_days=14)
    b = b[b["issue_time"] <= cut].sort_values(["issue_time", "time"])
    np.testing.assert_allclose(a["q0.95"].to_numpy(), b["q0.95"].to_numpy())
