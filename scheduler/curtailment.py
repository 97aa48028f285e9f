"""Surplus-renewable ("curtailment") windows per region from hourly grid traces (seed 002).

The seed derives curtailment periods from *marginal* carbon-intensity traces. **We have no marginal-emission
series**: the shipped Electricity Maps panel gives average (direct and life-cycle) carbon intensity and the
renewable / low-carbon share of consumption. We therefore use a proxy — hours when the renewable share is high
(or the average carbon intensity is low) relative to a threshold — and keep the derivation pluggable:
:func:`surplus_windows` works on any ``[region × hour]`` matrix, so a user with a marginal-emission or a
curtailment-MWh series passes that matrix (and ``higher_is_surplus``) instead of a panel column.

Rule (:class:`WindowRule`):

* threshold: ``mode="percentile"`` — per region, the ``enter`` percentile of the signal over the span (a
  relative rule: every region gets windows); ``mode="absolute"`` — ``enter`` in the signal's units
  (% for ``renewable_pct``/``low_carbon_pct``, gCO2eq/kWh for ``ci_direct``/``ci_lca``);
* hysteresis: a window opens when the signal crosses ``enter`` and closes only when it falls back past
  ``exit`` = ``enter − hysteresis`` (for a signal where higher is surplus; mirrored for carbon intensity),
  in the same units as ``enter`` (percentile points in percentile mode);
* minimum length: windows shorter than ``min_hours`` are dropped so training does not flap.

All times are UTC hours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Panel columns for which a *higher* value means more surplus clean power.
HIGHER_IS_SURPLUS = {"renewable_pct": True, "low_carbon_pct": True, "ci_direct": False, "ci_lca": False}


@dataclass(frozen=True)
class WindowRule:
    """How windows are cut. ``column`` names the panel signal (see :data:`HIGHER_IS_SURPLUS`)."""

    column: str = "renewable_pct"
    mode: str = "percentile"          # percentile | absolute
    enter: float = 80.0               # percentile (0–100) or absolute value in the signal's units
    hysteresis: float = 10.0          # exit threshold = enter ∓ hysteresis (same units as enter), ≥ 0
    min_hours: int = 3                # shortest window kept, hours ≥ 1

    def __post_init__(self) -> None:
        if self.mode not in ("percentile", "absolute"):
            raise ValueError(f"WindowRule.mode: expected percentile | absolute, got {self.mode!r}")
        if self.mode == "percentile" and not (0 <= self.enter <= 100 and self.enter - self.hysteresis >= 0):
            raise ValueError(f"WindowRule: percentile enter={self.enter} minus hysteresis={self.hysteresis} "
                             "must stay within [0, 100]")
        if self.hysteresis < 0 or self.min_hours < 1:
            raise ValueError(f"WindowRule: hysteresis must be ≥ 0 (got {self.hysteresis}) and min_hours ≥ 1 "
                             f"(got {self.min_hours})")


def foresight(rule: WindowRule) -> list[str]:
    """What future knowledge windows cut from the *actual* signal by ``rule`` use (empty: none — the
    window state at hour t depends only on hours ≤ t): percentile thresholds over the whole span, and
    dropping windows shorter than ``min_hours`` (whether a window lasts that long is known only at its end)."""
    out = []
    if rule.mode == "percentile":
        out.append(f"thresholds = {rule.enter:g}th/{rule.enter - rule.hysteresis:g}th percentiles of the actual "
                   f"{rule.column} over the whole loaded span")
    if rule.min_hours > 1:
        out.append(f"windows under {rule.min_hours} h dropped knowing their actual end")
    return out


def window_label(rule: WindowRule) -> str:
    """Short label of windows cut from actuals by ``rule``: ``perfect-foresight windows`` when
    :func:`foresight` finds future knowledge, else ``causal windows``."""
    return "perfect-foresight windows" if foresight(rule) else "causal windows"


def _thresholds(values: np.ndarray, rule: WindowRule, higher: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-region (enter, exit) thresholds in the signal's units, each shape [R]."""
    if rule.mode == "absolute":
        sign = -1.0 if higher else 1.0
        r = values.shape[0]
        return np.full(r, rule.enter), np.full(r, rule.enter + sign * rule.hysteresis)
    q_enter = rule.enter if higher else 100.0 - rule.enter
    q_exit = rule.enter - rule.hysteresis if higher else 100.0 - rule.enter + rule.hysteresis
    return np.percentile(values, q_enter, axis=1), np.percentile(values, q_exit, axis=1)


