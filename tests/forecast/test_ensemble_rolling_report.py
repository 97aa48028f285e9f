"""Monthly 90 % coverage table and the per-region ensemble goal table on tiny hand-made cases."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.report import ensemble_goal_table, monthly_coverage, monthly_mape, weights_summary


def _forecasts() -> pd.DataFrame:
    """One model, one region, day-ahead rows over Jan 30 – Feb 2: January's actuals all inside the 90 %
    interval, February's inside on 1 hour in 4."""
    times = pd.date_range("2021-01-30", "2021-02-02 23:00", freq="h", tz="UTC")
    n = len(times)
    actual = np.full(n, 100.0)
    feb = times.month == 2
    actual[feb & (np.arange(n) % 4 != 0)] = 200.0           # outside [90, 110]
    t = pd.DataFrame({"model": "m", "window": "test", "region": "X", "issue_time": times.floor("D") - pd.Timedelta(hours=1),
                      "time": times, "horizon_h": times.hour + 1, "mean": 100.0, "actual": actual,
                      "q0.05": 90.0, "q0.95": 110.0})
    late = t.assign(horizon_h=30, actual=100.0)              # beyond day-ahead: ignored
    return pd.concat([t, late], ignore_index=True)


def test_monthly_coverage_per_calendar_month():
    m = monthly_coverage(_forecasts(), day_ahead_h=24)
    assert list(m.columns) == ["model", "region", "month", "nominal", "picp", "n"]
    assert m["month"].tolist() == ["2021-01", "2021-02"]
    assert m["n"].tolist() == [48, 48]
    assert m["picp"].tolist() == pytest.approx([1.0, 0.25])
    assert (m["nominal"] == 0.9).all()


def test_ensemble_goal_table_names_best_member_and_flags_goals():
    mape_t = pd.DataFrame({"model": ["ens+cqr", "gbm", "prophet", "seasonal24", "DACF (published)"],
                           "A": [10.0, 10.0, 12.0, 11.0, 9.0], "B": [8.0, 9.0, 7.0, 7.9, 6.0],
                           "mean": [9.0, 9.5, 9.5, 9.45, 7.5]})
    g = ensemble_goal_table(mape_t, "ens+cqr", ["gbm", "prophet", "seasonal24"]).set_index("region")
    assert g.loc["A", "best_member"] == "gbm" and g.loc["B", "best_member"] == "prophet"
    assert g.loc["B", "ratio_to_best"] == pytest.approx(8 / 7)
    assert g["le_best_x1.02"].tolist() == [True, False]
    assert g["le_seasonal24"].tolist() == [True, False]
    assert g["dacf"].tolist() == [9.0, 6.0]
    with pytest.raises(ValueError, match="lstm"):
        ensemble_goal_table(mape_t, "ens+cqr", ["lstm"])


def test_weights_summary_means_over_issues_and_top_share():
    w = pd.DataFrame({"issue_time": np.repeat(pd.date_range("2021-01-01", periods=2, tz="UTC"), 2),
                      "region": "X", "bucket": 0, "model": ["a", "b", "a", "b"], "loss": [1.0, 2.0, 3.0, 1.0],
                      "weight": [0.8, 0.2, 0.1, 0.9]})
    s = weights_summary(w).set_index("model")
    assert s.loc["a", "weight"] == pytest.approx(0.45) and s.loc["a", "top_share"] == 0.5
    assert s.loc["b", "issues"] == 2


def test_monthly_mape_per_calendar_month():
    m = monthly_mape(_forecasts(), day_ahead_h=24).set_index("month")["mape"]
    assert m["2021-01"] == pytest.approx(0.0)
    assert m["2021-02"] == pytest.approx(100 * 0.75 * 0.5)        # 3 hours in 4: |100 − 200| / 200


def test_rolling_calibration_matches_a_calibrator_fitted_on_each_window():
    """The vectorised rolling CQR gives, issue by issue, the corrections of ConformalCalibrator fitted on
    that issue's window (two regions, two horizon buckets, noisy quantiles)."""
    from scipy.stats import norm

    from carbonshift.forecast.calibration import ConformalCalibrator, calibrate_rolling

    rng = np.random.default_rng(3)

    def table(start: str, days: int) -> pd.DataFrame:
        parts = []
        for region, sd in (("A", 4.0), ("B", 9.0)):
            issue = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.repeat(np.arange(days), 48), unit="D")
            h = np.tile(np.arange(1, 49), days)
            t = pd.DataFrame({"region": region, "issue_time": issue, "time": issue + pd.to_timedelta(h, unit="h"),
                              "horizon_h": h, "mean": 100.0, "actual": 100 + rng.normal(0, sd, days * 48)})
            for q in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95):
                t[f"q{q:g}"] = 100 + 5 * norm.ppf(q) + rng.normal(0, 0.5, len(t))
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    hist, test = table("2021-01-01 23:00", 10), table("2021-01-11 23:00", 6)
    got = calibrate_rolling(hist, test, 3, buckets=(24, 48)).sort_values(["region", "issue_time", "time"])
    pool = pd.concat([hist, test], ignore_index=True)
    for tau, part in test.groupby("issue_time"):
        recent = pool[(pool["time"] < tau) & (pool["issue_time"] >= tau - pd.Timedelta(days=3))]
        want = ConformalCalibrator((24, 48)).fit(recent).transform(part).sort_values(["region", "issue_time", "time"])
        g = got[got["issue_time"] == tau]
        np.testing.assert_allclose(g[list(want.columns[4:])].to_numpy(float), want[list(want.columns[4:])].to_numpy(float))
