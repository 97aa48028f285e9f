"""Attention-LSTM (Lightning): an LSTM encoder over the past ``encoder_h`` hours (target + calendar +
known covariates), temporal (scaled dot-product) attention from each horizon's query — built from its
known-future covariates, a horizon embedding, the region embedding and the encoder's final state — over
the encoder outputs, and a quantile head trained with the pinball loss on the 7 levels. One global model
for all regions; quantiles are non-decreasing by construction (median + cumulative softplus steps).
``target_form="seasonal_residual"`` trains on the target minus the seasonal-naive 24 h forecast known at issue
(``"profile_residual"``: minus the trailing 7-day same-hour mean; :func:`forecast.models.neural.seasonal_base`)
and adds it back; ``seasonal_input=True`` instead feeds the seasonal-naive value as an input (encoder: the
target 24 h earlier; decoder: the seasonal-naive forecast, known at issue) — both let the network anchor on
the latest day instead of the training level. ``input_clip`` bounds the standardised known covariates to
± that many training std (CISO's ``fc_other_mw`` runs up to 62 std above its training range in 2021-07..12).
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
                                                TARGET_FORMS, NeuralForecaster, Scaler, best_checkpoint,
                                                check_input_clip, seasonal_base, trainer, windows,
                                                with_seasonal_input)
from carbonshift.forecast.models.registry import register_forecaster


def _build_module(n_feat: int, n_regions: int, horizon: int, hidden: int, layers: int, dropout: float, lr: float):
    import lightning.pytorch as pl
    import torch
    from torch import nn

    levels = torch.tensor(QUANTILE_LEVELS)
    mid = QUANTILE_LEVELS.index(0.5)

    class AttentionLSTM(pl.LightningModule):
        levels: torch.Tensor     # a registered buffer

        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.LSTM(1 + n_feat, hidden, num_layers=layers, batch_first=True,
                                   dropout=dropout if layers > 1 else 0.0)
            self.region = nn.Embedding(n_regions, hidden)
            self.horizon = nn.Embedding(horizon, hidden)
            self.query = nn.Sequential(nn.Linear(n_feat + 2 * hidden, hidden), nn.GELU(), nn.Dropout(dropout))
            self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, len(QUANTILE_LEVELS)))
            self.register_buffer("levels", levels)

        def forward(self, enc, dec, region):
            out, (h_n, _) = self.encoder(enc)                                        # [B, L, d]
            n_h = dec.shape[1]
            ctx = torch.cat([h_n[-1] + self.region(region)], dim=-1)[:, None, :].expand(-1, n_h, -1)
            hemb = self.horizon.weight[None, :n_h, :].expand(dec.shape[0], -1, -1)
            q = self.query(torch.cat([dec, ctx, hemb], dim=-1))                      # [B, H, d]
            att = torch.softmax(q @ out.transpose(1, 2) / hidden ** 0.5, dim=-1)     # [B, H, L]
            raw = self.head(torch.cat([q, att @ out], dim=-1))                       # [B, H, Q]
            steps = nn.functional.softplus(raw)
            lower = raw[..., mid:mid + 1] - torch.flip(torch.cumsum(torch.flip(steps[..., :mid], [-1]), -1), [-1])
            upper = raw[..., mid:mid + 1] + torch.cumsum(steps[..., mid + 1:], -1)
            return torch.cat([lower, raw[..., mid:mid + 1], upper], dim=-1)

        def _loss(self, batch):
            enc, dec, region, y = batch
            d = y[..., None] - self(enc, dec, region).float()
            return torch.maximum(self.levels * d, (self.levels - 1) * d).mean()

        def training_step(self, batch, _):
            loss = self._loss(batch)
            self.log("train_loss", loss, prog_bar=False)
            return loss

        def validation_step(self, batch, _):
            self.log("val_loss", self._loss(batch), prog_bar=False)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=1e-4)

    return AttentionLSTM()


@dataclass
class LSTMParams:
    """Hyperparameters of :class:`LSTMForecaster` (sizes and training limits; tiny for tests)."""

    encoder_h: int = bounded(168, le=MAX_ENCODER_H)   # hours of history each forecast reads
    hidden: int = bounded(64, le=MAX_HIDDEN)
    layers: int = bounded(1, le=64)
    dropout: float = 0.1
    max_epochs: int = bounded(20, le=MAX_EPOCHS)
    batch_size: int = bounded(128, le=MAX_BATCH)
    learning_rate: float = 3e-3
    patience: int = bounded(3, le=MAX_EPOCHS)   # epochs without a better early-stopping loss before training stops
    stride_h: int = bounded(6, le=MAX_SPAN_H)   # hours between training windows
    train_days: int | None = bounded(None, le=MAX_SPAN_DAYS)   # train on the last N days only (null: all)
    target_form: Literal["level", "seasonal_residual", "profile_residual"] = "level"   # learn target − seasonal-naive 24 h / 7-day same-hour mean
    seasonal_input: bool = False   # feed the seasonal-naive 24 h value as an input (encoder: y 24 h earlier; decoder: known at issue)
    input_clip: float | None = None   # bound standardised known covariates to ± this many training std

    def __post_init__(self) -> None:
        check_input_clip("lstm", self.input_clip)
        if self.target_form not in TARGET_FORMS:
            raise ValueError(f"lstm: target_form must be one of {list(TARGET_FORMS)}, got {self.target_form!r}")


@register_forecaster("lstm")
class LSTMForecaster(NeuralForecaster):
    """Global attention-LSTM quantile forecaster (hyperparameters: :class:`LSTMParams`); ``trainer``:
    :class:`forecast.models.neural.TrainerSettings` (or a mapping of them) — accelerator, devices, strategy,
    precision."""

    Params = LSTMParams

    def __init__(self, issue_hour: int = 23, horizon: int = 48, **kw: Any) -> None:
        super().__init__(issue_hour, horizon, **kw)
        self.regions: list[str] = []
        self.names: list[str] = []
        self.scalers: dict[str, Scaler] = {}
        self.module: Any = None      # the LightningModule _build_module defines (a local class), set by fit
        self.epochs_run = 0

    def _arrays(self, history: pd.DataFrame):
        return region_series(history, self.fitted_target, self.oracle_weather)

    def __getstate__(self) -> dict:
        """Picklable for saved forecaster artifacts (:mod:`forecast.artifact`): the Lightning module, a class
        local to :func:`_build_module`, travels as its feature count and CPU ``state_dict``."""
        state = self.__dict__.copy()
        if self.module is not None:
            state["module"] = {"n_feat": self.module.encoder.input_size - 1,
                               "state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()}}
        return state

    def __setstate__(self, state: dict) -> None:
        saved = state.pop("module")
        self.__dict__.update(state, module=None)
        if saved is not None:
            self.module = self._module(saved["n_feat"])
            self.module.load_state_dict(saved["state_dict"])
            self.module.eval()

    def _module(self, n_feat: int):  # noqa: ANN202 (a Lightning module, class local to _build_module)
        p = self.params
        return _build_module(n_feat, len(self.regions), self.horizon, p.hidden, p.layers, p.dropout, p.learning_rate)

    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None, callbacks: tuple = (),
             monitor: TrainingMonitor | None = None) -> None:
        """Train on hours before ``until``; ``callbacks``: extra Lightning callbacks (epoch timers, tuning reports);
        ``monitor``: called after each epoch (:func:`forecast.models.neural.training_progress`)."""
        import lightning.pytorch as pl
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        pl.seed_everything(self.seed, workers=True, verbose=False)
        p = self.params
        series = self._arrays(panel)
        self.regions = list(series)
        self.names = sorted({n for s in series.values() for k, n in enumerate(s.known_names)
                             if not np.isnan(s.known[:, k]).all()})
        parts: dict[str, list] = {"train": [], "val": []}
        for r, s in series.items():
            end = len(s.y) if until is None else int(np.searchsorted(s.times, until))
            start = 0 if p.train_days is None else max(0, end - 24 * p.train_days)
            self.scalers[r] = Scaler.fit(s, np.arange(start, end))
            y, x = self.scalers[r].inputs(s, self.names, p.input_clip)
            i = np.arange(max(start, p.encoder_h + 24 * p.seasonal_input), end - self.horizon, p.stride_h)
            i = i[~np.isnan(s.y[i[:, None] + np.arange(1, self.horizon + 1)]).any(axis=1)]
            if len(i) < 20:
                raise ValueError(f"lstm: {r} has {len(i)} training windows before {until}; need ≥ 20")
            n_val = max(1, len(i) // 10)          # chronologically last 10 % for early stopping
            for split, idx in (("train", i[:-n_val]), ("val", i[-n_val:])):
                enc, dec = windows(y, x, idx, p.encoder_h, self.horizon)
                if p.seasonal_input:
                    enc, dec = with_seasonal_input(y, enc, dec, idx)
                tgt = y[idx[:, None] + np.arange(1, self.horizon + 1)[None, :]]
                if TARGET_FORMS[p.target_form]:
                    tgt = tgt - seasonal_base(y, idx, self.horizon, TARGET_FORMS[p.target_form])
                tgt = tgt.astype(np.float32)
                parts[split].append((enc, dec, np.full(len(idx), self.regions.index(r)), tgt))
        data = {k: TensorDataset(*(torch.from_numpy(np.concatenate([part[j] for part in v])) for j in range(4)))
                for k, v in parts.items()}
        n_feat = data["train"].tensors[1].shape[-1]
        self.module = self._module(n_feat)
        gen = torch.Generator().manual_seed(self.seed)
        tr = trainer(p.max_epochs, p.patience, settings=self.trainer_settings, callbacks=callbacks, name=self.name,
                     monitor=monitor)
        tr.fit(self.module, DataLoader(data["train"], batch_size=p.batch_size, shuffle=True, generator=gen),
               DataLoader(data["val"], batch_size=4 * p.batch_size))
        state = best_checkpoint(tr, lambda path: torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
        if state is not None:
            self.module.load_state_dict(state)
        self.epochs_run = tr.current_epoch
        self.module.eval()

    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        import torch

        p = self.params
        h = np.arange(1, horizon + 1)
        frames = []
        for r, s in self._arrays(history).items():
            sc = self.scalers[r]
            y, x = sc.inputs(s, self.names, p.input_clip)
            i = s.index_of(issues)
            if (i < p.encoder_h).any():
                raise ValueError(f"lstm: {r} issue times need {p.encoder_h} h of history")
            enc, dec = windows(y, x, i, p.encoder_h, self.horizon)
            if p.seasonal_input:
                enc, dec = with_seasonal_input(y, enc, dec, i)
            with torch.no_grad():
                q = self.module(torch.from_numpy(enc), torch.from_numpy(dec),
                                torch.full((len(i),), self.regions.index(r))).float().numpy()[:, :horizon]
            if TARGET_FORMS[p.target_form]:
                q = q + seasonal_base(y, i, horizon, TARGET_FORMS[p.target_form])[:, :, None]
            q = q * sc.y_std + sc.y_mean
            frames.append(forecast_frame(r, issues, h, q[:, :, QUANTILE_LEVELS.index(0.5)], q))
        return pd.concat(frames, ignore_index=True)
