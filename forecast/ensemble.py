"""Error-weighted ensemble of forecast tables.

Weights are fitted per region × horizon bucket on a *validation* window (which must precede the test
window; the backtest passes only validation forecasts). ``method="inverse_error"``: w_m ∝ MAE_m^−p over the
bucket (p = ``power``), members with MAE above ``prune`` × the best member's MAE get weight 0.
``method="stacking"``: non-negative least squares of the actuals on the members' point forecasts with the
weights constrained to sum to 1 (accounts for correlated members; members above the ``prune`` cut are
excluded first). The combined table averages the point forecasts and each quantile level with the same
weights (quantile averaging keeps quantiles sorted).

:class:`RollingEnsemble` is the adaptive variant for a rolling-origin backtest: at every issue time τ the
weights per region × horizon bucket come from the members' errors on the most recent ``window_days`` of
forecasts whose target hour is before τ (so every actual used was observed by τ), with the same
inverse-error rule and pruning (``prune`` = 1 selects the best member alone), so a member that drifts loses
weight within days.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, FORECAST_COLUMNS, QUANTILE_COLUMNS
from carbonshift.forecast.decision_value import decide, shape_grid, to_cube

KEYS = ["region", "issue_time", "time", "horizon_h"]


def dropped_summary(dropped: pd.DataFrame) -> pd.DataFrame:
    """Per member of a :meth:`Weighting.dropped` table: ``dropped_share`` (mean over its region × bucket cells),
    ``cells`` and ``reason`` (the reason of its most-dropped cell, with the region and bucket), most dropped
    first; members never dropped have an empty reason."""
    rows = []
    for model, g in dropped.groupby("model", sort=False):
        worst = g.loc[g["dropped_share"].idxmax()]
        reason = f"{worst['region']} bucket {worst['bucket']}: {worst['reason']}" if worst["dropped_share"] > 0 else ""
        rows.append({"model": model, "dropped_share": float(g["dropped_share"].mean()), "cells": len(g),
                     "reason": reason})
    return pd.DataFrame(rows).sort_values("dropped_share", ascending=False, kind="stable", ignore_index=True)


def horizon_bucket(horizon_h: np.ndarray | pd.Series, edges: Sequence[int]) -> np.ndarray:
    """Bucket id of each horizon: bucket k covers (edges[k-1], edges[k]] (edges ascending, hours)."""
    return np.searchsorted(np.asarray(edges), np.asarray(horizon_h), side="left")


def member_weights(weights: pd.DataFrame) -> pd.Series:
    """Mean weight of each member over the (region, bucket) cells of a fitted ``weights`` frame, members with
    a positive weight in at least one cell only, largest first."""
    alive = weights.groupby("model")["weight"].max() > 0
    mean = weights.groupby("model")["weight"].mean()
    return mean[alive[alive].index].sort_values(ascending=False, kind="stable")


def ensemble_label(weights: pd.DataFrame, suffix: str = "") -> str:
    """Name of a combined forecast: ``ensemble(gbm 0.62, prophet 0.38)`` + ``suffix`` when ≥ 2 members have
    positive weight (mean weights over regions × buckets), else the one member's name + ``suffix``
    (``gbm+cqr``): one member is that member, not an ensemble."""
    w = member_weights(weights)
    if w.empty:
        raise ValueError("ensemble_label: no member has a positive weight")
    if len(w) == 1:
        return f"{w.index[0]}{suffix}"
    return "ensemble(" + ", ".join(f"{m} {v:.2f}" for m, v in w.items()) + f"){suffix}"


_WEIGHTED = re.compile(r"ensemble\(([^()]*(?:\([^()]*\)[^()]*)*)\)")


def short_label(label: str) -> str:
    """A label with every ``ensemble(gbm 0.38, seasonal24 0.33, …)`` (:func:`ensemble_label`) replaced by its member
    count, ``ensemble of 6`` (``ensemble(…)+cqr forecast table x.csv`` → ``ensemble of 6+cqr forecast table
    x.csv``) — for legends and table cells; the full label (its weights) goes in a caption or footnote."""
    return _WEIGHTED.sub(lambda m: f"ensemble of {m.group(1).count(', ') + 1}", str(label))


class Weighting(ABC):
    """How members are combined, chosen once from the config: ``fit(validation_tables, actual)`` then
    ``combine(tables, actual)`` (the backtest and ``forecast train``/``predict`` call exactly these).
    :meth:`clone` is an unfitted copy with the same settings; :meth:`spec` / :func:`weighting_from_spec`
    save and restore the settings (not the fitted weights, which live in :attr:`weights`)."""

    buckets: list[int]
    weights: pd.DataFrame | None

    @property
    def fitted_weights(self) -> pd.DataFrame:
        """:attr:`weights` (``RuntimeError`` before :meth:`fit`)."""
        if self.weights is None:
            raise RuntimeError(f"{type(self).__name__}: fit before reading the weights")
        return self.weights

    @abstractmethod
    def fit(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series) -> Weighting:
        """Fit on the members' validation tables; ``actual``: Series indexed by (region, time)."""

    @abstractmethod
    def combine(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series | None = None) -> pd.DataFrame:
        """Combined forecast table of the rows the members share."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The settings as a JSON-able mapping with the ``method`` name (:func:`weighting_from_spec` inverts it)."""

    @property
    def lookback_days(self) -> int:
        """Days of earlier issues whose errors the weights of an issue read (0: weights fixed at fit)."""
        return 0

    @property
    def label_suffix(self) -> str:
        """Suffix of the combined forecast's label (``+rolling14d`` for rolling weights)."""
        return ""

    def clone(self) -> Weighting:
        """An unfitted weighting with the same settings."""
        return weighting_from_spec(self.spec(), self.buckets)

    @abstractmethod
    def dropped(self) -> pd.DataFrame:
        """Why members got weight 0: one row per member × region × bucket (model, region, bucket,
        ``dropped_share``: share of the cell's issues where its weight was 0 — 0 or 1 for fixed weights,
        ``loss_ratio``: its loss over the best member's there (mean over those issues), ``reason``: the rule that
        zeroed it, empty when never). A member with ``dropped_share`` 1 everywhere is out of the ensemble."""


