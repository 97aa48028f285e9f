"""Trainer settings of the neural members (accelerator / devices / strategy / precision), checked at parse time
and passed to Lightning; the TFT epoch timer reports per-epoch seconds and training samples."""
import pandas as pd
import pytest

from carbonshift.experiments.config import ConfigError, parse
from carbonshift.forecast.models.neural import TrainerSettings, trainer


def test_defaults_resolve_to_one_device_auto_and_32_bit_off_cuda():
    import torch

    s = TrainerSettings()
    assert (s.accelerator, s.devices, s.strategy) == ("auto", 1, "auto")
    assert s.lightning_precision() == ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    assert TrainerSettings(accelerator="cpu").lightning_precision() == "32-true"
    assert TrainerSettings(accelerator="gpu").lightning_precision() == "bf16-mixed"
    assert TrainerSettings.of({"accelerator": "cpu", "precision": "64-true"}).precision == "64-true"


@pytest.mark.parametrize("kwargs, words", [
    (dict(accelerator="tpu9"), "trainer.accelerator"),
    (dict(precision="8-bit"), "trainer.precision"),
    (dict(strategy="horovod"), "trainer.strategy"),
    (dict(devices=0), "trainer.devices"),
    (dict(devices=True), "trainer.devices"),
    (dict(devices=4), "need a DDP strategy"),
    (dict(accelerator="cpu", precision="16-mixed"), "needs a GPU"),
])
def test_bad_settings_are_a_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        TrainerSettings(**kwargs)


def test_several_gpus_with_ddp_is_accepted():
    s = TrainerSettings(accelerator="gpu", devices=4, strategy="ddp", precision="bf16-mixed")
    assert (s.devices, s.strategy) == (4, "ddp")


def test_settings_reach_the_lightning_trainer():
    tr = trainer(3, 2, settings=TrainerSettings(accelerator="cpu", precision="64-true", deterministic=False))
    assert type(tr.accelerator).__name__ == "CPUAccelerator"
    assert tr.precision == "64-true" and tr.max_epochs == 3
    tr_default = trainer(3, 2, settings=TrainerSettings(accelerator="cpu"))
    assert tr_default.precision == "32-true"


def _backtest_doc(trainer_section: dict) -> dict:
    return {"kind": "backtest", "name": "t", "data": {"source": "dacf", "regions": ["CISO"]},
            "windows": {"train_end": "2020-12-31", "val_start": "2021-01-01", "val_end": "2021-01-31",
                        "test_start": "2021-02-01", "test_end": "2021-02-28"},
            "models": {"lstm": {"hidden": 8}}, "trainer": trainer_section}


def test_backtest_config_parses_and_rejects_trainer_section():
    from carbonshift.experiments.backtest_config import BacktestConfig
    from carbonshift.experiments.backtest_inputs import model_factories

    cfg = parse(_backtest_doc({"accelerator": "cpu", "precision": "32-true"}), BacktestConfig)
    lstm = model_factories(cfg)["lstm"]()
    assert lstm.trainer_settings == TrainerSettings(accelerator="cpu", precision="32-true")
    with pytest.raises(ConfigError, match="trainer.precision: expected one of"):
        parse(_backtest_doc({"accelerator": "cpu", "precision": "half"}), BacktestConfig)
    with pytest.raises(ConfigError, match="trainer.devices"):
        parse(_backtest_doc({"devices": 2}), BacktestConfig)


@pytest.mark.slow
def test_lstm_trains_on_explicit_cpu_fp32_and_tft_times_its_epochs(dacf_slice, windows):
    import torch

    from carbonshift.forecast.models.lstm import LSTMForecaster
    from carbonshift.forecast.models.tft import TFTForecaster

    until, issues = windows
    cpu = {"accelerator": "cpu", "precision": "32-true"}
    lstm = LSTMForecaster(horizon=24, encoder_h=48, hidden=8, max_epochs=1, stride_h=12, trainer=cpu)
    fc = lstm.fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    assert len(fc) == 2 * len(issues) * 24 and fc["mean"].notna().all()
    assert next(lstm.module.parameters()).dtype == torch.float32
    tft = TFTForecaster(horizon=24, encoder_h=48, hidden=8, attention_heads=1, max_epochs=2, limit_train_batches=3,
                        batch_size=16, patience=5, stride_h=24, train_days=40, trainer=cpu)
    tft.fit(dacf_slice, "ci_direct", until)
    assert len(tft.epoch_seconds) == len(tft.train_seconds) == len(tft.epoch_samples) == 2
    assert all(0 < t <= e for t, e in zip(tft.train_seconds, tft.epoch_seconds))
    assert tft.epoch_samples == [3 * 16, 3 * 16]   # limit_train_batches × batch_size
    assert isinstance(tft.predict(dacf_slice, issues[:2], 24), pd.DataFrame)
