"""Neural members on the seasonal-naive residual: the base is the seasonal24 member's forecast, read before the
issue, and the LSTM adds it back (a network whose output is zero forecasts exactly seasonal-naive)."""
import pickle

import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.models.features import direct_design, region_series
from carbonshift.forecast.models.lstm import LSTMForecaster
from carbonshift.forecast.models.neural import seasonal_base


def _panel(days: int = 40) -> pd.DataFrame:
    """Daily profile (gCO2eq/kWh) on a level drifting from 300 to 150 plus noise, one region."""
    times = pd.date_range("2021-01-01", periods=days * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(1)
    level = np.linspace(300.0, 150.0, len(times))
    y = level * (1 + 0.3 * np.sin(2 * np.pi * times.hour / 24)) + rng.normal(0, 2, len(times))
    return pd.DataFrame({"region": "X", "time": times, "ci_direct": y})


def _seasonal24(panel: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> np.ndarray:
    """The seasonal24 member's point forecast [issue × horizon] (its ``y_day`` feature, before intervals)."""
    s = region_series(panel, "ci_direct")["X"]
    X, J, names = direct_design(s, s.index_of(issues), range(1, horizon + 1))
    return X[:, names.index("y_day")].reshape(J.shape)


def test_seasonal_base_is_the_seasonal24_forecast_and_reads_only_before_the_issue():
    panel = _panel()
    issues = pd.date_range("2021-01-28 23:00", periods=5, freq="D", tz="UTC")
    expect = _seasonal24(panel, issues, 48)
    y = panel["ci_direct"].to_numpy()
    i = ((issues - panel["time"].iloc[0]) // pd.Timedelta(hours=1)).to_numpy()
    assert seasonal_base(y, i, 48) == pytest.approx(expect)
    h = np.arange(1, 49)
    assert (i[:, None] + h - 24 * np.ceil((h + 1) / 24) < i[:, None]).all()


def _zero_output(model: LSTMForecaster) -> None:
    """Make the network's output exactly 0 for every quantile's median: the head's last layer to zero."""
    import torch

    with torch.no_grad():
        last = model.module.head[-1]
        last.weight.zero_()
        last.bias.zero_()


@pytest.mark.parametrize("form", ["level", pytest.param("seasonal_residual", marks=pytest.mark.slow)])   # an LSTM fit each
def test_lstm_residual_form_adds_the_seasonal_naive_base_back(form):
    panel = _panel()
    until = pd.Timestamp("2021-01-25", tz="UTC")
    issues = pd.date_range("2021-01-26 23:00", periods=4, freq="D", tz="UTC")
    m = LSTMForecaster(horizon=48, encoder_h=48, hidden=8, max_epochs=1, stride_h=12, target_form=form,
                       trainer={"accelerator": "cpu"}).fit(panel, "ci_direct", until)
    _zero_output(m)
    f = m.predict(panel, issues, 48)["mean"].to_numpy().reshape(4, 48)
    s24 = _seasonal24(panel, issues, 48)
    sc = m.scalers["X"]
    if form == "seasonal_residual":
        assert f == pytest.approx(s24, rel=1e-5)                  # zero residual = seasonal-naive
    else:
        assert f == pytest.approx(np.full_like(f, sc.y_mean), rel=1e-5)   # zero level = training mean
        assert not np.allclose(f, s24, rtol=1e-3)
    again = pickle.loads(pickle.dumps(m))                          # artifacts keep the form
    assert again.params.target_form == form
    assert again.predict(panel, issues, 48)["mean"].to_numpy() == pytest.approx(f.ravel(), rel=1e-5)


def test_unknown_target_form_is_refused():
    with pytest.raises(ValueError, match="target_form"):
        LSTMForecaster(target_form="ratio")


def test_profile_base_is_the_trailing_week_same_hour_mean():
    panel = _panel()
    s = region_series(panel, "ci_direct")["X"]
    i = np.array([20 * 24 + 23])
    X, J, names = direct_design(s, i, [1, 25], profile_days=7)
    prof = seasonal_base(s.y, i, 25, days=7)[:, [0, 24]]
    assert prof.ravel() == pytest.approx(X[:, names.index("y_prof7")])
    with pytest.raises(ValueError, match="history"):
        seasonal_base(s.y, np.array([100]), 48, days=7)


def test_seasonal_input_is_the_value_24h_earlier_and_the_seasonal_forecast_ahead():
    from carbonshift.forecast.models.neural import windows, with_seasonal_input

    y = np.arange(24 * 20, dtype=float)
    x = np.zeros((len(y), 2))
    i = np.array([24 * 10 + 23, 24 * 12 + 23])
    enc, dec = with_seasonal_input(y, *windows(y, x, i, 48, 48), i)
    assert enc.shape == (2, 48, 1 + 2 + 1) and dec.shape == (2, 48, 2 + 1)
    assert enc[:, :, -1] == pytest.approx(enc[:, :, 0] - 24)                 # encoder: the target 24 h earlier
    assert dec[:, :, -1] == pytest.approx(seasonal_base(y, i, 48))          # decoder: seasonal-naive, known at issue
    assert (dec[:, :, -1] < i[:, None]).all()                               # (y = index: values read before i)
    with pytest.raises(ValueError, match="history"):
        with_seasonal_input(y, *windows(y, x, np.array([60]), 48, 48), np.array([60]))


@pytest.mark.slow   # an LSTM fit
def test_lstm_with_seasonal_input_has_one_more_input_and_round_trips():
    panel = _panel()
    until = pd.Timestamp("2021-01-25", tz="UTC")
    issues = pd.date_range("2021-01-26 23:00", periods=2, freq="D", tz="UTC")
    kw = dict(horizon=24, encoder_h=48, hidden=8, max_epochs=1, stride_h=12, trainer={"accelerator": "cpu"})
    plain = LSTMForecaster(**kw).fit(panel, "ci_direct", until)
    m = LSTMForecaster(seasonal_input=True, **kw).fit(panel, "ci_direct", until)
    assert m.module.encoder.input_size == plain.module.encoder.input_size + 1
    f = m.predict(panel, issues, 24)
    again = pickle.loads(pickle.dumps(m))
    assert again.params.seasonal_input and again.predict(panel, issues, 24)["mean"].to_numpy() == pytest.approx(
        f["mean"].to_numpy(), rel=1e-5)


@pytest.mark.slow
def test_tft_encoder_normalizer_scales_each_window_by_its_encoder():
    from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

    from carbonshift.forecast.models.tft import TFTForecaster

    panel = _panel()
    until = pd.Timestamp("2021-01-25", tz="UTC")
    issues = pd.date_range("2021-01-26 23:00", periods=2, freq="D", tz="UTC")
    kw = dict(horizon=24, encoder_h=48, hidden=8, attention_heads=1, max_epochs=1, limit_train_batches=3, stride_h=24,
              trainer={"accelerator": "cpu"})
    m = TFTForecaster(target_normalizer="encoder", **kw).fit(panel, "ci_direct", until)
    assert isinstance(m.dataset.target_normalizer, EncoderNormalizer)
    assert np.isfinite(m.predict(panel, issues, 24)["mean"]).all()
    assert isinstance(TFTForecaster(**kw).fit(panel, "ci_direct", until).dataset.target_normalizer, GroupNormalizer)
    with pytest.raises(ValueError, match="target_normalizer"):
        TFTForecaster(target_normalizer="robust")


def test_input_clip_bounds_covariates_far_outside_their_training_range():
    from carbonshift.forecast.models.neural import Scaler

    panel = _panel().assign(fc_other_mw=lambda d: np.where(d.index >= 30 * 24, 60.0, 5 + np.sin(d.index / 5.0)))
    s = region_series(panel, "ci_direct")["X"]
    sc = Scaler.fit(s, np.arange(30 * 24))                            # training: fc_other_mw in [4, 6]
    col = 6 + s.known_names.index("fc_other_mw")                      # after the 6 calendar columns
    _, raw = sc.inputs(s, s.known_names)
    _, clipped = sc.inputs(s, s.known_names, clip=4.0)
    assert raw[30 * 24:, col].min() > 50                              # tens of training std out
    assert clipped[30 * 24:, col] == pytest.approx(4.0)
    assert clipped[: 30 * 24, col] == pytest.approx(raw[: 30 * 24, col])   # inside the range nothing changes
    with pytest.raises(ValueError, match="input_clip"):
        LSTMForecaster(input_clip=0)


@pytest.mark.slow
def test_tft_input_clip_bounds_its_covariates():
    from carbonshift.forecast.models.tft import TFTForecaster

    panel = _panel().assign(fc_other_mw=lambda d: np.where(d.index >= 30 * 24, 60.0, 5 + np.sin(d.index / 5.0)))
    until = pd.Timestamp("2021-01-25", tz="UTC")
    kw = dict(horizon=24, encoder_h=48, hidden=8, attention_heads=1, max_epochs=1, limit_train_batches=3, stride_h=24,
              trainer={"accelerator": "cpu"})
    frames = {clip: TFTForecaster(input_clip=clip, **kw).fit(panel, "ci_direct", until)._frame(panel)
              for clip in (None, 3.0)}
    x = [c for c in frames[3.0].columns if c.startswith("x")]
    assert frames[None][x].abs().to_numpy().max() > 50 and frames[3.0][x].abs().to_numpy().max() <= 3.0
    with pytest.raises(ValueError, match="input_clip"):
        TFTForecaster(input_clip=-1.0)
