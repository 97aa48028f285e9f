"""Controlled-error forecasts carry the uncertainty of the error actually applied: calibrated bands that
widen with the horizon, not proportional to the mean, so a risk-aware ranking can differ from the mean's."""
import numpy as np
import pytest

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.scheduler.signals import (DAY_AHEAD_H, SEED_GROWTH_ALPHA, CarbonSignal, PolicyView, controlled_error,
                                           forecast_accuracy, horizon_shape)


def _actuals(fc, carbon: CarbonSignal) -> np.ndarray:
    T = carbon.n_hours
    target = fc.issue_h[:, None] + np.arange(fc.mean.shape[2])
    return carbon.ci[:, np.clip(target, 0, T - 1)].transpose(1, 0, 2)


@pytest.mark.parametrize("model,kw", [("accuracy", {"accuracy": 0.87}), ("gaussian", {"k": 0.15}),
                                      ("uniform", {"e": 0.4})])
def test_band_coverage_is_nominal(carbon, model, kw):
    fc = controlled_error(carbon, model, seed=3, **kw)
    a = _actuals(fc, carbon)
    ok = np.isfinite(fc.mean)
    lo, hi = fc.q[..., QUANTILE_LEVELS.index(0.05)], fc.q[..., QUANTILE_LEVELS.index(0.95)]
    inside = ((a >= lo - 1e-9) & (a <= hi + 1e-9))[ok]
    assert inside.mean() == pytest.approx(0.90, abs=0.025)


def test_accuracy_mode_hits_target_and_error_grows_with_horizon(carbon):
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, seed=5)
    assert forecast_accuracy(fc, carbon, DAY_AHEAD_H) == pytest.approx(87.0, abs=0.05)
    a = _actuals(fc, carbon)
    ape = np.abs(fc.mean - a) / a                                      # [I × R × H]
    assert np.nanmean(ape[..., 1]) < np.nanmean(ape[..., 24]) * 0.7   # seed: 11 % at 1 h vs 24 % at 24 h
    width = fc.q[..., -1] - fc.q[..., 0]
    assert np.nanmean(width[..., 1]) < np.nanmean(width[..., 24]) * 0.7
    g = horizon_shape(48)
    assert g[:DAY_AHEAD_H].mean() == pytest.approx(1.0) and g[24] / g[1] == pytest.approx(24.0 / 11.0)


def test_quantiles_are_not_proportional_to_the_mean(carbon):
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, seed=5)
    ok = np.isfinite(fc.mean) & (fc.mean > 0)
    ratio = fc.q[..., QUANTILE_LEVELS.index(0.9)][ok] / fc.mean[ok]
    assert ratio.std() > 0.01


def test_upper_quantile_ranking_differs_from_mean_ranking(carbon):
    """Over one day-ahead issue the hours ranked by q0.9 differ from the hours ranked by the mean."""
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=48, issue_hour=12, seed=5)
    view = PolicyView(carbon, fc, int(fc.issue_h[3]))
    end = view.now + 48
    by_mean, by_q90 = np.argsort(view.ci_plan(end), axis=1), np.argsort(view.ci_plan(end, 0.9), axis=1)
    assert (by_mean != by_q90).any()
    # the cheapest 6-hour window of some region moves
    mean, q90 = view.ci_plan(end), view.ci_plan(end, 0.9)
    win = lambda x: np.convolve(x, np.ones(6), "valid").argmin()  # noqa: E731
    assert any(win(mean[r]) != win(q90[r]) for r in range(len(carbon.regions)))


def test_error_grows_past_the_day_ahead_as_documented(carbon):
    """`accuracy` is the day-ahead (0–23 h) figure for any horizon_h; beyond 24 h the error keeps the seed's
    power-law growth (× 1.185 per doubling, × 1.61 from 24 h to 167 h) — forecasts and their bands."""
    g168 = horizon_shape(168)
    np.testing.assert_allclose(horizon_shape(48), g168[:48])        # longer issues leave the day-ahead alone
    assert g168[:DAY_AHEAD_H].mean() == pytest.approx(1.0)
    assert (np.diff(g168[24:]) > 0).all()
    assert g168[48] / g168[24] == pytest.approx(2.0 ** SEED_GROWTH_ALPHA) == pytest.approx(1.185, abs=0.001)
    assert g168[167] / g168[24] == pytest.approx(1.61, abs=0.005)
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=168, seed=5)
    assert forecast_accuracy(fc, carbon, DAY_AHEAD_H) == pytest.approx(87.0, abs=0.05)
    a = _actuals(fc, carbon)
    ape = np.abs(fc.mean - a) / a
    week = np.nanmean(ape[..., 144:168]) / np.nanmean(ape[..., :DAY_AHEAD_H])
    assert week == pytest.approx(g168[144:].mean(), rel=0.15)         # ≈ 2.2 × the day-ahead MAPE
    width = fc.q[..., -1] - fc.q[..., 0]
    assert np.nanmean(width[..., 144:168]) > 1.8 * np.nanmean(width[..., :DAY_AHEAD_H])
