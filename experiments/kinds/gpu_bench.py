"""Experiment kind ``gpu_bench``: train the TFT member for a fixed number of epochs on the configured regions
and report how fast it trains — seconds per epoch, training samples per second, on which device and in which
precision — under the ``trainer:`` settings (accelerator / devices / strategy / precision).

Early stopping is off (patience > epochs) so every run trains exactly ``epochs`` epochs. ``epoch_s`` includes
the validation pass; ``samples_per_s`` = training samples / seconds spent in the training batches, over the
epochs after the first (the first carries one-off start-up: data loader workers, CUDA kernels, autotuning; with
one epoch it is that epoch). With DDP over several devices rank 0's samples are multiplied by the world size.
The forecasts are not scored here: this is a speed benchmark, not an accuracy result.
"""
from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.forecast_sections import DataSection, TFTSection, TrainerSection, model_params
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.data.schema import MAX_HORIZON_H, TARGETS
from carbonshift.forecast.models.tft import TFTForecaster


@dataclass
class GPUBenchConfig:
    kind: str
    name: str
    data: DataSection
    train_end: str   # inclusive UTC date: the TFT trains on hours up to the end of this day
    epochs: int = 3   # epochs trained (replaces tft.max_epochs; early stopping off)
    target: str = "ci_direct"
    issue_hour: int = 23
    horizon_h: int = 48
    tft: TFTSection = field(default_factory=TFTSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.target in TARGETS, "target", f"unknown target {self.target!r}; known: {sorted(TARGETS)}")
        check(self.data.source == "dacf", "data.source", "gpu_bench reads the DACF panel (source: dacf)")
        check(1 <= self.epochs <= 100, "epochs", "must be 1–100")
        check(0 <= self.issue_hour <= 23, "issue_hour", "must be 0–23 (UTC)")
        check(1 <= self.horizon_h <= MAX_HORIZON_H, "horizon_h", f"must be 1–{MAX_HORIZON_H} h")
        try:
            pd.Timestamp(self.train_end)
        except ValueError as exc:
            check(False, "train_end", f"not a date ({exc})")


def device_name(device: str) -> str:
    """A readable name of the torch device string Lightning trained on (``cuda:0`` → the GPU's name)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU {cpu} ({torch.get_num_threads()} torch threads)"


def throughput(train_seconds: list[float], epoch_samples: list[int], world_size: int) -> float:
    """Training samples per second over the epochs after the first (all epochs when there is one)."""
    keep = slice(1, None) if len(train_seconds) > 1 else slice(None)
    seconds = float(np.sum(train_seconds[keep]))
    if seconds <= 0:
        raise ValueError("gpu_bench: no training time recorded (did any training batch run?)")
    return float(np.sum(epoch_samples[keep])) * world_size / seconds


@experiment_kind("gpu_bench", GPUBenchConfig)
def run(config: GPUBenchConfig, ctx: Context) -> Result:
    """TFT training speed (s/epoch, samples/s, device, precision) under the trainer settings."""
    t0 = time.perf_counter()
    panel = config.data.load(ctx.data_dir)
    params = {**model_params(config.tft), "max_epochs": config.epochs, "patience": config.epochs + 1}
    model = TFTForecaster(config.issue_hour, config.horizon_h, seed=config.seed,
                          trainer=config.trainer.settings(), **params)
    until = pd.Timestamp(config.train_end, tz="UTC") + pd.Timedelta(days=1)
    model.fit(panel, config.target, until=until)
    if len(model.epoch_seconds) != config.epochs:
        raise ValueError(f"gpu_bench: trained {len(model.epoch_seconds)} of {config.epochs} epochs on rank 0 "
                         f"(strategy {config.trainer.strategy!r}; ddp_spawn keeps timings in its workers — use ddp)")
    res = Result()
    res.tables["epochs"] = pd.DataFrame({"epoch": np.arange(1, config.epochs + 1),
                                         "epoch_s": model.epoch_seconds, "train_s": model.train_seconds,
                                         "train_samples_rank0": model.epoch_samples})
    steady = model.epoch_seconds[1:] or model.epoch_seconds
    res.metrics.update({
        "epoch_s.mean": float(np.mean(steady)), "epoch_s.first": float(model.epoch_seconds[0]),
        "samples_per_s": throughput(model.train_seconds, model.epoch_samples, model.world_size),
        "train_samples_per_epoch": float(np.mean(model.epoch_samples)) * model.world_size,
        "parameters": float(sum(p.numel() for p in model.model.parameters())),
        "world_size": float(model.world_size), "wall_s": time.perf_counter() - t0})
    res.summary.update({"name": config.name, "device": device_name(model.train_device),
                        "torch_device": model.train_device, "precision": model.train_precision,
                        "trainer": dataclasses.asdict(config.trainer), "regions": config.data.regions,
                        "epochs": config.epochs, "samples_per_s": round(res.metrics["samples_per_s"], 1),
                        "epoch_s_mean": round(res.metrics["epoch_s.mean"], 2)})
    return res
