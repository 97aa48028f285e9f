"""Do a forecast's intervals mean what they say for decisions? For each scored temporal decision where the
forecast prefers a start other than run-now (:mod:`forecast.decision_value`), the probability its quantiles
imply that the chosen window is cleaner than run-now, against how often it actually is (the chosen window's
actual mean intensity strictly below run-now's), binned by implied probability.

Assumptions, stated: (1) a window mean's quantiles are the means of its hours' quantiles — exact when the
hours' errors are comonotone (perfectly rank-dependent), the widest case; (2) the chosen and the run-now
window are independent; (3) each distribution is piecewise linear between the 7 quantile levels
(:data:`forecast.data.schema.QUANTILE_LEVELS`), with its 0 and 1 quantiles extrapolated linearly
(q0 = 2·q0.05 − q0.1, q1 = 2·q0.95 − q0.9). Then P(chosen < run-now) = ∫ F_chosen(Q_run-now(u)) du,
evaluated on a fixed grid of :data:`GRID` midpoints u, vectorised over decisions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.decision_value import Cube, Decisions

GRID = 200
#: implied-probability bin edges
BINS: tuple[float, ...] = tuple(np.round(np.linspace(0, 1, 11), 1))
_LEVELS = np.array([0.0, *QUANTILE_LEVELS, 1.0])


def _knots(q: np.ndarray) -> np.ndarray:
    """Quantile values [..., 7] → knots [..., 9] at levels 0, 0.05 … 0.95, 1 (linear tail extrapolation)."""
    return np.concatenate([2 * q[..., :1] - q[..., 1:2], q, 2 * q[..., -1:] - q[..., -2:-1]], axis=-1)


def _quantile(knots: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Piecewise-linear quantile function at probabilities ``u`` [G]: knots [D × 9] → [D × G]."""
    seg = np.clip(np.searchsorted(_LEVELS, u, side="right") - 1, 0, len(_LEVELS) - 2)
    t = (u - _LEVELS[seg]) / (_LEVELS[seg + 1] - _LEVELS[seg])
    return knots[:, seg] + t * (knots[:, seg + 1] - knots[:, seg])


def _cdf(knots: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Piecewise-linear CDF of knots [D × 9] at values ``v`` [D × G] → [D × G] (0 below, 1 above the knots)."""
    k = (v[:, :, None] >= knots[:, None, :]).sum(axis=-1) - 1          # last knot ≤ v
    inside = (k >= 0) & (k < knots.shape[1] - 1)
    kk = np.clip(k, 0, knots.shape[1] - 2)
    lo, hi = np.take_along_axis(knots, kk, axis=1), np.take_along_axis(knots, kk + 1, axis=1)
    t = np.where(inside, (v - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)   # hi > lo whenever inside
    return np.where(k < 0, 0.0, np.where(inside, _LEVELS[kk] + t * (_LEVELS[kk + 1] - _LEVELS[kk]), 1.0))


def prob_less(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """P(A < B) for independent A, B with piecewise-linear distributions given by quantiles [D × 7] at
    :data:`QUANTILE_LEVELS` (module docstring), on :data:`GRID` midpoints: [D]."""
    u = (np.arange(GRID) + 0.5) / GRID
    return _cdf(_knots(qa), _quantile(_knots(qb), u)).mean(axis=1)


def implied_vs_observed(cube: Cube, d: Decisions) -> pd.DataFrame:
    """One row per scored temporal decision whose forecast start is not run-now: ``length_h``, ``slack_h``,
    ``region``, ``implied`` (P(chosen window mean < run-now's) from the quantiles, module docstring) and
    ``beats`` (it actually was). Needs the cube's quantiles."""
    if cube.quantiles is None:
        raise ValueError("decision reliability: the forecast table has no quantile columns")
    if d.spatial:
        raise ValueError("decision reliability scores temporal decisions (run-now vs the chosen start)")
    q = cube.quantiles
    if (np.isfinite(cube.point) & ~np.isfinite(q).all(axis=-1)).any():
        raise ValueError("decision reliability: some forecast rows have a mean but not all quantiles")
    prefix = np.pad(np.cumsum(np.nan_to_num(q), axis=2), [(0, 0), (0, 0), (1, 0), (0, 0)])   # [I × R × H+1 × Q]
    frames = []
    for k, (length, slack) in enumerate(zip(d.length_h.tolist(), d.slack_h.tolist())):
        pick = d.valid[k] & (d.chosen_start[k] > 1)
        if not pick.any():
            continue
        ii, rr = np.nonzero(pick)
        start = d.chosen_start[k][pick] - 1
        q_chosen = (prefix[ii, rr, start + length] - prefix[ii, rr, start]) / length   # [D × Q]
        q_now = (prefix[ii, rr, length] - prefix[ii, rr, 0]) / length
        frames.append(pd.DataFrame({"length_h": length, "slack_h": slack,
                                    "region": np.asarray(cube.regions, object)[rr],
                                    "implied": prob_less(q_chosen, q_now),
                                    "beats": d.chosen[k][pick] < d.run_now[k][pick]}))
    cols = {"length_h": int, "slack_h": int, "region": object, "implied": float, "beats": bool}
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


def reliability_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Bin :func:`implied_vs_observed` rows by implied probability (:data:`BINS`): ``bin``, ``n``,
    ``implied_mean`` and ``observed`` (share of those decisions whose chosen window actually beat run-now),
    both as fractions."""
    b = np.clip(np.digitize(pairs["implied"].to_numpy(float), BINS[1:-1]), 0, len(BINS) - 2)
    g = pairs.assign(bin=b).groupby("bin")
    out = pd.DataFrame({"n": g.size(), "implied_mean": g["implied"].mean(), "observed": g["beats"].mean()})
    out.index = [f"{BINS[i]:.1f}–{BINS[i + 1]:.1f}" for i in out.index]
    return out.rename_axis("bin").reset_index()
