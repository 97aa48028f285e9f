"""Kind ``gpu_bench``: TFT epochs timed under the trainer settings (here on CPU, fp32)."""
import pytest

from carbonshift.experiments.config import ConfigError, parse


def test_throughput_skips_the_first_epoch_and_counts_every_rank():
    from carbonshift.experiments.kinds.gpu_bench import throughput

    assert throughput([10.0, 2.0, 2.0], [100, 100, 100], 1) == pytest.approx(50.0)
    assert throughput([4.0], [100], 2) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no training time"):
        throughput([0.0], [0], 1)


def _doc(**extra) -> dict:
    doc = {"kind": "gpu_bench", "name": "bench_tiny", "data": {"source": "dacf", "regions": ["CISO"]},
           "train_end": "2020-06-30", "epochs": 2, "horizon_h": 24,
           "tft": {"encoder_h": 48, "hidden": 8, "attention_heads": 1, "batch_size": 16, "limit_train_batches": 3,
                   "stride_h": 24, "train_days": 60},
           "trainer": {"accelerator": "cpu", "precision": "32-true"}}
    doc.update(extra)
    return doc


def test_bad_bench_configs():
    from carbonshift.experiments.kinds.gpu_bench import GPUBenchConfig

    with pytest.raises(ConfigError, match="epochs: must be 1–100"):
        parse(_doc(epochs=0), GPUBenchConfig)
    with pytest.raises(ConfigError, match="trainer.strategy: expected one of"):
        parse(_doc(trainer={"strategy": "deepspeed"}), GPUBenchConfig)
    with pytest.raises(ConfigError, match="data.source"):
        parse(_doc(data={"source": "electricitymaps", "regions": ["DE"]}), GPUBenchConfig)


@pytest.mark.slow
def test_bench_reports_epoch_time_samples_per_s_device_and_precision(tmp_path):
    from carbonshift.experiments.runner import run_config

    rec = run_config(_doc(), reports_dir=tmp_path, progress=False)
    assert rec.status == "FINISHED", rec.error
    epochs = rec.tables["epochs"]
    assert list(epochs["epoch"]) == [1, 2] and list(epochs["train_samples_rank0"]) == [48, 48]
    second = epochs.iloc[1]
    assert rec.metrics["samples_per_s"] == pytest.approx(48 / second["train_s"])
    assert rec.metrics["epoch_s.mean"] == pytest.approx(second["epoch_s"])
    assert (epochs["train_s"] <= epochs["epoch_s"]).all() and rec.metrics["world_size"] == 1
    assert rec.summary["precision"] == "32-true" and rec.summary["device"].startswith("CPU ")
    assert rec.summary["torch_device"] == "cpu" and rec.metrics["parameters"] > 0