def _drop_short(mask: np.ndarray, min_hours: int) -> np.ndarray:
    """Remove runs of True shorter than ``min_hours`` along axis 1 (vectorised run-length filter)."""
    if min_hours <= 1:
        return mask
    r, t = mask.shape
    padded = np.zeros((r, t + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    starts_r, starts_t = np.nonzero(d == 1)
    _, ends_t = np.nonzero(d == -1)           # same row order as starts (one end per start, row-major)
    keep = (ends_t - starts_t) >= min_hours
    out = np.zeros((r, t + 1), dtype=np.int32)
    np.add.at(out, (starts_r[keep], starts_t[keep]), 1)
    np.add.at(out, (starts_r[keep], ends_t[keep]), -1)
    return np.cumsum(out, axis=1)[:, :t] > 0


def surplus_windows(values: np.ndarray, rule: WindowRule = WindowRule(),
                    higher_is_surplus: bool | None = None) -> np.ndarray:
    """Boolean ``[region × hour]`` mask of surplus windows for a ``[region × hour]`` signal matrix.

    ``higher_is_surplus`` defaults from ``rule.column`` (:data:`HIGHER_IS_SURPLUS`); pass it for a custom
    signal (e.g. ``False`` for a marginal-emission series in gCO2eq/kWh). The hysteresis state machine steps
    over hours with all regions at once (one loop over T, vectorised over regions).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"surplus_windows: values must be a finite 2-D [region × hour] array, got {v.shape}")
    if higher_is_surplus is None:
        if rule.column not in HIGHER_IS_SURPLUS:
            raise ValueError(f"surplus_windows: unknown column {rule.column!r}; pass higher_is_surplus")
        higher_is_surplus = HIGHER_IS_SURPLUS[rule.column]
    enter, exit_ = _thresholds(v, rule, higher_is_surplus)
    s = v if higher_is_surplus else -v
    enter, exit_ = (enter, exit_) if higher_is_surplus else (-enter, -exit_)
    above_enter = s >= enter[:, None]
    above_exit = s >= exit_[:, None]
    mask = np.empty_like(above_enter)
    state = np.zeros(v.shape[0], dtype=bool)
    for t in range(v.shape[1]):
        state = np.where(state, above_exit[:, t], above_enter[:, t])
        mask[:, t] = state
    return _drop_short(mask, rule.min_hours)


def windows_from_panel(panel: pd.DataFrame, rule: WindowRule = WindowRule(),
                       regions: list[str] | None = None) -> tuple[np.ndarray, pd.DatetimeIndex, list[str]]:
    """Surplus-window mask from a panel (``forecast.data.panel.load_panel``) → (mask [R × T], UTC hours,
    regions)."""
    from forecast.data.panel import to_matrix

    if rule.column not in panel.columns:
        raise ValueError(f"windows_from_panel: panel has no column {rule.column!r}")
    values, times, regions = to_matrix(panel, rule.column, regions)
    return surplus_windows(values, rule), times, regions


def window_table(mask: np.ndarray, times: pd.DatetimeIndex, regions: list[str]) -> pd.DataFrame:
    """One row per window: region, start (UTC), end (UTC, exclusive), hours."""
    r, t = mask.shape
    padded = np.zeros((r, t + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    step = times[1] - times[0] if len(times) > 1 else pd.Timedelta(hours=1)
    ext = times.append(pd.DatetimeIndex([times[-1] + step]))
    return pd.DataFrame({"region": np.asarray(regions)[rows], "start": ext[starts], "end": ext[ends],
                         "hours": ends - starts})
