"""Every forecaster on a real DACF slice: schema, monotone quantiles, information set, tiny neural nets."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data.schema import FORECAST_COLUMNS, QUANTILE_COLUMNS
from carbonshift.forecast.metrics import mape
from carbonshift.forecast.models.base import Forecaster, check_forecast_table
from carbonshift.forecast.models.gbm import GBMForecaster
from carbonshift.forecast.models.naive import NaiveForecaster


def _check(fc: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int, regions=("CISO", "SE")) -> None:
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    assert len(fc) == len(regions) * len(issues) * horizon
    check_forecast_table(fc)
    q = fc[list(QUANTILE_COLUMNS)].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert ((fc["time"] - fc["issue_time"]) / pd.Timedelta(hours=1) == fc["horizon_h"]).all()
    assert str(fc["time"].dt.tz) == "UTC"


def _mape(fc, panel):
    act = panel.set_index(["region", "time"])["ci_direct"]
    y = act.reindex(pd.MultiIndex.from_frame(fc[["region", "time"]])).to_numpy()
    return mape(y, fc["mean"].to_numpy())


def _future_scrambled(panel: pd.DataFrame, issue: pd.Timestamp) -> pd.DataFrame:
    """The panel with every target value at or after ``issue`` replaced by garbage."""
    out = panel.copy()
    late = out["time"] >= issue
    out.loc[late, "ci_direct"] = 1e4
    return out


@pytest.mark.parametrize("kind", ["persistence", "seasonal24", "seasonal168"])
def test_naive_schema_and_information_set(dacf_slice, windows, kind):
    until, issues = windows
    m = NaiveForecaster(kind, horizon=48).fit(dacf_slice, "ci_direct", until)
    assert isinstance(m, Forecaster)
    fc = m.predict(dacf_slice, issues, 48)
    _check(fc, issues, 48)
    same = m.predict(_future_scrambled(dacf_slice, issues[0]), issues[:1], 48)
    pd.testing.assert_frame_equal(same, fc[fc["issue_time"] == issues[0]].reset_index(drop=True))


def test_seasonal24_is_yesterdays_value(dacf_slice, windows):
    until, issues = windows
    fc = NaiveForecaster("seasonal24", horizon=24).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues[:1], 24)
    row = fc[(fc["region"] == "CISO") & (fc["horizon_h"] == 5)].iloc[0]
    y = dacf_slice.set_index(["region", "time"])["ci_direct"]
    assert row["mean"] == pytest.approx(min(max(y[("CISO", row["time"] - pd.Timedelta(hours=24))], row["q0.05"]),
                                            row["q0.95"]))


@pytest.mark.slow
def test_gbm_beats_seasonal_naive_and_ignores_future_targets(dacf_slice, windows):
    until, issues = windows
    gbm = GBMForecaster(horizon=24, max_iter=40, learning_rate=0.1, max_leaf_nodes=15).fit(dacf_slice, "ci_direct", until)
    fc = gbm.predict(dacf_slice, issues, 24)
    _check(fc, issues, 24)
    naive = NaiveForecaster("seasonal24", horizon=24).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    assert _mape(fc, dacf_slice) < _mape(naive, dacf_slice)
    scrambled = gbm.predict(_future_scrambled(dacf_slice, issues[0]), issues[:1], 24)
    np.testing.assert_allclose(scrambled["mean"], fc[fc["issue_time"] == issues[0]]["mean"])


def test_gbm_fit_never_reads_targets_after_until(dacf_slice, windows):
    until, issues = windows
    a = GBMForecaster(horizon=24, max_iter=20).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues[:2], 24)
    b = GBMForecaster(horizon=24, max_iter=20).fit(_future_scrambled(dacf_slice, until), "ci_direct", until)
    np.testing.assert_allclose(b.predict(dacf_slice, issues[:2], 24)["mean"], a["mean"])


@pytest.mark.slow   # a Prophet fit; the fast one: test_scrambled_future_gives_the_identical_forecast[prophet]
def test_prophet_tiny(dacf_slice, windows):
    from carbonshift.forecast.models.prophet import ProphetForecaster

    until, issues = windows
    m = ProphetForecaster(horizon=24, yearly=False, train_days=45).fit(dacf_slice, "ci_direct", until)
    fc = m.predict(dacf_slice, issues, 24)
    _check(fc, issues, 24)
    assert _mape(fc, dacf_slice) < 60


@pytest.mark.slow
def test_lstm_tiny(dacf_slice, windows):
    from carbonshift.forecast.models.lstm import LSTMForecaster

    until, issues = windows
    kw = dict(horizon=24, encoder_h=48, hidden=8, max_epochs=2, stride_h=12, seed=3)
    fc = LSTMForecaster(**kw).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    _check(fc, issues, 24)
    again = LSTMForecaster(**kw).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    np.testing.assert_allclose(again["mean"], fc["mean"], rtol=1e-5)   # deterministic with a seed
    assert _mape(fc, dacf_slice) < 80


@pytest.mark.slow
def test_tft_tiny(dacf_slice, windows):
    from carbonshift.forecast.models.tft import TFTForecaster

    until, issues = windows
    m = TFTForecaster(horizon=24, encoder_h=48, hidden=8, attention_heads=1, max_epochs=1, limit_train_batches=3,
                      stride_h=24, seed=0, train_days=40).fit(dacf_slice, "ci_direct", until)
    fc = m.predict(dacf_slice, issues, 24)
    _check(fc, issues, 24)


def _periodic_panel(days: int = 60) -> pd.DataFrame:
    """Two regions with an easy daily cycle (gCO2eq/kWh): base + amplitude · sin(hour) + N(0, 5) noise."""
    t = pd.date_range("2021-01-01", periods=24 * days, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({"region": r, "time": t, "ci_direct": base + amp * np.sin(2 * np.pi * (t.hour + ph) / 24)
                                    + rng.normal(0, 5, len(t))})
                      for r, base, amp, ph in (("A", 300, 120, 0), ("B", 150, 60, 6))], ignore_index=True)


@pytest.mark.slow
def test_tft_learns_a_daily_cycle_and_covers_it():
    """A working TFT beats the training mean by far on a periodic series and its 90 % band covers."""
    from carbonshift.forecast.models.tft import TFTForecaster

    panel = _periodic_panel()
    until = pd.Timestamp("2021-02-20", tz="UTC")
    issues = pd.date_range("2021-02-19 23:00", "2021-02-25 23:00", freq="D", tz="UTC")
    m = TFTForecaster(horizon=24, encoder_h=48, hidden=16, attention_heads=1, max_epochs=8, limit_train_batches=20,
                      learning_rate=0.01, patience=8, stride_h=6, seed=0).fit(panel, "ci_direct", until)
    fc = m.predict(panel, issues, 24)
    _check(fc, issues, 24, regions=("A", "B"))
    y = panel.set_index(["region", "time"])["ci_direct"].reindex(pd.MultiIndex.from_frame(fc[["region", "time"]]))
    train_mean = fc["region"].map(panel[panel["time"] < until].groupby("region")["ci_direct"].mean())
    assert mape(y.to_numpy(), fc["mean"].to_numpy()) < 0.5 * mape(y.to_numpy(), train_mean.to_numpy())
    assert np.mean((y.to_numpy() >= fc["q0.05"]) & (y.to_numpy() <= fc["q0.95"])) >= 0.7


def _tiny(name: str):
    """Every forecaster class of forecast/models, with settings small enough for a test."""
    if name in ("persistence", "seasonal24", "seasonal168"):
        return NaiveForecaster(name, horizon=24)
    if name == "gbm":
        return GBMForecaster(horizon=24, max_iter=20)
    if name == "prophet":
        from carbonshift.forecast.models.prophet import ProphetForecaster
        return ProphetForecaster(horizon=24, yearly=False, train_days=45)
    if name == "lstm":
        from carbonshift.forecast.models.lstm import LSTMForecaster
        return LSTMForecaster(horizon=24, encoder_h=48, hidden=8, max_epochs=1, stride_h=12, seed=3)
    from carbonshift.forecast.models.tft import TFTForecaster
    return TFTForecaster(horizon=24, encoder_h=48, hidden=8, attention_heads=1, max_epochs=1, limit_train_batches=3,
                         stride_h=24, seed=0, train_days=40)


LEAKAGE_MODELS = ("persistence", "seasonal24", "seasonal168", "gbm", "prophet", "lstm", "tft")
NEURAL = {"lstm", "tft"}                  # a fit each ≈ 10–25 s on 2 cores: run by `make test-slow`


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in NEURAL else n for n in LEAKAGE_MODELS])
def test_scrambled_future_gives_the_identical_forecast(dacf_slice, windows, name):
    """Targets at or after the issue time are garbage → the forecast issued then is unchanged, bit for bit."""
    until, issues = windows
    m = _tiny(name).fit(dacf_slice, "ci_direct", until)
    clean = m.predict(dacf_slice, issues[:1], 24)
    scrambled = m.predict(_future_scrambled(dacf_slice, issues[0]), issues[:1], 24)
    _check(clean, issues[:1], 24)
    pd.testing.assert_frame_equal(scrambled, clean)


def test_leakage_test_covers_every_model_class():
    import importlib
    import inspect
    import pkgutil

    import carbonshift.forecast.models as pkg

    found = {cls.__name__ for info in pkgutil.iter_modules(pkg.__path__)
             for cls in vars(importlib.import_module(f"carbonshift.forecast.models.{info.name}")).values()
             if inspect.isclass(cls) and cls.__name__.endswith("Forecaster") and cls.__name__ != "Forecaster"
             and cls.__module__.startswith("carbonshift.forecast.models.") and not inspect.isabstract(cls)}
    tested = {type(_tiny(n)).__name__ for n in LEAKAGE_MODELS}
    assert found == tested, f"forecasters without a leakage test: {sorted(found - tested)}"
