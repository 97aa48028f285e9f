"""Issue-time covariates of the tabular models: observed generation-mix history (``past_covariates``) and the
national public-holiday flag — no leakage past the issue, true holiday dates, a GBM that uses them, and the
DACF reader's per-source shares."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.models.features import direct_design, holiday_flags, region_series
from carbonshift.forecast.models.gbm import GBMForecaster


def _panel(days: int = 80, seed: int = 0) -> pd.DataFrame:
    """CI (gCO2eq/kWh) driven by an observed wind share (%) that changes level every UTC day, with the CI
    following the wind of 24 h before: at a 23:00 issue the wind share of the issue day tells the next day's
    level; the CI history up to the issue only shows the wind of the day before."""
    times = pd.date_range("2021-01-01", periods=days * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(seed)
    regime = np.repeat(rng.uniform(5, 70, days), 24)
    wind = np.clip(regime + rng.normal(0, 2, len(times)), 0, 100)
    ci = 450 - 4 * np.roll(wind, 24) + 20 * np.sin(2 * np.pi * times.hour / 24) + rng.normal(0, 3, len(times))
    return pd.DataFrame({"region": "DE", "time": times, "ci_direct": ci, "mix_wind_pct": wind,
                         "renewable_pct": wind})


def test_past_covariate_features_use_only_hours_before_the_issue():
    panel = _panel()
    i = np.array([30 * 24 + 23, 40 * 24 + 23])
    s = region_series(panel, "ci_direct", past=["mix_wind_pct"])["DE"]
    X, J, names = direct_design(s, i, range(1, 49), holidays=True)
    past = [n for n in names if n.startswith("mix_wind_pct_")]
    assert past == ["mix_wind_pct_last", "mix_wind_pct_day", "mix_wind_pct_mean24", "mix_wind_pct_ramp3"]
    # overwrite everything from the first issue on: features of the first issue must not move
    late = panel.copy()
    late.loc[late["time"] >= s.times[i[0]], ["ci_direct", "mix_wind_pct"]] = 1e6
    s2 = region_series(late, "ci_direct", past=["mix_wind_pct"])["DE"]
    X2, _, _ = direct_design(s2, i, range(1, 49), holidays=True)
    assert np.array_equal(X[:48], X2[:48])
    assert not np.array_equal(X[48:], X2[48:])                       # the second issue does see them
    # and the hour right before the issue is read (the feature is not stale)
    early = panel.copy()
    early.loc[early["time"] == s.times[i[0] - 1], "mix_wind_pct"] = -5.0
    s3 = region_series(early, "ci_direct", past=["mix_wind_pct"])["DE"]
    X3, _, _ = direct_design(s3, i, range(1, 49), holidays=True)
    assert (X3[:48, names.index("mix_wind_pct_last")] == -5.0).all()


def test_past_covariates_must_be_observed_columns_other_than_the_target():
    panel = _panel()
    with pytest.raises(ValueError, match="not in panel columns"):
        region_series(panel, "ci_direct", past=["mix_wnd_pct"])             # a typo fails
    # a generation source this region lacks (SE has no coal) is an all-NaN column, and adds no feature
    s = region_series(panel, "ci_direct", past=["mix_coal_pct", "mix_wind_pct"])["DE"]
    assert np.isnan(s.past[:, 0]).all() and not np.isnan(s.past[:, 1]).any()
    _, _, names = direct_design(s, np.array([30 * 24 + 23]), [1])
    assert not any(n.startswith("mix_coal") for n in names) and "mix_wind_pct_last" in names
    with pytest.raises(ValueError, match="other than the target"):
        region_series(panel, "ci_direct", past=["ci_direct"])
    with pytest.raises(ValueError, match="other than the target"):
        region_series(panel.assign(fc_wind_mw=1.0), "ci_direct", past=["fc_wind_mw"])


def test_holiday_flag_is_the_local_date_of_a_national_holiday():
    # German Unity Day 2021-10-03 starts at 2021-10-02 22:00 UTC (CEST, UTC+2); Christmas Day 2021-12-25
    # starts at 2021-12-24 23:00 UTC (CET, UTC+1)
    t = pd.DatetimeIndex(["2021-10-02 21:00", "2021-10-02 22:00", "2021-10-03 21:00", "2021-10-03 22:00",
                          "2021-12-24 22:00", "2021-12-24 23:00"], tz="UTC")
    assert list(holiday_flags("DE", t)) == [0, 1, 1, 0, 0, 1]
    # 4 July is a US holiday, not a German one
    july4 = pd.DatetimeIndex(["2021-07-04 12:00"], tz="UTC")
    assert holiday_flags("PJM", july4)[0] == 1 and holiday_flags("DE", july4)[0] == 0
    with pytest.raises(ValueError, match="no country"):
        holiday_flags("XX", t)


@pytest.mark.slow
def test_gbm_with_the_observed_mix_beats_the_same_gbm_without_it():
    panel = _panel()
    until = pd.Timestamp("2021-02-20", tz="UTC")
    issues = pd.date_range("2021-02-20 23:00", periods=16, freq="D", tz="UTC")
    y = panel.set_index("time")["ci_direct"]
    mape = {}
    for name, kw in {"plain": {}, "mix": {"past_covariates": ["mix_wind_pct"], "holidays": True}}.items():
        m = GBMForecaster(horizon=24, max_iter=80, learning_rate=0.1, min_samples_leaf=20, **kw)
        f = m.fit(panel, "ci_direct", until=until).predict(panel, issues, 24)
        a = y.loc[f["time"]].to_numpy()
        mape[name] = 100 * np.mean(np.abs(f["mean"].to_numpy() - a) / a)
        (features,) = m.features["DE"]   # one horizon block (horizons 1–24 h)
        assert ("mix_wind_pct_last" in features) == (name == "mix")
        assert ("holiday" in features) == (name == "mix")
    assert mape["mix"] < 0.8 * mape["plain"], mape


def test_dacf_reader_carries_each_source_share():
    from carbonshift.forecast.data.panel import load_dacf_panel

    p = load_dacf_panel(["DE"])
    mix = p[[c for c in p.columns if c.startswith("mix_")]]
    assert {"mix_wind_pct", "mix_solar_pct", "mix_coal_pct", "mix_nat_gas_pct"} <= set(mix.columns)
    assert np.allclose(mix.sum(axis=1), 100.0)
    ren = p[[f"mix_{c}_pct" for c in ("solar", "wind", "hydro", "biomass", "geothermal")]].sum(axis=1)
    assert np.allclose(ren, p["renewable_pct"])
