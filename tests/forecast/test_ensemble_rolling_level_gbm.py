"""Level-aware GBM: after a level shift below the training range the relative-target GBM follows the new
level, the level GBM keeps forecasting inside the training range; recency weights are validated."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.models.gbm import GBMForecaster


def _panel() -> pd.DataFrame:
    """Daily-cycle series at level 300 gCO2eq/kWh for 90 days, then 120 from day 90 on (a fast grid change)."""
    times = pd.date_range("2022-01-01", periods=130 * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    level = np.where(np.arange(len(times)) < 90 * 24, 300.0, 120.0)
    y = level * (1 + 0.2 * np.sin(2 * np.pi * times.hour / 24)) + rng.normal(0, 3, len(times))
    return pd.DataFrame({"region": "X", "time": times, "ci_direct": y})


@pytest.mark.parametrize("level, max_mape", [pytest.param("absolute", None, marks=pytest.mark.slow),  # a GBM fit each
                                             ("relative", 10.0),
                                             pytest.param("profile", 10.0, marks=pytest.mark.slow)])
def test_relative_target_follows_a_level_shift(level, max_mape):
    panel = _panel()
    until = pd.Timestamp("2022-03-31", tz="UTC")                 # day 89: training sees only level 300
    m = GBMForecaster(horizon=24, max_iter=60, learning_rate=0.2, level=level).fit(panel, "ci_direct", until=until)
    issues = pd.date_range("2022-04-20 23:00", periods=7, freq="D", tz="UTC")   # 3 weeks after the shift
    f = m.predict(panel, issues, 24)
    y = panel.set_index("time").loc[f["time"], "ci_direct"].to_numpy()
    mape = 100 * np.mean(np.abs(f["mean"].to_numpy() - y) / y)
    if max_mape is None:
        assert f["mean"].min() > 180 and mape > 50                # stuck near the training range (≥ 240 · 0.8)
    else:
        assert mape < max_mape


def test_recency_weights_and_bad_level_are_checked():
    with pytest.raises(ValueError, match="level"):
        GBMForecaster(level="ratio")
    with pytest.raises(ValueError, match="recency_halflife_days"):
        GBMForecaster(recency_halflife_days=0)
    m = GBMForecaster(recency_halflife_days=7)
    w = m._recency_weights(np.array([24 * 14, 24 * 7, 0]), 2)      # issues 0, 7 and 14 days before the latest
    assert w == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert GBMForecaster()._recency_weights(np.array([0, 24]), 2) is None


def test_profile_feature_is_the_recent_same_hour_mean():
    from carbonshift.forecast.models.features import direct_design, region_series

    panel = _panel()
    s = region_series(panel, "ci_direct")["X"]
    i = np.array([20 * 24 + 23])                                  # issue day 20, 23:00 UTC
    X, J, names = direct_design(s, i, [1, 25], profile_days=7)
    prof = X[:, names.index("y_prof7")]
    expect = [s.y[J[0, k] - 24 * np.arange(d, d + 7)].mean() for k, d in ((0, 1), (1, 2))]
    assert prof == pytest.approx(expect)
    assert (J[0] - 24 * np.array([1, 2]) < i[0]).all()            # the latest same hour read is before the issue
