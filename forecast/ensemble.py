"""Error-weighted ensemble of forecast tables.

Weights are fitted per region × horizon bucket on a *validation* window (which must precede the test
window; the backtest passes only validation forecasts). ``method="inverse_error"``: w_m ∝ MAE_m^−p over the
bucket (p = ``power``), members with MAE above ``prune`` × the best member's MAE get weight 0.
``method="stacking"``: non-negative least squares of the actuals on the members' point forecasts with the
weights constrained to sum to 1 (accounts for correlated members; members above the ``prune`` cut are
excluded first). The combined table averages the point forecasts and each quantile level with the same
weights (quantile averaging keeps quantiles sorted).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecast.data.schema import FORECAST_COLUMNS, QUANTILE_COLUMNS

KEYS = ["region", "issue_time", "time", "horizon_h"]


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


class ErrorWeightedEnsemble:
    """``fit(val_tables, actual)`` then ``combine(tables)``; ``weights`` is a tidy frame
    (region, bucket, model, mae, weight)."""

    def __init__(self, buckets: Sequence[int] = (6, 12, 24, 48, 96), power: float = 2.0, prune: float = 1.5,
                 method: str = "inverse_error") -> None:
        if method not in ("inverse_error", "stacking"):
            raise ValueError(f"ensemble method must be 'inverse_error' or 'stacking', got {method!r}")
        self.buckets, self.power, self.prune, self.method = list(buckets), power, prune, method
        self.weights: pd.DataFrame | None = None

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

    def combine(self, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Weighted average of the members' ``mean`` and quantiles on their common (region, issue, time) rows."""
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
        if (wsum <= 0).any():
            raise ValueError("ensemble: some rows have no member with positive weight")
        out = base.copy()
        out[value_cols] = acc / wsum[:, None]
        return out[list(FORECAST_COLUMNS)]
