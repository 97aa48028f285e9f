"""Window tensors and trainer set-up shared by the neural forecasters (attention-LSTM, TFT).

Per region the target is standardised with its training mean/std; known-future covariates (calendar +
``fc_*``/``fcx_*`` day-ahead forecasts) are standardised and NaN-filled with 0 plus an availability flag.
For issue index ``i``: encoder = hours ``[i − L, i)`` (target + covariates), decoder = hours ``i + 1 … i + H``
(covariates only) — the information set of :mod:`forecast.models.base`.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from carbonshift.forecast.models.base import Capabilities, Forecaster, TrainingMonitor
from carbonshift.forecast.models.features import RegionSeries

# Upper bounds of the neural members' size settings (``models.lstm`` / ``models.tft``, checked at parse time; shipped
# values in brackets): hidden units [≤ 64], batch size [≤ 256], encoder length [≤ 168 h] — windows are
# n × encoder_h × features float32 arrays, so a year of hours at most — and epochs (max_epochs, patience) [≤ 20].
MAX_HIDDEN = 4096
MAX_BATCH = 65_536
MAX_ENCODER_H = 366 * 24
MAX_EPOCHS = 10_000


def calendar(times: pd.DatetimeIndex) -> np.ndarray:
    """[T × 6] sin/cos of hour of day, day of week and day of year (UTC)."""
    hour = times.hour.to_numpy() / 24.0
    dow = times.dayofweek.to_numpy() / 7.0
    doy = times.dayofyear.to_numpy() / 365.25
    return np.stack([f(2 * np.pi * p) for p in (hour, dow, doy) for f in (np.sin, np.cos)], axis=1)


@dataclass
class Scaler:
    """Per-region standardisation of the target and the known covariates (fitted on training hours)."""

    y_mean: float
    y_std: float
    k_mean: np.ndarray
    k_std: np.ndarray

    @classmethod
    def fit(cls, s: RegionSeries, rows: np.ndarray) -> Scaler:
        y = s.y[rows]
        k = s.known[rows]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN covariate columns (e.g. DE has no fc_*)
            k_mean = np.nan_to_num(np.nanmean(k, axis=0)) if k.size else np.zeros(k.shape[1])
            k_std = np.nan_to_num(np.nanstd(k, axis=0), nan=1.0) if k.size else np.ones(k.shape[1])
        return cls(float(np.nanmean(y)), float(np.nanstd(y)) or 1.0, k_mean, np.where(k_std > 0, k_std, 1.0))

    def inputs(self, s: RegionSeries, names: list[str], clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Standardised target [T] (NaN → 0) and covariates [T × (6 + K + 1)] in the order ``names``; ``clip``
        bounds the standardised covariates to ±clip training std (a covariate far outside its training range,
        e.g. a source forecast whose upstream changed, then cannot push a network into extrapolation)."""
        pos = {n: k for k, n in enumerate(s.known_names)}
        k = np.full((len(s.y), len(names)), np.nan)
        for c, n in enumerate(names):
            if n in pos:
                k[:, c] = (s.known[:, pos[n]] - self.k_mean[pos[n]]) / self.k_std[pos[n]]
        if clip is not None:
            k = np.clip(k, -clip, clip)
        flag = (~np.isnan(k)).any(axis=1, keepdims=True).astype(float) if names else np.zeros((len(s.y), 1))
        x = np.concatenate([calendar(s.times), np.nan_to_num(k), flag], axis=1)
        return np.nan_to_num((s.y - self.y_mean) / self.y_std), x


