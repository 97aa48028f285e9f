"""Forecast error models and the information-set views."""
import numpy as np
import pytest

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.scheduler.signals import (DAY_AHEAD_H, CarbonSignal, ForecastSignal, OracleView, PolicyView,
                                           controlled_error, forecast_accuracy, horizon_shape)


@pytest.mark.parametrize("target", [0.60, 0.75, 0.87, 0.90])
def test_accuracy_mode_hits_target(carbon, target):
    fc = controlled_error(carbon, "accuracy", accuracy=target, seed=4)
    assert forecast_accuracy(fc, carbon, DAY_AHEAD_H) == pytest.approx(target * 100, abs=0.05)   # the day-ahead figure
    assert forecast_accuracy(fc, carbon) < target * 100 - 1.0          # horizons 24–47 h err more


def test_gaussian_and_uniform_error_scales(carbon):
    g = controlled_error(carbon, "gaussian", k=0.1, seed=1)
    T = carbon.n_hours
    target = g.issue_h[:, None] + np.arange(g.mean.shape[2])
    a = carbon.ci[:, np.minimum(target, T - 1)].transpose(1, 0, 2)
    ok = np.isfinite(g.mean) & (g.mean > 0) & (np.arange(g.mean.shape[2]) < DAY_AHEAD_H)   # k: day-ahead scale
    resid = (g.mean - a)[ok] / np.broadcast_to(carbon.ci.mean(axis=1)[None, :, None], a.shape)[ok]
    assert resid.std() == pytest.approx(0.1, rel=0.1)
    u = controlled_error(carbon, "uniform", e=0.4, seed=1)
    half = 0.4 * horizon_shape(u.mean.shape[2]) / 2.0              # ±e·g(k)/2 at horizon k
    rel = u.mean / a - 1.0
    ok = np.isfinite(rel)
    assert (np.abs(rel) <= half[None, None, :] + 1e-9)[ok].all()
    assert (np.abs(rel) > 0.2)[ok].any()                          # long horizons err more than ±e/2
    dq = np.diff(u.q, axis=-1)
    assert np.isfinite(dq).any() and (dq[np.isfinite(dq)] >= -1e-9).all()   # quantiles non-decreasing


def test_policy_view_cannot_see_the_future(carbon):
    now = 100
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=0)
    altered = CarbonSignal(carbon.ci.copy(), carbon.renewable_pct, carbon.times, carbon.regions)
    altered.ci[:, now:] *= 5.0                                   # the future differs …
    later = fc.issue_h > now
    late_mean, late_q = fc.mean.copy(), fc.q.copy()
    late_mean[later] *= 7.0                                      # … and so do forecasts issued later
    late_q[later] *= 7.0
    late_fc = ForecastSignal(fc.issue_h, late_mean, late_q, fc.label)
    v1, v2 = PolicyView(carbon, fc, now), PolicyView(altered, late_fc, now)
    np.testing.assert_array_equal(v1.actuals(), v2.actuals())
    assert v1.actuals().shape == (3, now)
    np.testing.assert_array_equal(v1.ci_plan(carbon.n_hours), v2.ci_plan(carbon.n_hours))
    np.testing.assert_array_equal(v1.ci_plan(carbon.n_hours, 0.9), v2.ci_plan(carbon.n_hours, 0.9))
    np.testing.assert_array_equal(v1.current(), carbon.ci[:, now - 1])
    assert not v1.is_oracle
    # nothing reachable from the view holds a future hour
    for value in vars(v1).values():
        if isinstance(value, np.ndarray):
            assert value.base is None
    o = OracleView(carbon, now)
    assert o.is_oracle and "oracle" in o.label
    np.testing.assert_array_equal(o.ci_plan(now + 5), carbon.ci[:, now:now + 5])


