"""Adaptive conformal calibration (ACI on top of rolling CQR): no look-ahead, step 0 is rolling CQR, and after
a drift that rolling CQR follows only slowly the adaptive level restores coverage within weeks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from carbonshift.forecast.calibration import AdaptiveCQR, RollingCQR, calibrate_rolling, calibration_from_spec


def _table(start: str, days: int, sd: np.ndarray | float, seed: int) -> pd.DataFrame:
    """Daily issues, horizons 1–24 h, quantiles of N(100, 5²); actuals N(100, sd²) (sd per day or one value)."""
    rng = np.random.default_rng(seed)
    issue = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.repeat(np.arange(days), 24), unit="D")
    h = np.tile(np.arange(1, 25), days)
    quant = {f"q{q:g}": 100 + 5 * norm.ppf(q) for q in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)}
    sd = np.repeat(np.broadcast_to(sd, days), 24)
    return pd.DataFrame({"region": "A", "issue_time": issue, "time": issue + pd.to_timedelta(h, unit="h"),
                         "horizon_h": h, "mean": 100.0, "actual": 100 + rng.normal(0, 1, days * 24) * sd, **quant})


def _cover(t: pd.DataFrame) -> float:
    return float(np.mean((t["actual"] >= t["q0.05"]) & (t["actual"] <= t["q0.95"])))


def test_step_zero_is_rolling_cqr_and_specs_round_trip():
    val, test = _table("2021-01-01", 30, 5.0, 0), _table("2021-01-31", 20, 8.0, 1)
    pd.testing.assert_frame_equal(calibrate_rolling(val, test, 14, step=0.0), RollingCQR(window_days=14)
                                  .calibrate(val, test))
    a = AdaptiveCQR(window_days=14, step=0.5)
    assert a.since_start and not RollingCQR().since_start and a.lookback_days == 14
    assert calibration_from_spec(a.spec(), a.buckets).spec() == {"method": "adaptive", "window_days": 14, "step": 0.5}
    with pytest.raises(ValueError, match="step must be > 0"):
        AdaptiveCQR(step=0.0)


def test_adaptive_level_restores_coverage_after_drift_without_peeking():
    """Error spread grows 5 → 20 over the test: rolling CQR (window 56 d) lags and under-covers; adaptive CQR on
    the same window stays near 90 %. Intervals issued up to day 40 ignore actuals from day 40 on."""
    val = _table("2021-01-01", 60, 5.0, 2)
    test = _table("2021-03-02", 90, np.linspace(5.0, 20.0, 90), 3)
    rolling = calibrate_rolling(val, test, 56)
    adaptive = AdaptiveCQR(window_days=56, step=0.5).calibrate(val, test)
    assert _cover(rolling) < 0.85 and 0.87 < _cover(adaptive) < 0.93
    cut = test["issue_time"].min() + pd.Timedelta(days=40)
    future = test.copy()
    future.loc[future["time"] >= cut, "actual"] += 1000.0
    b = AdaptiveCQR(window_days=56, step=0.5).calibrate(val, future)
    keep = lambda t: t[t["issue_time"] <= cut].sort_values(["issue_time", "time"])["q0.95"].to_numpy()  # noqa: E731
    np.testing.assert_array_equal(keep(adaptive), keep(b))
    assert not np.array_equal(adaptive["q0.95"].to_numpy(), b["q0.95"].to_numpy())   # later issues do react


def test_trailing_coverage_alert_names_the_zone_and_the_window():
    """Zone B's intervals miss every hour of its last 10 days: its trailing 28-day coverage falls to 18/28;
    zone A (always covered) raises no alert."""
    from carbonshift.forecast.report import trailing_coverage_alerts

    days = 50
    time = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(np.arange(days * 24), unit="h")
    rows = []
    for region in ("A", "B"):
        miss = (region == "B") & (time >= time[0] + pd.Timedelta(days=40))
        rows.append(pd.DataFrame({"model": "ens", "window": "test", "region": region, "time": time,
                                  "horizon_h": 1 + np.arange(len(time)) % 24, "actual": np.where(miss, 200.0, 100.0),
                                  "q0.05": 90.0, "q0.95": 110.0}))
    alerts = trailing_coverage_alerts(pd.concat(rows, ignore_index=True), "ens")
    assert alerts["region"].tolist() == ["B"]
    row = alerts.iloc[0]
    assert row["picp_min"] == pytest.approx(18 / 28) and row["window_end"] == "2023-02-19" and row["days_below"] == 6
