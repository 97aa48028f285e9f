"""Forecast → scheduler hand-off on a real day-ahead table: the previous evening's issue covers the first
day, every hour comes from the latest issue covering it, and hours past the horizon are a declared,
counted fallback (``forecast_fallback_share``)."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.models.naive import NaiveForecaster
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.metrics import policy_metrics
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, PolicyView
from carbonshift.scheduler.simulator import simulate
from carbonshift.scheduler.workloads import make_jobs

REGIONS = ["DE", "GB", "US-CAL-CISO"]
START = pd.Timestamp("2023-03-10", tz="UTC")
DAYS = 5


@pytest.fixture(scope="module")
def real():
    """(carbon, day-ahead seasonal-naive table issued 23:00 UTC with horizons 1–48 h, signal) over 5 days."""
    panel = load_panel(REGIONS, [2023], weather=False)
    carbon = CarbonSignal.from_panel(panel, REGIONS, START, DAYS * 24)
    model = NaiveForecaster("seasonal24", issue_hour=23, horizon=48).fit(panel, "ci_direct",
                                                                       until=START - pd.Timedelta(hours=1))
    issues = pd.date_range(START - pd.Timedelta(hours=1), periods=DAYS + 1, freq="24h")
    table = model.predict(panel, issues, 48)
    return carbon, table, ForecastSignal.from_table(table, REGIONS, carbon.times, label="seasonal24")


def _jobs(submit: np.ndarray, duration: np.ndarray, flex: float, n_regions: int):
    n = len(submit)
    rng = np.random.default_rng(0)
    return make_jobs(type_=np.zeros(n), submit_h=submit, gpus=np.full(n, 8), duration_h=duration,
                     flex=np.full(n, flex), ckpt_interval_h=np.full(n, 0.5), data_gb=np.full(n, 10.0),
                     home=np.arange(n) % n_regions, rng=rng, gpu_kw=0.7, profiling_error=0.0)


def test_previous_evening_issue_covers_the_first_day(real):
    carbon, table, fc = real
    assert fc.issue_h[0] == -1                                  # 23:00 UTC the day before hour 0
    view = PolicyView(carbon, fc, 0)
    assert not view.fallback[:, :48].any()                      # horizons 1–48 of the −1 issue: hours 0–47
    plan = view.ci_plan(48)
    first = table[table["issue_time"] == START - pd.Timedelta(hours=1)]
    for r, region in enumerate(REGIONS):
        expect = first[first["region"] == region].sort_values("time")["mean"].to_numpy()
        np.testing.assert_allclose(plan[r], expect)
    # at 12:00 the morning's hours come from the −1 issue, the evening's issue is not yet made
    noon = PolicyView(carbon, fc, 12)
    assert not noon.fallback[:, :36].any() and noon.fallback[:, 36:].all()
    # after 23:00 the new issue takes over the hours it covers
    late = PolicyView(carbon, fc, 23)
    np.testing.assert_allclose(late.ci_plan(24 + 23)[:, 1:], fc.mean[1, :, 1:24])


@pytest.mark.parametrize("policy", ["cooperative", "risk_aware", "casper", "cooperative_suspend"])
def test_no_fallback_within_the_day_ahead_horizon(real, policy):
    carbon, _, fc = real
    dc = DataCenters.uniform(REGIONS, gpus=512)
    rng = np.random.default_rng(3)
    submit = np.sort(np.concatenate([[0, 0, 1, 5], rng.integers(0, (DAYS - 1) * 24, 36)]))
    jobs = _jobs(submit, rng.integers(2, 12, len(submit)), 0.8, dc.n)
    assert (jobs.deadline_h - jobs.submit_h <= 24).all()        # every window within the issue's 48 h
    out = simulate(jobs, carbon, fc, dc, make_policy(policy, dc))
    m = policy_metrics(out)
    assert out.planned_job_h > 0
    assert m["forecast_fallback_share"] == 0.0


def test_long_jobs_past_the_horizon_are_counted(real):
    carbon, _, fc = real
    dc = DataCenters.uniform(REGIONS, gpus=512)
    jobs = _jobs(np.array([0, 2, 30]), np.array([40, 50, 60]), 0.3, dc.n)
    out = simulate(jobs, carbon, fc, dc, make_policy("cooperative", dc))
    share = policy_metrics(out)["forecast_fallback_share"]
    assert 0.0 < share < 100.0
    assert "seasonal profile" in PolicyView(carbon, fc, 0).label


def test_table_without_an_issue_before_the_start_fails_clearly(real):
    carbon, table, _ = real
    later = ForecastSignal.from_table(table[table["issue_time"] >= START + pd.Timedelta(hours=23)], REGIONS,
                                      carbon.times)
    with pytest.raises(ValueError, match="no forecast issued at or before"):
        PolicyView(carbon, later, 5)


def test_hours_no_estimate_can_price_fail_clearly(real):
    """At hour 0 with a 6-hour forecast there is no past and no profile for most hours of the day."""
    carbon, table, _ = real
    short = table[(table["issue_time"] == START - pd.Timedelta(hours=1)) & (table["horizon_h"] <= 6)]
    fc = ForecastSignal.from_table(short, REGIONS, carbon.times)
    with pytest.raises(ValueError, match="covered by no forecast and the seasonal profile has no value"):
        PolicyView(carbon, fc, 0)
    late = PolicyView(carbon, fc, 30)                  # a day of actuals later the profile prices every hour
    assert late.fallback.all() and np.isfinite(late.ci_plan(carbon.n_hours, 0.95)).all()
