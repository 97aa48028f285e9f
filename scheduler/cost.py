"""Vectorised window costs: carbon of a job's run window for every (start, region) from prefix sums, and
whether free capacity covers a window from a prefix count of short hours.

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


def fits(free: np.ndarray, gpus: float, d: int) -> np.ndarray:
    """Whether ``free`` [R × L] (GPUs) stays ≥ ``gpus`` throughout every window of ``d`` consecutive columns:
    [R × (L − d + 1)], window s = columns s … s + d − 1.

    A window fits where it holds no short column: one prefix count of the short columns, O(R × L) whatever
    ``d``, and nothing more when no column is short (capacity not binding).
    """
    R, L = free.shape
    if d < 1 or d > L:
        raise ValueError(f"fits: window {d} outside 1…{L}")
    short = free < gpus
    n = L - d + 1
    if not short.any():
        return np.ones((R, n), dtype=bool)
    count = np.zeros((R, L + 1), dtype=np.int64)
    np.cumsum(short, axis=1, out=count[:, 1:])
    return count[:, d:] == count[:, :n]


def earliest_starts(n_regions: int, home: int, ready_h: int, transfer_h: int) -> np.ndarray:
    """Earliest start hour per region [R]: ``ready_h`` (now or the submission hour, whichever is later) at home,
    plus the data transfer (``transfer_h`` whole hours) anywhere else."""
    a = np.full(n_regions, int(ready_h) + int(transfer_h), dtype=np.int64)
    a[home] -= int(transfer_h)
    return a


def earliest_fit(free: np.ndarray, gpus: int, d: int, earliest: np.ndarray) -> np.ndarray:
    """Per region, the first start ``s ≥ earliest[r]`` with ``free[r, s:s+d] ≥ gpus`` throughout
    (``free`` [R × T] absolute hours); −1 where none fits before T."""
    R, T = free.shape
    out = np.full(R, -1, dtype=np.int64)
    a = int(earliest.min())
    if a + d > T:
        return out
    ok = fits(free[:, a:], gpus, d)                            # [R × (T − a − d + 1)]
    ok &= (np.arange(ok.shape[1])[None, :] + a) >= earliest[:, None]
    has = ok.any(axis=1)
    out[has] = ok.argmax(axis=1)[has] + a
    return out


def on_time_window_costs(dc, jobs, i: int, now: int, earliest: np.ndarray, free: np.ndarray, ci: np.ndarray,
                         P: np.ndarray, d_res: int, d_cost: int | None = None,
                         delay_weight: float = 0.0) -> tuple[int, np.ndarray] | None:
    """Carbon (kgCO2e) of every on-time window of job ``i``: ``(s0, cost [R × S])`` for absolute starts
    ``s0 … s0 + S − 1``, or None when no start can end by the deadline and the horizon.

    A window reserves ``d_res`` hours (``free`` [R × T] GPUs must cover them) and is costed over its first
    ``d_cost`` ≤ ``d_res`` hours (default ``d_res``): operational energy × planning intensity ``ci`` (prefix
    ``P``, column 0 = ``now``) plus the data transfer away from home (``dc.transfer_carbon_kg``), plus
    ``delay_weight`` kgCO2e per hour after the earliest start. ``inf`` where the start is before the region's
    ``earliest`` (data transfer), capacity is missing or the cost is not finite (a NaN never wins)."""
    d_cost = d_res if d_cost is None else d_cost
    T = free.shape[1]
    s0, s1 = int(earliest.min()), min(int(jobs.deadline_h[i]) - d_res, T - d_res)
    if s1 < s0:
        return None
    rel = np.arange(s0 - now, s1 - now + 1)
    cost = (jobs.power_kw[i] * dc.pue / 1000.0)[:, None] * window_sums(P, rel, d_cost)       # kgCO2e [R × S]
    home = int(jobs.home[i])
    tr = dc.transfer_carbon_kg(jobs.data_gb[i], ci[home, rel][None, :], ci[:, rel])
    tr[home] = 0.0
    cost = cost + tr
    if delay_weight:
        cost = cost + delay_weight * (rel - rel[0])[None, :]
    ok = fits(free[:, s0:s1 + d_res], jobs.gpus[i], d_res)
    ok &= (rel + now)[None, :] >= earliest[:, None]
    return s0, np.where(ok & np.isfinite(cost), cost, np.inf)


def cheapest_start(s0: int, cost: np.ndarray) -> tuple[int, int, float]:
    """(region, absolute start, kgCO2e) of the cheapest finite cell of ``cost`` [R × S] — ties go to the
    earliest start, then the lower region index; (−1, −1, inf) when none is finite."""
    if not np.isfinite(cost).any():
        return -1, -1, np.inf
    flat = int(np.argmin(cost.T))                 # start-major
    R = cost.shape[0]
    return flat % R, s0 + flat // R, float(cost.T.flat[flat])
