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

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.models.base import as_issue_index, forecast_frame
from carbonshift.forecast.models.features import region_series
from carbonshift.forecast.models.neural import Scaler, TrainerSettings, best_checkpoint, epoch_timer, trainer


_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def hour_index(times: pd.DatetimeIndex) -> np.ndarray:
    """Whole hours since the Unix epoch (the TFT ``time_idx``)."""
    return ((pd.DatetimeIndex(times) - _EPOCH) // pd.Timedelta(hours=1)).to_numpy().astype(np.int64)


class TFTForecaster:
    """pytorch-forecasting TFT; sizes and training limits are constructor knobs (tiny for tests); ``trainer``:
    :class:`forecast.models.neural.TrainerSettings` (or a mapping of them). After ``fit``, ``epoch_seconds``,
    ``train_seconds`` and ``epoch_samples`` hold the per-epoch timings (s) and training samples of rank 0, and
    ``train_device`` / ``train_precision`` / ``world_size`` what Lightning trained on."""

    def __init__(self, issue_hour: int = 23, horizon: int = 48, encoder_h: int = 168, hidden: int = 32,
                 attention_heads: int = 2, dropout: float = 0.1, max_epochs: int = 10, batch_size: int = 128,
                 learning_rate: float = 3e-3, patience: int = 3, limit_train_batches: int = 200, stride_h: int = 6,
                 train_days: int | None = None, oracle_weather: bool = False, seed: int = 0,
                 trainer: TrainerSettings | dict | None = None, target_normalizer: str = "group",
                 input_clip: float | None = None) -> None:
        if input_clip is not None and input_clip <= 0:
            raise ValueError(f"tft: input_clip must be > 0 (training std), got {input_clip}")
        if target_normalizer not in ("group", "encoder"):
            raise ValueError(f"tft: target_normalizer must be 'group' or 'encoder', got {target_normalizer!r}")
        self.name = "tft"
        self.target_normalizer, self.input_clip = target_normalizer, input_clip
        self.trainer_settings = TrainerSettings.of(trainer)
        self.issue_hour, self.horizon, self.encoder_h = issue_hour, horizon, encoder_h
        self.hidden, self.heads, self.dropout = hidden, attention_heads, dropout
        self.max_epochs, self.batch_size, self.lr, self.patience = max_epochs, batch_size, learning_rate, patience
        self.limit_train_batches, self.stride_h, self.train_days = limit_train_batches, stride_h, train_days
        self.oracle_weather, self.seed = oracle_weather, seed
        self.target: str | None = None
        self.names: list[str] = []
        self.scalers: dict[str, Scaler] = {}
        self.dataset = None
        self.model = None
        self.epoch_seconds: list[float] = []
        self.train_seconds: list[float] = []
        self.epoch_samples: list[int] = []
        self.train_device, self.train_precision, self.world_size = "", "", 1

    def _frame(self, history: pd.DataFrame, fit_until: pd.Timestamp | None = None) -> pd.DataFrame:
        """Long frame for pytorch-forecasting (time_idx = hours since the Unix epoch)."""
        frames = []
        for r, s in region_series(history, self.target, self.oracle_weather).items():
            if fit_until is not None:
                end = len(s.y) if fit_until is None else int(np.searchsorted(s.times, fit_until))
                start = 0 if self.train_days is None else max(0, end - 24 * self.train_days)
                self.scalers[r] = Scaler.fit(s, np.arange(start, end))
            elif r not in self.scalers:
                raise ValueError(f"tft: region {r!r} was not in the training panel")
            _, x = self.scalers[r].inputs(s, self.names, getattr(self, "input_clip", None))
            f = pd.DataFrame(x, columns=[f"x{k}" for k in range(x.shape[1])])
            f["y"] = np.nan_to_num(s.y)          # unknown future hours: never inputs (decoder sees known reals only)
            f["region"] = r
            f["time_idx"] = hour_index(s.times)
            f["observed"] = ~np.isnan(s.y)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None,
            callbacks: tuple = ()) -> TFTForecaster:
        """Train on hours before ``until``; ``callbacks``: extra Lightning callbacks (tuning reports)."""
        import lightning.pytorch as pl
        from pytorch_forecasting import QuantileLoss, TemporalFusionTransformer, TimeSeriesDataSet
        from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

        pl.seed_everything(self.seed, workers=True, verbose=False)
        self.target = target
        series = region_series(panel, target, self.oracle_weather)
        self.names = sorted({n for s in series.values() for k, n in enumerate(s.known_names)
                             if not np.isnan(s.known[:, k]).all()})
        df = self._frame(panel, until if until is not None else panel["time"].max() + pd.Timedelta(hours=1))
        cut_t = None if until is None else int(hour_index(pd.DatetimeIndex([until]))[0])
        if cut_t is not None:
            df = df[df["time_idx"] < cut_t]
        if self.train_days is not None:
            df = df[df["time_idx"] >= df.groupby("region")["time_idx"].transform("max") - 24 * self.train_days]
        df = df[df["observed"]].drop(columns="observed")
        span = df["time_idx"].max() - df["time_idx"].min()
        val_start = int(df["time_idx"].max() - max(span // 10, self.encoder_h + self.horizon + 1))
        known = [c for c in df.columns if c.startswith("x")]
        params = dict(time_idx="time_idx", target="y", group_ids=["region"], max_encoder_length=self.encoder_h,
                      min_encoder_length=self.encoder_h, max_prediction_length=self.horizon + 1,
                      min_prediction_length=self.horizon + 1, static_categoricals=["region"],
                      time_varying_known_reals=known, time_varying_unknown_reals=["y"],
                      target_normalizer=(GroupNormalizer(groups=["region"]) if self.target_normalizer == "group"
                                         else EncoderNormalizer()), add_relative_time_idx=False,
                      allow_missing_timesteps=True)
        train_ds = TimeSeriesDataSet(df[df["time_idx"] < val_start + self.horizon], **params)
        train_ds = train_ds.filter(lambda idx: (idx["time_idx_first_prediction"] % self.stride_h) == 0)
        val_ds = TimeSeriesDataSet.from_dataset(train_ds, df, min_prediction_idx=val_start, stop_randomization=True)
        val_ds = val_ds.filter(lambda idx: (idx["time_idx_first_prediction"] % self.stride_h) == 0)
        self.dataset = train_ds
        self.model = TemporalFusionTransformer.from_dataset(
            train_ds, hidden_size=self.hidden, attention_head_size=self.heads, dropout=self.dropout,
            hidden_continuous_size=max(4, self.hidden // 2), loss=QuantileLoss(quantiles=list(QUANTILE_LEVELS)),
            learning_rate=self.lr, log_interval=-1, reduce_on_plateau_patience=max(1, self.patience - 1))
        timer = epoch_timer()
        tr = trainer(self.max_epochs, self.patience, self.limit_train_batches, self.trainer_settings,
                     (timer, *callbacks))
        tr.fit(self.model, train_ds.to_dataloader(train=True, batch_size=self.batch_size, num_workers=0),
               val_ds.to_dataloader(train=False, batch_size=4 * self.batch_size, num_workers=0))
        self.epoch_seconds, self.train_seconds = timer.epoch_seconds, timer.train_seconds
        self.epoch_samples = timer.epoch_samples
        self.train_device, self.train_precision = str(tr.strategy.root_device), str(tr.precision)
        self.world_size = tr.world_size
        self.model = best_checkpoint(tr, TemporalFusionTransformer.load_from_checkpoint) or self.model
        self.model.eval()
        return self

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        from pytorch_forecasting import TimeSeriesDataSet

        if self.model is None:
            raise RuntimeError("tft: fit before predict")
        if horizon > self.horizon:
            raise ValueError(f"tft: fitted for horizons ≤ {self.horizon}, asked {horizon}")
        issues = as_issue_index(issue_times)
        issue_idx = hour_index(issues)
        df = self._frame(history).drop(columns="observed")
        lo, hi = issue_idx.min() - self.encoder_h, issue_idx.max() + self.horizon + 1
        df = df[(df["time_idx"] >= lo) & (df["time_idx"] < hi)]
        ds = TimeSeriesDataSet.from_dataset(self.dataset, df, stop_randomization=True)
        wanted = set(issue_idx.tolist())
        ds = ds.filter(lambda idx: idx["time_idx_first_prediction"].isin(wanted))
        pred = self.model.predict(ds.to_dataloader(train=False, batch_size=4 * self.batch_size, num_workers=0),
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
                                 f"{self.encoder_h} h of history and {horizon} h after)")
            q = q_all[[pos[t] for t in issue_idx]]
            frames.append(forecast_frame(str(r), issues, h, q[:, :, QUANTILE_LEVELS.index(0.5)], q))
        return pd.concat(frames, ignore_index=True)
