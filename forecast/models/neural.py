"""Window tensors and trainer set-up shared by the neural forecasters (attention-LSTM, TFT).

Per region the target is standardised with its training mean/std; known-future covariates (calendar +
``fc_*``/``fcx_*`` day-ahead forecasts) are standardised and NaN-filled with 0 plus an availability flag.
For issue index ``i``: encoder = hours ``[i − L, i)`` (target + covariates), decoder = hours ``i + 1 … i + H``
(covariates only) — the information set of :mod:`forecast.models.base`.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.models.features import RegionSeries


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

    def inputs(self, s: RegionSeries, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Standardised target [T] (NaN → 0) and covariates [T × (6 + K + 1)] in the order ``names``."""
        pos = {n: k for k, n in enumerate(s.known_names)}
        k = np.full((len(s.y), len(names)), np.nan)
        for c, n in enumerate(names):
            if n in pos:
                k[:, c] = (s.known[:, pos[n]] - self.k_mean[pos[n]]) / self.k_std[pos[n]]
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


def trainer(max_epochs: int, patience: int, limit_train_batches: int | float = 1.0):
    """Lightning trainer: ``accelerator="auto"``, bf16-mixed on CUDA only, early stopping on ``val_loss``,
    best checkpoint kept in a temporary folder (see :func:`best_checkpoint`), deterministic."""
    import lightning.pytorch as pl
    import torch

    if not logging.getLogger("carbonshift").isEnabledFor(logging.DEBUG):  # banners and tips only with -v
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    ckpt_dir = tempfile.mkdtemp(prefix="carbonshift_ckpt_")
    callbacks = [pl.callbacks.EarlyStopping("val_loss", patience=patience, mode="min"),
                 pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, monitor="val_loss", mode="min", save_top_k=1)]
    return pl.Trainer(max_epochs=max_epochs, accelerator="auto", devices=1,
                      precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
                      callbacks=callbacks, deterministic=True, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_train_batches=limit_train_batches, gradient_clip_val=1.0)


def best_checkpoint(tr, load):
    """Load the best checkpoint of trainer ``tr`` with ``load(path)`` (returns its result, or ``None`` when
    none was written) and delete the temporary checkpoint folder."""
    import shutil

    cb = tr.checkpoint_callback
    try:
        return load(cb.best_model_path) if cb.best_model_path else None
    finally:
        shutil.rmtree(cb.dirpath, ignore_errors=True)