def windows(y: np.ndarray, x: np.ndarray, i: np.ndarray, encoder_h: int, horizon: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Encoder inputs [n × L × (1 + F)] (target + covariates before ``i``) and decoder covariates
    [n × H × F] at ``i + 1 … i + H``."""
    enc = i[:, None] + np.arange(-encoder_h, 0)[None, :]
    dec = i[:, None] + np.arange(1, horizon + 1)[None, :]
    return (np.concatenate([y[enc][..., None], x[enc]], axis=2).astype(np.float32), x[dec].astype(np.float32))


def seasonal_base(y: np.ndarray, i: np.ndarray, horizon: int, days: int = 1) -> np.ndarray:
    """[n × H] mean of ``y`` over the latest ``days`` complete same hours of day before each issue index ``i``
    for target hour ``i + h`` (h = 1 … H): ``y[i + h − 24·(⌈(h + 1)/24⌉ + d)]``, d = 0 … days − 1 — with
    ``days = 1`` the seasonal-naive 24 h forecast (the ``seasonal24`` member), with 7 the recent daily
    profile; read only before ``i``."""
    h = np.arange(1, horizon + 1)
    k = np.ceil((h + 1) / 24).astype(int)
    lags = 24 * (k[:, None] + np.arange(days)[None, :])                         # H × days
    idx = i[:, None, None] + h[None, :, None] - lags[None, :, :]
    if (idx < 0).any():
        raise ValueError(f"seasonal base: an issue index has less than {int(lags.max()) - 1} h of history")
    return y[idx].mean(axis=2)


def with_seasonal_input(y: np.ndarray, enc: np.ndarray, dec: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Append the seasonal-naive value as a last input feature: encoder hour t gets ``y[t − 24]``, decoder hour
    ``i + h`` the seasonal-naive 24 h forecast known at issue (:func:`seasonal_base`); ``enc`` [n × L × (1 + F)],
    ``dec`` [n × H × F] as from :func:`windows`. Needs L + 24 h of history before each ``i``."""
    n_l, n_h = enc.shape[1], dec.shape[1]
    e = i[:, None] + np.arange(-n_l, 0)[None, :] - 24
    if (e < 0).any():
        raise ValueError(f"seasonal input: an issue index has less than {n_l + 24} h of history")
    return (np.concatenate([enc, y[e][..., None].astype(np.float32)], axis=2),
            np.concatenate([dec, seasonal_base(y, i, n_h)[..., None].astype(np.float32)], axis=2))


#: What the neural members learn: ``level`` the standardised target; ``seasonal_residual`` the standardised
#: target minus the seasonal-naive 24 h value, ``profile_residual`` minus the trailing 7-day same-hour mean
#: (:func:`seasonal_base`), added back at prediction.
TARGET_FORMS: dict[str, int] = {"level": 0, "seasonal_residual": 1, "profile_residual": 7}


ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "32-true", "16-mixed", "bf16-mixed", "64-true")
STRATEGIES: tuple[str, ...] = ("auto", "single_device", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true")


@dataclass(frozen=True)
class TrainerSettings:
    """Where and how the neural members train (passed to Lightning's ``Trainer``).

    ``accelerator``: one of :data:`ACCELERATORS` (``auto`` picks a GPU when one is visible); ``devices``: a
    device count ≥ 1 or ``"auto"``; ``strategy``: one of :data:`STRATEGIES` — several devices need a DDP
    strategy (one process per GPU, gradients all-reduced); ``precision``: one of :data:`PRECISIONS`, ``auto`` =
    ``bf16-mixed`` on CUDA and ``32-true`` elsewhere; ``deterministic``: reproducible kernels (slower on GPU).

    Several devices: with ``ddp`` Lightning re-launches the running command once per extra device and every
    rank runs all of it (only rank 0 records the MLflow run: :func:`experiments.runner.distributed_rank`); ``ddp_spawn`` trains in
    spawned workers and needs a picklable module, which the LSTM's (a local class) is not. Neither was run on
    several GPUs here (no GPU machine was available)."""

    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "auto"
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"trainer.accelerator: expected one of {list(ACCELERATORS)}, got {self.accelerator!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision: expected one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"trainer.strategy: expected one of {list(STRATEGIES)}, got {self.strategy!r}")
        if isinstance(self.devices, bool) or not (self.devices == "auto" or isinstance(self.devices, int)
                                                  and self.devices >= 1):
            raise ValueError(f"trainer.devices: expected an integer ≥ 1 or 'auto', got {self.devices!r}")
        if (self.devices == "auto" or isinstance(self.devices, int) and self.devices > 1) and not self.strategy.startswith("ddp"):
            raise ValueError(f"trainer.devices: {self.devices!r} devices need a DDP strategy (trainer.strategy: "
                             f"ddp), got strategy {self.strategy!r}")
        if self.accelerator == "cpu" and self.precision == "16-mixed":
            raise ValueError("trainer.precision: 16-mixed needs a GPU; use 32-true or bf16-mixed on cpu")

    @classmethod
    def of(cls, value: TrainerSettings | dict | None) -> TrainerSettings:
        """Settings from themselves, a mapping of their fields (a config section) or ``None`` (defaults)."""
        if value is None:
            return cls()
        return value if isinstance(value, TrainerSettings) else cls(**value)

    def lightning_precision(self) -> str:
        """The Lightning precision string: ``auto`` resolved to ``bf16-mixed`` on CUDA, else ``32-true``."""
        if self.precision != "auto":
            return self.precision
        import torch

        on_cuda = self.accelerator in ("gpu", "cuda") or (self.accelerator == "auto" and torch.cuda.is_available())
        return "bf16-mixed" if on_cuda else "32-true"


def trainer(max_epochs: int, patience: int, limit_train_batches: int | float = 1.0,
            settings: TrainerSettings | None = None, callbacks: tuple = (), *, name: str = "model",
            monitor: TrainingMonitor | None = None):
    """Lightning trainer on ``settings`` (:class:`TrainerSettings`; default: ``accelerator="auto"``, one device,
    bf16-mixed on CUDA only, deterministic), early stopping on ``val_loss``, best checkpoint kept in a temporary
    folder (see :func:`best_checkpoint`), progress shown and reported per epoch by :func:`training_progress`
    (``name``: the member; ``monitor``: called after each epoch); ``callbacks`` are extra Lightning callbacks
    (timers, tuning reports)."""
    import lightning.pytorch as pl

    settings = settings or TrainerSettings()
    if not logging.getLogger("carbonshift").isEnabledFor(logging.DEBUG):  # banners and tips only with -v
        for logger in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(logger).setLevel(logging.WARNING)
    ckpt_dir = tempfile.mkdtemp(prefix="carbonshift_ckpt_")
    cbs = [pl.callbacks.EarlyStopping("val_loss", patience=patience, mode="min"),
           pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, monitor="val_loss", mode="min", save_top_k=1),
           training_progress(name, monitor), *callbacks]
    return pl.Trainer(max_epochs=max_epochs, accelerator=settings.accelerator, devices=settings.devices,
                      # lightning_precision() is one of PRECISIONS (checked in __post_init__), a plain str here
                      strategy=settings.strategy, precision=settings.lightning_precision(),  # type: ignore[arg-type]
                      callbacks=cbs,
                      deterministic=settings.deterministic, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_train_batches=limit_train_batches, gradient_clip_val=1.0)


