"""Vectorised window costs: carbon of a job's run window for every (start, region) from prefix sums, and
free capacity over a window by a sliding minimum.

For a planning intensity matrix ``ci`` [R × L] (gCO2eq/kWh, column 0 = the decision hour) the carbon of
running ``d`` hours from column ``s`` is ``P[:, s + d] − P[:, s]`` with ``P`` the prefix sum along
hours — one subtraction per (start, region), no loop over hours.
"""
from __future__ import annotations

import numpy as np


def prefix(values: np.ndarray) -> np.ndarray:
    """Prefix sums along the last axis with a leading 0: ``P[..., k] = values[..., :k].sum(-1)``."""
    out = np.zeros((*values.shape[:-1], values.shape[-1] + 1), dtype=np.float64)
    np.cumsum(values, axis=-1, out=out[..., 1:])
    return out


def window_sums(P: np.ndarray, starts: np.ndarray, d: int) -> np.ndarray:
    """Sum over [s, s + d) of the series behind prefix ``P`` [R × (L+1)] for each start → [R × len(starts)]."""
    return P[:, starts + d] - P[:, starts]


def sliding_min(values: np.ndarray, d: int) -> np.ndarray:
    """Minimum over every window of ``d`` consecutive columns: [R × L] → [R × (L − d + 1)].

    van Herk / Gil–Werman: block-wise running minima forward and backward, O(R × L) whatever ``d``.
    """
    R, L = values.shape
    if d < 1 or d > L:
        raise ValueError(f"sliding_min: window {d} outside 1…{L}")
    if d == 1:
        return values.copy()
    nb = -(-L // d)
    pad = np.full((R, nb * d), np.iinfo(values.dtype).max if values.dtype.kind in "iu" else np.inf,
                  dtype=values.dtype)
    pad[:, :L] = values
    blocks = pad.reshape(R, nb, d)
    fwd = np.minimum.accumulate(blocks, axis=2).reshape(R, -1)
    bwd = np.minimum.accumulate(blocks[:, :, ::-1], axis=2)[:, :, ::-1].reshape(R, -1)
    n = L - d + 1
    return np.minimum(bwd[:, :n], fwd[:, d - 1:d - 1 + n])


def earliest_fit(free: np.ndarray, gpus: int, d: int, earliest: np.ndarray) -> np.ndarray:
    """Per region, the first start ``s ≥ earliest[r]`` with ``free[r, s:s+d] ≥ gpus`` throughout
    (``free`` [R × T] absolute hours); −1 where none fits before T."""
    R, T = free.shape
    out = np.full(R, -1, dtype=np.int64)
    a = int(earliest.min())
    if a + d > T:
        return out
    ok = sliding_min(free[:, a:], d) >= gpus                   # [R × (T − a − d + 1)]
    ok &= (np.arange(ok.shape[1])[None, :] + a) >= earliest[:, None]
    has = ok.any(axis=1)
    out[has] = ok.argmax(axis=1)[has] + a
    return out
