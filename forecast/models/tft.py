"""Temporal Fusion Transformer (pytorch-forecasting) on the panel.

``TimeSeriesDataSet`` with static categorical ``region``; known-future reals = calendar (hour/day-of-week/
day-of-year sin/cos) + ``fc_*``/``fcx_*`` day-ahead forecasts (standardised, NaN → 0 plus an availability
flag); observed (unknown) real = the target history. Observed ``obs_*`` weather is known-future only with
``oracle_weather`` (label results "oracle weather"). ``QuantileLoss`` on our 7 levels, target normalised
per region (``target_normalizer="group"``: ``GroupNormalizer``, the training mean/std) or per window
(``"encoder"``: ``EncoderNormalizer``, the mean/std of that window's 168 h encoder — follows recent levels).
``input_clip`` bounds the standardised known covariates to ± that many training std (as the LSTM's). The decoder spans the issue hour ``i`` and ``i + 1 … i + H``; the issue hour
itself (horizon 0) is dropped from the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from carbonshift.forecast.bounds import MAX_SPAN_DAYS, MAX_SPAN_H, bounded
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import TrainingMonitor, forecast_frame
from carbonshift.forecast.models.features import region_series
from carbonshift.forecast.models.neural import (MAX_BATCH, MAX_ENCODER_H, MAX_EPOCHS, MAX_HIDDEN,
                                                NeuralForecaster, Scaler, best_checkpoint, check_input_clip,
                                                epoch_timer, trainer)
from carbonshift.forecast.models.registry import register_forecaster


_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def hour_index(times: pd.DatetimeIndex) -> np.ndarray:
    """Whole hours since the Unix epoch (the TFT ``time_idx``)."""
    return ((pd.DatetimeIndex(times) - _EPOCH) // pd.Timedelta(hours=1)).to_numpy().astype(np.int64)


@dataclass
class TFTParams:
    """Hyperparameters of :class:`TFTForecaster` (sizes and training limits; tiny for tests)."""

    encoder_h: int = bounded(168, le=MAX_ENCODER_H)   # hours of history each forecast reads (max_encoder_length)
    hidden: int = bounded(32, le=MAX_HIDDEN)
    attention_heads: int = bounded(2, le=64)
    dropout: float = 0.1
    max_epochs: int = bounded(10, le=MAX_EPOCHS)
    batch_size: int = bounded(128, le=MAX_BATCH)
    learning_rate: float = 3e-3
    patience: int = bounded(3, le=MAX_EPOCHS)   # epochs without a better early-stopping loss before training stops
    limit_train_batches: int = bounded(200, le=1_000_000)   # training batches per epoch, at most
    stride_h: int = bounded(6, le=MAX_SPAN_H)   # hours between training windows
    train_days: int | None = bounded(None, le=MAX_SPAN_DAYS)   # train on the last N days only (null: all)
    target_normalizer: Literal["group", "encoder"] = "group"   # encoder: scale each window by its encoder's mean/std
    input_clip: float | None = None   # bound standardised known covariates to ± this many training std

    def __post_init__(self) -> None:
        check_input_clip("tft", self.input_clip)
        if self.target_normalizer not in ("group", "encoder"):
            raise ValueError(f"tft: target_normalizer must be 'group' or 'encoder', got {self.target_normalizer!r}")


@register_forecaster("tft")
class TFTForecaster(NeuralForecaster):
    """pytorch-forecasting TFT (hyperparameters: :class:`TFTParams`); ``trainer``:
    :class:`forecast.models.neural.TrainerSettings` (or a mapping of them). After ``fit``, ``epoch_seconds``,
    ``train_seconds`` and ``epoch_samples`` hold the per-epoch timings (s) and training samples of rank 0, and
    ``train_device`` / ``train_precision`` / ``world_size`` what Lightning trained on."""

    Params = TFTParams
    requires = ("torch", "lightning", "pytorch-forecasting")

    def __init__(self, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        self.names: list[str] = []
        self.scalers: dict[str, Scaler] = {}
        self.dataset: Any = None                          # pytorch_forecasting TimeSeriesDataSet (untyped library)
        self.model: Any = None                            # its TemporalFusionTransformer, set by fit
        self.epoch_seconds: list[float] = []
        self.train_seconds: list[float] = []
        self.epoch_samples: list[int] = []
        self.train_device, self.train_precision, self.world_size = "", "", 1

    def _frame(self, history: pd.DataFrame, fit_until: pd.Timestamp | None = None) -> pd.DataFrame:
        """Long frame for pytorch-forecasting (time_idx = hours since the Unix epoch)."""
        frames = []
        for r, s in region_series(history, self.fitted_target, self.oracle_weather).items():
            if fit_until is not None:
                end = len(s.y) if fit_until is None else int(np.searchsorted(s.times, fit_until))
                start = 0 if self.params.train_days is None else max(0, end - 24 * self.params.train_days)
                self.scalers[r] = Scaler.fit(s, np.arange(start, end))
            _, x = self.scalers[r].inputs(s, self.names, self.params.input_clip)
            f = pd.DataFrame(x, columns=[f"x{k}" for k in range(x.shape[1])])
            f["y"] = np.nan_to_num(s.y)          # unknown future hours: never inputs (decoder sees known reals only)
            f["region"] = r
            f["time_idx"] = hour_index(s.times)
            f["observed"] = ~np.isnan(s.y)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None, callbacks: tuple = (),
             monitor: TrainingMonitor | None = None) -> None:
        """Train on hours before ``until``; ``callbacks``: extra Lightning callbacks (tuning reports);
        ``monitor``: called after each epoch (:func:`forecast.models.neural.training_progress`)."""
        import lightning.pytorch as pl
        from pytorch_forecasting import QuantileLoss, TemporalFusionTransformer, TimeSeriesDataSet
        from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

        pl.seed_everything(self.seed, workers=True, verbose=False)
        p = self.params
        series = region_series(panel, target, self.oracle_weather)
        self.names = sorted({n for s in series.values() for k, n in enumerate(s.known_names)
                             if not np.isnan(s.known[:, k]).all()})
        df = self._frame(panel, until if until is not None else panel["time"].max() + pd.Timedelta(hours=1))
        cut_t = None if until is None else int(hour_index(pd.DatetimeIndex([until]))[0])
        if cut_t is not None:
            df = df[df["time_idx"] < cut_t]
        if p.train_days is not None:
            df = df[df["time_idx"] >= df.groupby("region")["time_idx"].transform("max") - 24 * p.train_days]
        df = df[df["observed"]].drop(columns="observed")
        span = df["time_idx"].max() - df["time_idx"].min()
        val_start = int(df["time_idx"].max() - max(span // 10, p.encoder_h + self.horizon + 1))
        known = [c for c in df.columns if c.startswith("x")]
        params = dict(time_idx="time_idx", target="y", group_ids=["region"], max_encoder_length=p.encoder_h,
                      min_encoder_length=p.encoder_h, max_prediction_length=self.horizon + 1,
                      min_prediction_length=self.horizon + 1, static_categoricals=["region"],
                      time_varying_known_reals=known, time_varying_unknown_reals=["y"],
                      target_normalizer=(GroupNormalizer(groups=["region"]) if p.target_normalizer == "group"
                                         else EncoderNormalizer()), add_relative_time_idx=False,
                      allow_missing_timesteps=True)
        train_ds = TimeSeriesDataSet(df[df["time_idx"] < val_start + self.horizon], **params)
        train_ds = train_ds.filter(lambda idx: (idx["time_idx_first_prediction"] % p.stride_h) == 0)
        val_ds = TimeSeriesDataSet.from_dataset(train_ds, df, min_prediction_idx=val_start, stop_randomization=True)
        val_ds = val_ds.filter(lambda idx: (idx["time_idx_first_prediction"] % p.stride_h) == 0)
        self.dataset = train_ds
        self.model = TemporalFusionTransformer.from_dataset(
            train_ds, hidden_size=p.hidden, attention_head_size=p.attention_heads, dropout=p.dropout,
            hidden_continuous_size=max(4, p.hidden // 2), loss=QuantileLoss(quantiles=list(QUANTILE_LEVELS)),
            learning_rate=p.learning_rate, log_interval=-1, reduce_on_plateau_patience=max(1, p.patience - 1))
        timer = epoch_timer()
        tr = trainer(p.max_epochs, p.patience, p.limit_train_batches, self.trainer_settings,
                     (timer, *callbacks), name=self.name, monitor=monitor)
        tr.fit(self.model, train_ds.to_dataloader(train=True, batch_size=p.batch_size, num_workers=0),
               val_ds.to_dataloader(train=False, batch_size=4 * p.batch_size, num_workers=0))
        self.epoch_seconds, self.train_seconds = timer.epoch_seconds, timer.train_seconds
        self.epoch_samples = timer.epoch_samples
        self.train_device, self.train_precision = str(tr.strategy.root_device), str(tr.precision)
        self.world_size = tr.world_size
        self.model = best_checkpoint(tr, TemporalFusionTransformer.load_from_checkpoint) or self.model
        self.model.eval()

    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        from pytorch_forecasting import TimeSeriesDataSet

        p = self.params
        issue_idx = hour_index(issues)
        df = self._frame(history).drop(columns="observed")
        lo, hi = issue_idx.min() - p.encoder_h, issue_idx.max() + self.horizon + 1
        df = df[(df["time_idx"] >= lo) & (df["time_idx"] < hi)]
        ds = TimeSeriesDataSet.from_dataset(self.dataset, df, stop_randomization=True)
        wanted = set(issue_idx.tolist())
        ds = ds.filter(lambda idx: idx["time_idx_first_prediction"].isin(wanted))
        pred = self.model.predict(ds.to_dataloader(train=False, batch_size=4 * p.batch_size, num_workers=0),
                                  mode="quantiles", return_index=True,
                                  trainer_kwargs=dict(accelerator=self.trainer_settings.accelerator, devices=1,
                                                      logger=False, enable_progress_bar=False))
        q_all = pred.output.float().cpu().numpy()[:, 1:horizon + 1, :]   # drop horizon 0 (the issue hour)
        index = pred.index.reset_index(drop=True)
        frames = []
        h = np.arange(1, horizon + 1)
        for r, rows in index.groupby("region", sort=False):
            pos = {t: k for k, t in zip(rows.index, rows["time_idx"])}
            missing = [t for t in issue_idx if t not in pos]
            if missing:
                raise ValueError(f"tft: {r} has no prediction window for {len(missing)} issue times (need "
                                 f"{p.encoder_h} h of history and {horizon} h after)")
            q = q_all[[pos[t] for t in issue_idx]]
            frames.append(forecast_frame(str(r), issues, h, q[:, :, QUANTILE_LEVELS.index(0.5)], q))
        return pd.concat(frames, ignore_index=True)