log = logging.getLogger("carbonshift.forecast.training")
#: Warnings of the libraries under the neural members that say nothing a caller can act on, each matched by its
#: message and category: torch's FutureWarning each time Lightning's own pytree helper
#: (lightning/pytorch/utilities/_pytree.py) builds a ``LeafSpec`` while moving batches (a deprecation inside
#: Lightning), and Lightning's UserWarning that pytorch-forecasting's TFT saves its ``loss`` / ``logging_metrics``
#: modules as hyperparameters (its own ``save_hyperparameters`` call; the checkpoint loads as intended).
_DEPENDENCY_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    (r"Attribute '(loss|logging_metrics)' is an instance of `nn.Module` and is already saved during checkpointing",
     UserWarning),
)


@contextlib.contextmanager
def quiet_lightning():
    """Silence the :data:`_DEPENDENCY_NOISE` messages (and only them) while a neural member fits or predicts."""
    with warnings.catch_warnings():
        for message, category in _DEPENDENCY_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def training_progress(name: str, monitor: TrainingMonitor | None = None):
    """A Lightning callback that makes training watchable: a progress line (tqdm on a terminal, off otherwise)
    advancing every batch with the epoch (``epoch 3/6``), the running training loss and the time left if every
    epoch up to ``max_epochs`` runs (early stopping may end sooner); after each epoch one log line (logger
    ``carbonshift.forecast.training``, INFO) with the epoch's mean training loss, its validation loss and
    seconds, and ``monitor(epoch, {"train_loss", "val_loss", "epoch_s"})`` when given (losses: the model's
    training loss, the quantile loss on standardised targets)."""
    import time

    import lightning.pytorch as pl
    from tqdm.auto import tqdm

    class TrainingProgress(pl.Callback):
        def __init__(self) -> None:
            self.bar: Any = None        # a tqdm bar (untyped library), set on train start
            self.losses: list[float] = []
            self.t0 = 0.0
            self.history: list[dict[str, float]] = []

        def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001 (Lightning hook)
            per_epoch = trainer.num_training_batches
            total = per_epoch * trainer.max_epochs if np.isfinite(per_epoch) else None
            self.bar = tqdm(total=total, desc=f"{name} epoch 1/{trainer.max_epochs}", unit="batch", leave=False,
                            disable=None)

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.losses, self.t0 = [], time.perf_counter()
            self.bar.set_description(f"{name} epoch {trainer.current_epoch + 1}/{trainer.max_epochs}", refresh=False)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            if loss is not None:
                self.losses.append(float(loss))
                self.bar.set_postfix(loss=f"{np.mean(self.losses):.4f}", refresh=False)
            self.bar.update(1)

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            val = trainer.callback_metrics.get("val_loss")
            metrics = {"train_loss": float(np.mean(self.losses)) if self.losses else float("nan"),
                       "val_loss": float(val) if val is not None else float("nan"),
                       "epoch_s": time.perf_counter() - self.t0}
            self.history.append(metrics)
            epoch, left = trainer.current_epoch, trainer.max_epochs - trainer.current_epoch - 1
            log.info("%s epoch %d/%d: train loss %.4f, validation loss %.4f, %.1f s (≤ %.0f s left at this pace)",
                     name, epoch + 1, trainer.max_epochs, metrics["train_loss"], metrics["val_loss"],
                     metrics["epoch_s"], left * metrics["epoch_s"])
            if monitor is not None:
                monitor(epoch, metrics)

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            if self.bar is not None:
                self.bar.close()

    return TrainingProgress()


