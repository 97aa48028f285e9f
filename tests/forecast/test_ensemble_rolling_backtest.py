"""Rolling ensemble inside the backtest on real DACF data: no look-ahead, and the static default unchanged."""
import pandas as pd

from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, RollingEnsemble
from carbonshift.forecast.models.naive import NaiveForecaster

WINDOWS = Windows.from_strings("2020-10-01", "2020-12-31", "2021-01-01", "2021-01-12", "2021-01-13", "2021-01-25")
CUT = pd.Timestamp("2021-01-18 23:00", tz="UTC")   # a mid-test issue time


def _models():
    return {k: (lambda k=k: NaiveForecaster(k, horizon=48)) for k in ("persistence", "seasonal24", "seasonal168")}


def _ensemble(bt, before: bool) -> pd.DataFrame:
    f = bt.forecasts
    f = f[(f["model"] == "ensemble") & (f["window"] == "test")]
    return f[(f["issue_time"] <= CUT) == before].drop(columns=[c for c in f.columns if c.startswith("q")])


def test_rolling_weights_and_forecast_ignore_actuals_after_each_issue(dacf_slice):
    settings = PipelineSettings(weighting=RollingEnsemble(window_days=5))
    base = run_backtest(dacf_slice, "ci_direct", _models(), WINDOWS, settings, progress=False)
    corrupted = dacf_slice.copy()
    late = corrupted["time"] >= CUT
    corrupted.loc[late, "ci_direct"] = corrupted.loc[late, "ci_direct"].sample(frac=1, random_state=0).to_numpy() * 2
    other = run_backtest(corrupted, "ci_direct", _models(), WINDOWS, settings, progress=False)
    wb, wo = base.weights, other.weights
    assert wb["issue_time"].min() == WINDOWS.test_start - pd.Timedelta(hours=1)
    pd.testing.assert_frame_equal(wb[wb["issue_time"] <= CUT], wo[wo["issue_time"] <= CUT])
    pd.testing.assert_frame_equal(_ensemble(base, True).drop(columns="actual"),
                                  _ensemble(other, True).drop(columns="actual"))
    assert not wb[wb["issue_time"] > CUT]["weight"].equals(wo[wo["issue_time"] > CUT]["weight"])


def test_static_default_is_the_validation_fit(dacf_slice):
    bt = run_backtest(dacf_slice, "ci_direct", _models(), WINDOWS, progress=False)
    assert "issue_time" not in bt.weights.columns          # one weight per region × bucket × member
    actual = dacf_slice.set_index(["region", "time"])["ci_direct"]
    ref = ErrorWeightedEnsemble().fit({m: _raw_validation(dacf_slice, m) for m in _models()}, actual)
    pd.testing.assert_frame_equal(bt.weights.reset_index(drop=True), ref.weights.reset_index(drop=True))


def _raw_validation(panel: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The member's uncalibrated validation forecasts, as the backtest makes them."""
    from carbonshift.forecast.backtest import extend_panel, issue_times

    data = extend_panel(panel[panel["time"] >= WINDOWS.train_start], 48)
    issues = issue_times(WINDOWS.val_start, WINDOWS.val_end, 23)
    m = NaiveForecaster(kind, horizon=48).fit(data, "ci_direct", until=min(WINDOWS.train_end + pd.Timedelta(days=1),
                                                                           issues[0]))
    t = m.predict(data, issues, 48)
    return t[t["time"] < WINDOWS.test_start - pd.Timedelta(hours=1)].reset_index(drop=True)