class ErrorWeightedEnsemble(Weighting):
    """Static weights: ``fit(val_tables, actual)`` then ``combine(tables)``; ``weights`` is a tidy frame
    (region, bucket, model, mae, weight)."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS, power: float = 2.0, prune: float = 1.5,
                 method: str = "inverse_error") -> None:
        if method not in ("inverse_error", "stacking"):
            hint = " ('rolling' is RollingEnsemble, refitted at every issue)" if method == "rolling" else ""
            raise ValueError(f"ensemble method must be 'inverse_error' or 'stacking', got {method!r}{hint}")
        self.buckets, self.power, self.prune, self.method = list(buckets), power, prune, method
        self.weights: pd.DataFrame | None = None

    def spec(self) -> dict[str, Any]:
        return {"method": self.method, "power": self.power, "prune": self.prune}

    def fit(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series) -> ErrorWeightedEnsemble:
        """``tables``: model name -> validation forecast table; ``actual``: Series indexed by (region, time)."""
        rows, preds = [], {}
        for model, t in tables.items():
            t = t.sort_values(KEYS).reset_index(drop=True)
            y = actual.reindex(pd.MultiIndex.from_frame(t[["region", "time"]])).to_numpy(float)
            preds[model] = t["mean"].to_numpy(float)
            err = pd.DataFrame({"region": t["region"].to_numpy(), "bucket": horizon_bucket(t["horizon_h"], self.buckets),
                                "ae": np.abs(t["mean"].to_numpy(float) - y)}).dropna()
            g = err.groupby(["region", "bucket"])["ae"].mean().rename("mae").reset_index()
            g["model"] = model
            rows.append(g)
        w = pd.concat(rows, ignore_index=True)
        best = w.groupby(["region", "bucket"])["mae"].transform("min")
        w["weight"] = np.where(w["mae"] <= self.prune * best, w["mae"].clip(lower=1e-9) ** -self.power, 0.0)
        w["weight"] /= w.groupby(["region", "bucket"])["weight"].transform("sum")
        if self.method == "stacking":
            w = self._stack(w, preds, t, y)
        self.weights = w[["region", "bucket", "model", "mae", "weight"]]
        return self

    def dropped(self) -> pd.DataFrame:
        if self.weights is None:
            raise RuntimeError("ensemble: fit before dropped")
        w = self.weights.copy()
        best = w.groupby(["region", "bucket"])["mae"].transform("min")
        w["loss_ratio"] = w["mae"] / best.clip(lower=1e-12)
        zero = (w["weight"] <= 0).to_numpy()
        pruned = (w["mae"] > self.prune * best).to_numpy()
        why_pruned = [f"validation MAE {m:.4g} > prune {self.prune} × best member's {b:.4g}"
                      for m, b in zip(w["mae"], best)]
        w["dropped_share"] = zero.astype(float)
        w["reason"] = np.where(zero & pruned, why_pruned, np.where(zero, "stacking (NNLS) weight 0", ""))
        return w[["model", "region", "bucket", "dropped_share", "loss_ratio", "reason"]]

    def _stack(self, w: pd.DataFrame, preds: dict[str, np.ndarray], t: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
        """Sum-to-one NNLS weights per region × bucket over the members that survived pruning."""
        from scipy.optimize import nnls

        keys = pd.DataFrame({"region": t["region"].to_numpy(), "bucket": horizon_bucket(t["horizon_h"], self.buckets)})
        models = list(preds)
        F = np.stack([preds[m] for m in models], axis=1)
        w = w.copy()
        for (region, bucket), idx in keys.groupby(["region", "bucket"]).indices.items():
            idx = idx[np.isfinite(y[idx])]
            sel = w[(w["region"] == region) & (w["bucket"] == bucket)]
            alive = [models.index(m) for m in sel.loc[sel["weight"] > 0, "model"]]
            scale = max(float(np.abs(y[idx]).mean()), 1e-9) * np.sqrt(len(idx))
            A = np.vstack([F[idx][:, alive], np.full((1, len(alive)), 10 * scale)])   # heavy row: Σw = 1
            b = np.concatenate([y[idx], [10 * scale]])
            coef, _ = nnls(A, b)
            coef = coef / coef.sum() if coef.sum() > 0 else np.full(len(alive), 1 / len(alive))
            for m_idx, c in zip(alive, coef):
                w.loc[sel.index[sel["model"] == models[m_idx]], "weight"] = c
            w.loc[sel.index[~sel["model"].isin([models[a] for a in alive])], "weight"] = 0.0
        return w

    def combine(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series | None = None) -> pd.DataFrame:
        """Weighted average of the members' ``mean`` and quantiles on their common (region, issue, time) rows
        (the fitted weights; ``actual`` is not read)."""
        if self.weights is None:
            raise RuntimeError("ensemble: fit on validation forecasts before combine")
        value_cols = ["mean", *QUANTILE_COLUMNS]
        acc = None
        wsum = None
        for model, t in tables.items():
            t = t.sort_values(KEYS).reset_index(drop=True)
            b = pd.DataFrame({"region": t["region"], "bucket": horizon_bucket(t["horizon_h"], self.buckets)})
            w = b.merge(self.weights[self.weights["model"] == model], on=["region", "bucket"], how="left")["weight"]
            w = w.fillna(0.0).to_numpy()
            if acc is None:
                base = t[KEYS].copy()
                acc = np.zeros((len(t), len(value_cols)))
                wsum = np.zeros(len(t))
            elif len(t) != len(base) or not (t[KEYS].to_numpy() == base.to_numpy()).all():
                raise ValueError(f"ensemble: member {model!r} covers different (region, issue, time) rows")
            acc += w[:, None] * t[value_cols].to_numpy(float)
            wsum += w
        if acc is None or wsum is None:
            raise ValueError("ensemble: no member tables to combine")
        if (wsum <= 0).any():
            raise ValueError("ensemble: some rows have no member with positive weight")
        out = base.copy()
        out[value_cols] = acc / wsum[:, None]
        return out[list(FORECAST_COLUMNS)]


def inverse_error_weights(loss: np.ndarray, power: float, prune: float) -> np.ndarray:
    """Weights along the last axis of ``loss`` (members): w_m ∝ loss_m^−power for members with loss ≤
    ``prune`` × the best member's loss, 0 for the rest; rows sum to 1 (``prune`` = 1: the best member only)."""
    best = np.min(loss, axis=-1, keepdims=True)
    w = np.where(loss <= prune * best, np.clip(loss, 1e-9, None) ** -power, 0.0)
    return w / w.sum(axis=-1, keepdims=True)