def epoch_timer():
    """A Lightning callback recording, per training epoch, wall seconds including the validation pass
    (``epoch_seconds``), seconds from the epoch start to its last training batch (``train_seconds``) and the
    training samples seen (``epoch_samples``; batch size of every batch) — samples/s = samples / train seconds."""
    import time

    import lightning.pytorch as pl

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.epoch_seconds: list[float] = []
            self.epoch_samples: list[int] = []
            self.train_seconds: list[float] = []
            self._t0 = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001 (Lightning hook)
            self._t0 = time.perf_counter()
            self.epoch_samples.append(0)
            self.train_seconds.append(0.0)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
            first = batch[0] if isinstance(batch, (list, tuple)) else batch
            while isinstance(first, (list, tuple, dict)):
                first = next(iter(first.values())) if isinstance(first, dict) else first[0]
            self.epoch_samples[-1] += int(first.shape[0])
            self.train_seconds[-1] = time.perf_counter() - self._t0

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.epoch_seconds.append(time.perf_counter() - self._t0)

    return EpochTimer()


def best_checkpoint(tr, load):
    """Load the best checkpoint of trainer ``tr`` with ``load(path)`` (returns its result, or ``None`` when
    none was written) and delete the temporary checkpoint folder."""
    import shutil

    cb = tr.checkpoint_callback
    try:
        return load(cb.best_model_path) if cb.best_model_path else None
    finally:
        shutil.rmtree(cb.dirpath, ignore_errors=True)


class NeuralForecaster(Forecaster):
    """A Lightning-trained global forecaster (LSTM, TFT): ``trainer`` is its :class:`TrainerSettings` (or a mapping
    of them); ``fit`` takes extra Lightning ``callbacks`` (epoch timers, tuning reports)."""

    capabilities = Capabilities(quantiles=True, future_covariates=True, global_model=True, gpu=True)
    requires: ClassVar[tuple[str, ...]] = ("torch", "lightning")
    reports_epochs = True

    def __init__(self, issue_hour: int = 23, horizon: int = 48, *, trainer: TrainerSettings | dict | None = None,
                 **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        self.trainer_settings = TrainerSettings.of(trainer)

    def _context(self) -> dict[str, Any]:
        return {**super()._context(), "trainer": self.trainer_settings}

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None, **options: Any):  # noqa: ANN201
        """:meth:`Forecaster.fit` with the dependencies' :data:`_DEPENDENCY_NOISE` silenced."""
        with quiet_lightning():
            return super().fit(panel, target, until, **options)

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        """:meth:`Forecaster.predict` with the dependencies' :data:`_DEPENDENCY_NOISE` silenced."""
        with quiet_lightning():
            return super().predict(history, issue_times, horizon)


def check_input_clip(model: str, clip: float | None) -> None:
    """``ValueError`` unless ``clip`` (training std) is None or > 0."""
    if clip is not None and clip <= 0:
        raise ValueError(f"{model}: input_clip must be > 0 (training std), got {clip}")
