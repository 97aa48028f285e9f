"""Temporally correlated controlled-error forecasts keep their marginal accuracy but correlate along the horizon."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonshift.scheduler.signals import CarbonSignal, _ar1, controlled_error, forecast_accuracy


def _lag1(errors: np.ndarray) -> float:
    e = errors[..., :24]
    ok = np.isfinite(e[..., 1:]) & np.isfinite(e[..., :-1])
    return float(np.corrcoef(e[..., 1:][ok], e[..., :-1][ok])[0, 1])


def test_ar1_has_unit_variance_and_target_correlation():
    white = np.random.default_rng(3).standard_normal((4000, 2, 48))
    assert _ar1(white, 0.0) is white
    x = _ar1(white, 6.0)
    assert x.var() == pytest.approx(1.0, abs=0.03)
    assert _lag1(x) == pytest.approx(np.exp(-1 / 6), abs=0.02)
    with pytest.raises(ValueError, match="correlation_h"):
        _ar1(white, -1.0)


@pytest.mark.parametrize("model,kw", [("accuracy", {"accuracy": 0.75}), ("uniform", {"e": 0.5}),
                                      ("gaussian", {"k": 0.2})])
def test_correlated_errors_keep_accuracy(model, kw):
    rng = np.random.default_rng(0)
    hours = 24 * 40
    ci = 200 + 80 * np.sin(np.arange(hours) * 2 * np.pi / 24)[None, :] + rng.normal(0, 5, (3, hours))
    carbon = CarbonSignal(ci=ci, renewable_pct=np.full_like(ci, 40.0),
                          times=pd.date_range("2023-01-01", periods=hours, freq="h", tz="UTC"), regions=["a", "b", "c"])
    indep = controlled_error(carbon, model, seed=1, **kw)
    corr = controlled_error(carbon, model, seed=1, correlation_h=12.0, **kw)
    assert abs(forecast_accuracy(indep, carbon) - forecast_accuracy(corr, carbon)) < 2.0
    actual = carbon.ci[:, np.minimum(corr.issue_h[:, None] + np.arange(corr.mean.shape[-1]), hours - 1)]
    err_indep = indep.mean - actual.transpose(1, 0, 2)
    err_corr = corr.mean - actual.transpose(1, 0, 2)
    assert abs(_lag1(err_indep)) < 0.1 and _lag1(err_corr) > 0.8