def test_forecast_table_round_trip(carbon):
    import pandas as pd

    from carbonshift.forecast.data.schema import QUANTILE_COLUMNS

    fc = controlled_error(carbon, "uniform", e=0.2, horizon_h=24, seed=2)
    assert fc.issue_h[0] < 0                          # the previous day's issue covers hour 0
    rows = []
    for i, issue in enumerate(fc.issue_h[1:4], start=1):
        for r, region in enumerate(carbon.regions):
            for k in range(1, 24):
                rows.append({"region": region, "issue_time": carbon.times[issue], "time": carbon.times[issue + k],
                             "horizon_h": k, "mean": fc.mean[i, r, k],
                             **dict(zip(QUANTILE_COLUMNS, fc.q[i, r, k]))})
    back = ForecastSignal.from_table(pd.DataFrame(rows), carbon.regions, carbon.times)
    np.testing.assert_allclose(back.mean[:, :, 1:], fc.mean[1:4, :, 1:24])
    assert np.isnan(back.mean[:, :, 0]).all()
    now = int(back.issue_h[1])
    view = PolicyView(carbon, back, now)
    plan = view.ci_plan(now + 48)
    assert np.isfinite(plan).all()
    # hour now is horizon 24 of no issue and horizon 0 of none: fallback; now+1 … now+23 are forecast
    assert view.fallback[:, 0].all() and not view.fallback[:, 1:24].any() and view.fallback[:, 24:48].all()
    np.testing.assert_allclose(plan[:, 1:24], fc.mean[2, :, 1:24])
    assert "seasonal profile" in view.label


def test_forecast_signal_is_read_only_once_validated(carbon):
    """A view hands out covered cells without checking them again: they cannot change after validation."""
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, horizon_h=48, seed=0)
    for values in (fc.issue_h, fc.mean, fc.q):
        with pytest.raises(ValueError, match="read-only"):
            values[0] = 0


@pytest.mark.parametrize("now", [0, 37, 200])
def test_fallback_hours_get_the_seasonal_profile_of_their_hour_of_day(carbon, now):
    """The view prices the fallback once per (region, hour of day); each hour must still get what the class
    docstring defines: the mean of its slot's known values over the last week (actuals + covered hours), with
    the latest issue's quantile offsets at its longest covered horizon."""
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, horizon_h=30, issue_every_h=12, seed=1)
    T = carbon.n_hours
    v = PolicyView(carbon, fc, now)
    mean, q = fc.handoff(now, T)
    np.testing.assert_array_equal(v.fallback, np.isnan(mean))
    assert v.fallback.any() and (~v.fallback).any()
    c = int(np.flatnonzero(~v.fallback.all(axis=0)).max()) + 1
    known = np.concatenate([carbon.ci[:, :now], mean[:, :c]], axis=1)[:, -7 * 24:]
    slot_of = (now + c - known.shape[1] + np.arange(known.shape[1])) % 24
    profile = np.stack([np.nanmean(known[:, slot_of == s], axis=1) for s in range(24)], axis=1)   # [R × 24]
    last = int(np.searchsorted(fc.issue_h, now, side="right")) - 1
    k_last = np.flatnonzero(np.isfinite(fc.mean[last, 0]))[-1]
    offsets = fc.q[last, :, k_last] - fc.mean[last, :, k_last][:, None]                          # [R × Q]
    r, j = np.nonzero(v.fallback)
    expect = profile[r, (now + j) % 24]
    np.testing.assert_allclose(v.ci_plan(T)[r, j], expect, rtol=1e-12)
    np.testing.assert_allclose(v.ci_plan(T, 0.95)[r, j], np.maximum(expect + offsets[r, -1], 0.0), rtol=1e-12)
    np.testing.assert_allclose(v.ci_plan(T, 0.05)[r, j], np.maximum(expect + offsets[r, 0], 0.0), rtol=1e-12)
    covered = ~v.fallback                                  # and the covered hours are the handed-off forecast
    np.testing.assert_array_equal(v.ci_plan(T)[covered], mean[covered])
    np.testing.assert_array_equal(v.ci_plan(T, 0.9)[covered], q[..., QUANTILE_LEVELS.index(0.9)][covered])