def _aligned(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Members' tables sorted by :data:`KEYS`; raises ``ValueError`` naming a member whose rows differ."""
    sorted_ = [t.sort_values(KEYS).reset_index(drop=True) for t in tables.values()]
    base = sorted_[0][KEYS]
    for model, t in zip(tables, sorted_):
        if len(t) != len(base) or not (t[KEYS].to_numpy() == base.to_numpy()).all():
            raise ValueError(f"ensemble: member {model!r} covers different (region, issue, time) rows")
    return base, sorted_


class RollingEnsemble(Weighting):
    """``combine(tables, actual)``: weights refitted at every issue time τ per region × horizon bucket on the
    members' observed errors in the last ``window_days`` (forecasts issued ≥ τ − ``window_days`` for hours
    < τ). ``loss``: ``mape`` (mean |ŷ − y| / |y|, hours with y = 0 skipped; the metric the ensemble is judged
    on), ``mae`` (target unit) or ``regret``: the member's single-job decision regret per region,
    Σ(chosen − best) / Σ run-now over the decisions (:mod:`forecast.decision_value`, jobs of
    :data:`REGRET_LENGTHS_H` h with :data:`REGRET_SLACKS_H` h of slack, the members scored on the same decisions)
    of the issues in the window whose whole slack window was observed before τ — the same weight in every
    horizon bucket of the region. A cell with no observed error in the window uses every observed error before
    τ (``basis`` = ``expanding``); with none at all (the first issue) the members are weighted equally
    (``basis`` = ``none``) — both are rows of ``weights`` (issue_time, region, bucket, model, loss, n, weight,
    basis), counted by :meth:`basis_counts`."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS, window_days: int = 14, power: float = 2.0,
                 prune: float = 1.5, loss: str = "mape") -> None:
        if window_days < 1:
            raise ValueError(f"rolling ensemble window must be ≥ 1 day, got {window_days}")
        if prune < 1:
            raise ValueError(f"rolling ensemble prune must be ≥ 1 (1 = best member only), got {prune}")
        if loss not in ("mape", "mae", "regret"):
            raise ValueError(f"rolling ensemble loss must be 'mape', 'mae' or 'regret', got {loss!r}")
        self.buckets, self.window_days, self.power, self.prune, self.loss = (list(buckets), window_days, power,
                                                                             prune, loss)
        self.weights: pd.DataFrame | None = None

    def spec(self) -> dict[str, Any]:
        return {"method": "rolling", "window_days": self.window_days, "power": self.power, "prune": self.prune,
                "loss": self.loss}

    @property
    def lookback_days(self) -> int:
        return self.window_days

    @property
    def label_suffix(self) -> str:
        return f"+rolling{self.window_days}d"

    def fit(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series) -> RollingEnsemble:
        """Nothing to fit ahead: the weights are refitted at every issue inside :meth:`combine`."""
        return self

    def _errors(self, point: np.ndarray, y: np.ndarray) -> np.ndarray:
        """[rows × members] absolute (percentage) errors; NaN where the actual is unknown (or 0 for MAPE)."""
        err = np.abs(point - y[:, None])
        if self.loss == "mape":
            with np.errstate(divide="ignore", invalid="ignore"):
                err = np.where(y[:, None] != 0, err / np.abs(y[:, None]), np.nan)
        return err

    def combine(self, tables: Mapping[str, pd.DataFrame], actual: pd.Series | None = None) -> pd.DataFrame:
        """Combined forecast table of every (region, issue, time) row the members share; ``actual``: Series
        indexed by (region, time). Only actuals at hours before each issue time are read for its weights."""
        if not tables:
            raise ValueError("rolling ensemble: no member tables")
        if actual is None:
            raise ValueError("rolling ensemble: combine needs the actuals (weights come from observed errors)")
        models = list(tables)
        base, sorted_ = _aligned(tables)
        value_cols = ["mean", *QUANTILE_COLUMNS]
        values = np.stack([t[value_cols].to_numpy(float) for t in sorted_], axis=1)       # rows × M × C
        y = actual.reindex(pd.MultiIndex.from_frame(base[["region", "time"]])).to_numpy(float)
        regions, region_code = np.unique(base["region"].to_numpy(), return_inverse=True)
        n_b = len(self.buckets) + 1
        cell = region_code * n_b + horizon_bucket(base["horizon_h"], self.buckets)
        n_cell = len(regions) * n_b
        issue = base["issue_time"].to_numpy("datetime64[ns]")
        time = base["time"].to_numpy("datetime64[ns]")
        span = np.timedelta64(self.window_days, "D")
        if self.loss == "regret":
            scorer = _regret_scorer(base, values[:, :, 0], y, regions, n_b)
        else:
            err = self._errors(values[:, :, 0], y)
            seen = np.isfinite(err).all(axis=1)

            def scorer(tau: np.datetime64, since: np.datetime64 | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                rows = seen & (time < tau) if since is None else seen & (time < tau) & (issue >= since)
                return self._cell_loss(err, cell, rows, n_cell)
        out = np.empty((len(base), len(value_cols)))
        frames = []
        for tau in np.unique(issue):
            loss, n, basis = scorer(tau, tau - span)
            if (n == 0).any():
                exp_loss, exp_n, _ = scorer(tau, None)
                fill = n == 0
                loss[fill], n[fill] = exp_loss[fill], exp_n[fill]
                basis[fill] = np.where(exp_n[fill] > 0, "expanding", "none")
            w = np.where(n[:, None] > 0, inverse_error_weights(np.where(n[:, None] > 0, loss, 1.0), self.power,
                                                                self.prune), 1.0 / len(models))
            rows = issue == tau
            out[rows] = np.einsum("rm,rmc->rc", w[cell[rows]], values[rows])
            used = np.unique(cell[rows])
            frames.append(pd.DataFrame({
                "issue_time": tau, "region": np.repeat(regions[used // n_b], len(models)),
                "bucket": np.repeat(used % n_b, len(models)), "model": np.tile(models, len(used)),
                "loss": loss[used].ravel(), "n": np.repeat(n[used], len(models)), "weight": w[used].ravel(),
                "basis": np.repeat(basis[used], len(models))}))
        self.weights = pd.concat(frames, ignore_index=True)
        self.weights["issue_time"] = pd.to_datetime(self.weights["issue_time"], utc=True)
        result = base.copy()
        result[value_cols] = out
        return result[list(FORECAST_COLUMNS)]

    def dropped(self) -> pd.DataFrame:
        if self.weights is None:
            raise RuntimeError("rolling ensemble: combine before dropped")
        w = self.weights.copy()
        best = w.groupby(["issue_time", "region", "bucket"])["loss"].transform("min")
        w["zero"] = (w["weight"] <= 0).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            w["ratio"] = np.where(w["zero"] > 0, w["loss"] / best, np.nan)
        g = (w.groupby(["model", "region", "bucket"], sort=False)
             .agg(dropped_share=("zero", "mean"), loss_ratio=("ratio", "mean")).reset_index())
        what = "decision regret" if self.loss == "regret" else self.loss.upper()
        g["reason"] = [f"{what} over the last {self.window_days} d > prune {self.prune} × best member's "
                       f"(mean {r:.2f}×) at {d:.0%} of issues" if d > 0 else ""
                       for d, r in zip(g["dropped_share"], g["loss_ratio"])]
        return g[["model", "region", "bucket", "dropped_share", "loss_ratio", "reason"]]

    @staticmethod
    def _cell_loss(err: np.ndarray, cell: np.ndarray, rows: np.ndarray, n_cell: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean error per (cell × member) over ``rows``, the row count per cell and the basis label."""
        n = np.bincount(cell[rows], minlength=n_cell)
        sums = np.stack([np.bincount(cell[rows], weights=err[rows, m], minlength=n_cell)
                         for m in range(err.shape[1])], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = sums / n[:, None]
        return loss, n, np.full(n_cell, "window", dtype=object)

    def basis_counts(self) -> dict[str, int]:
        """Number of (issue, region, bucket) cells weighted on the rolling window, on all earlier errors
        (``expanding``) or equally for lack of any observed error (``none``)."""
        if self.weights is None:
            raise RuntimeError("rolling ensemble: combine before basis_counts")
        cells = self.weights.drop_duplicates(["issue_time", "region", "bucket"])
        return {k: int(v) for k, v in cells["basis"].value_counts().items()}


#: job lengths and slacks (h) of the ``regret`` loss: the issue-20 goal shapes (1–8 h jobs, 24–48 h of slack),
#: slacks beyond the forecast horizon dropped
REGRET_LENGTHS_H: tuple[int, ...] = (1, 2, 4, 8)
REGRET_SLACKS_H: tuple[int, ...] = (24, 48)


def _regret_scorer(base: pd.DataFrame, point: np.ndarray, y: np.ndarray, regions: np.ndarray, n_b: int):  # noqa: ANN202
    """``scorer(τ, since)`` → (loss [cell × member], decision count per cell, basis) of the ``regret`` loss of
    :class:`RollingEnsemble`: the members' decisions (``point`` [rows × members] on ``base``'s rows, actuals
    ``y``) of the issues ≥ ``since`` (None: all) whose slack window ended before τ, pooled per region."""
    shapes, _ = shape_grid(int(base["horizon_h"].max()), REGRET_LENGTHS_H, REGRET_SLACKS_H)
    if not shapes:
        raise ValueError(f"rolling ensemble: the regret loss needs horizons ≥ {min(REGRET_SLACKS_H)} h")
    s_max = np.timedelta64(max(s for _, s in shapes), "h")
    cubes = [to_cube(base.assign(mean=point[:, m], actual=y)) for m in range(point.shape[1])]
    order = [cubes[0].regions.index(r) for r in regions]
    decisions = [decide(c.point[:, order], c.actual[:, order], shapes) for c in cubes]
    valid = np.logical_and.reduce([d.valid for d in decisions])                 # K × I × R, shared by all members
    gap = np.stack([np.where(valid, d.chosen - d.best, 0.0).sum(0) for d in decisions], axis=-1)   # I × R × M
    run = np.stack([np.where(valid, d.run_now, 0.0).sum(0) for d in decisions], axis=-1)
    count = valid.sum(0)                                                           # I × R
    issues = cubes[0].issues.to_numpy("datetime64[ns]")
    region_of_cell = np.arange(len(regions) * n_b) // n_b

    def scorer(tau: np.datetime64, since: np.datetime64 | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sel = issues + s_max < tau if since is None else (issues + s_max < tau) & (issues >= since)
        g, r, n = gap[sel].sum(0), run[sel].sum(0), count[sel].sum(0)             # R × M, R × M, R
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = g / r
        return loss[region_of_cell], n[region_of_cell], np.full(len(region_of_cell), "window", dtype=object)

    return scorer


def weighting_from_spec(spec: Mapping[str, Any], buckets: Sequence[int]) -> Weighting:
    """The unfitted :class:`Weighting` a :meth:`Weighting.spec` mapping describes (``method``: ``rolling`` →
    :class:`RollingEnsemble`, ``inverse_error`` / ``stacking`` → :class:`ErrorWeightedEnsemble`)."""
    params = dict(spec)
    method = params.pop("method")
    if method == "rolling":
        return RollingEnsemble(buckets, **params)
    return ErrorWeightedEnsemble(buckets, method=method, **params)
