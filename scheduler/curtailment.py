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

from carbonshift.forecast.bounds import MAX_SPAN_H, bounded
from carbonshift.forecast.data.panel import to_matrix
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS

#: Panel columns for which a *higher* value means more surplus clean power.
HIGHER_IS_SURPLUS = {"renewable_pct": True, "low_carbon_pct": True, "ci_direct": False, "ci_lca": False}


@dataclass(frozen=True)
class WindowRule:
    """How windows are cut. ``column`` names the panel signal (see :data:`HIGHER_IS_SURPLUS`)."""

    column: str = "renewable_pct"
    mode: str = "percentile"          # percentile | absolute
    enter: float = 80.0               # percentile (0–100) or absolute value in the signal's units
    hysteresis: float = 10.0          # exit threshold = enter ∓ hysteresis (same units as enter), ≥ 0
    min_hours: int = bounded(3, le=MAX_SPAN_H)   # shortest window kept, hours ≥ 1

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
    return _drop_short(_hysteresis(s, enter, exit_), rule.min_hours)


def _hysteresis(s: np.ndarray, enter: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Window state per row of ``s`` (``[N × C]``, higher = more surplus) with per-row thresholds ``enter`` /
    ``exit_`` ``[N]``: open at ≥ enter, stay open while ≥ exit (one loop over C, vectorised over rows)."""
    above_enter = s >= enter[:, None]
    above_exit = s >= exit_[:, None]
    mask = np.empty_like(above_enter)
    state = np.zeros(s.shape[0], dtype=bool)
    for t in range(s.shape[1]):
        state = np.where(state, above_exit[:, t], above_enter[:, t])
        mask[:, t] = state
    return mask


def windows_from_panel(panel: pd.DataFrame, rule: WindowRule = WindowRule(),
                       regions: list[str] | None = None) -> tuple[np.ndarray, pd.DatetimeIndex, list[str]]:
    """Surplus-window mask from a panel (``forecast.data.panel.load_panel``) → (mask [R × T], UTC hours,
    regions)."""
    if rule.column not in panel.columns:
        raise ValueError(f"windows_from_panel: panel has no column {rule.column!r}")
    values, times, regions = to_matrix(panel, rule.column, regions)
    return surplus_windows(values, rule), times, regions


def windows_over(panel: pd.DataFrame, rule: WindowRule, regions: list[str], start: pd.Timestamp,
                 n_hours: int) -> np.ndarray:
    """Perfect-foresight surplus-window mask [R × ``n_hours``] from ``start`` (UTC, an hour of the panel): the
    windows are cut from the whole panel (:func:`windows_from_panel`), then the hours are taken."""
    mask, times, _ = windows_from_panel(panel, rule, regions)
    i0 = times.get_loc(start)
    return mask[:, i0:i0 + n_hours]


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


# --- Causal windows from forecasts (seeds 001/002: windows known before they happen) -------------------------

#: Horizon buckets (h, inclusive upper edges) for precision/recall of forecast windows: the forecast defaults.
HORIZON_BUCKETS = DEFAULT_BUCKETS


@dataclass(frozen=True)
class ForecastWindowRule:
    """Windows decided at each forecast issue from the forecast alone (:func:`forecast_windows`).

    ``trailing_days``: thresholds are the ``WindowRule`` percentiles of the *past* actuals
    ``[issue − trailing_days, issue)`` (absolute thresholds are used as they are); ``stat``: the forecast
    column the hysteresis runs on (``mean`` or a quantile column ``q0.05`` … ``q0.95`` — a low quantile of
    renewable share is a cautious window); ``warmup_h``: past actual hours replayed before the forecast so the
    window state (and a window's length so far, for ``min_hours``) at the issue is known."""

    trailing_days: int = 28
    stat: str = "mean"
    warmup_h: int = 24

    def __post_init__(self) -> None:
        if self.trailing_days < 1 or self.warmup_h < 0:
            raise ValueError(f"ForecastWindowRule: trailing_days must be ≥ 1 (got {self.trailing_days}) and "
                             f"warmup_h ≥ 0 (got {self.warmup_h})")

    def label(self, model: str) -> str:
        return (f"forecast windows ({model}, {self.stat}; thresholds from the past {self.trailing_days} days "
                "of actuals)")


def trailing_thresholds(actual: np.ndarray, issue_idx: np.ndarray, rule: WindowRule, higher: bool,
                        trailing_h: int) -> tuple[np.ndarray, np.ndarray]:
    """(enter, exit) thresholds per issue and region, each ``[I × R]``, from actual hours
    ``[issue − trailing_h, issue)`` only (signal units)."""
    r = actual.shape[0]
    if rule.mode == "absolute":
        sign = -1.0 if higher else 1.0
        return (np.full((len(issue_idx), r), rule.enter),
                np.full((len(issue_idx), r), rule.enter + sign * rule.hysteresis))
    past = actual[:, issue_idx[:, None] + np.arange(-trailing_h, 0)[None, :]]              # [R × I × W]
    q_enter = rule.enter if higher else 100.0 - rule.enter
    q_exit = rule.enter - rule.hysteresis if higher else 100.0 - rule.enter + rule.hysteresis
    return np.percentile(past, q_enter, axis=2).T, np.percentile(past, q_exit, axis=2).T


def forecast_windows(actual: np.ndarray, issue_idx: np.ndarray, values: np.ndarray, rule: WindowRule,
                     frule: ForecastWindowRule, higher_is_surplus: bool | None = None) -> np.ndarray:
    """Window membership ``[I × R × H]`` decided at each issue from ``values`` ``[I × R × H]`` (a forecast of
    ``rule.column``; horizon h covers hour ``issue_idx + h`` of ``actual``, ``[R × T]``).

    Causal: only actual hours before each issue are read (thresholds over the trailing window, the warm-up
    replay); the issue hour itself (horizon 0: neither observed nor forecast) is skipped. Hysteresis runs over
    [warm-up actuals, forecast]; ``min_hours`` drops runs shorter than that *on that sequence* (a run reaching
    the horizon's end is judged on what the forecast shows). Pass the actual future values as ``values`` to get
    the reference "actual windows" under the same thresholds."""
    a = np.asarray(actual, dtype=float)
    v = np.asarray(values, dtype=float)
    i = np.asarray(issue_idx, dtype=np.int64)
    n_i, r, h = v.shape
    if a.ndim != 2 or a.shape[0] != r or len(i) != n_i or not np.all(np.isfinite(v)):
        raise ValueError(f"forecast_windows: expected actual [R × T] and finite values [I × R × H] with R = {r}, "
                         f"I = {len(i)}; got {a.shape} and {v.shape}")
    trailing_h = frule.trailing_days * 24
    need = max(trailing_h, frule.warmup_h)
    if len(i) and (i.min() < need or i.max() >= a.shape[1]):
        raise ValueError(f"forecast_windows: every issue needs {need} h of actuals before it inside the loaded "
                         f"span (first issue at hour {i.min()}, span {a.shape[1]} h)")
    if not np.all(np.isfinite(a[:, i.min() - need:i.max()])):
        raise ValueError("forecast_windows: actual values before the issues must be finite")
    if higher_is_surplus is None:
        higher_is_surplus = HIGHER_IS_SURPLUS[rule.column]
    enter, exit_ = trailing_thresholds(a, i, rule, higher_is_surplus, trailing_h)           # [I × R]
    warm = a[:, i[:, None] + np.arange(-frule.warmup_h, 0)[None, :]].transpose(1, 0, 2)      # [I × R × W]
    seq = np.concatenate([warm, v], axis=2).reshape(n_i * r, -1)
    sign = 1.0 if higher_is_surplus else -1.0
    state = _hysteresis(sign * seq, sign * enter.reshape(-1), sign * exit_.reshape(-1))
    return _drop_short(state, rule.min_hours)[:, frule.warmup_h:].reshape(n_i, r, h)


def handoff_mask(member: np.ndarray, issue_idx: np.ndarray, first: int, n_hours: int) -> np.ndarray:
    """Hour-level window mask ``[R × n_hours]`` for hours ``first …`` from per-issue membership ``[I × R × H]``:
    each hour takes the latest issue strictly before it that covers it (the hand-off rule). An hour no issue
    covers is an error."""
    n_i, r, h = member.shape
    t = first + np.arange(n_hours)
    k = np.searchsorted(issue_idx, t, side="left") - 1                                       # latest issue < t
    lead = t - issue_idx[np.maximum(k, 0)]
    bad = (k < 0) | (lead > h)
    if bad.any():
        raise ValueError(f"handoff_mask: no forecast issue covers hour {int(t[bad][0])} (issues at hours "
                         f"{issue_idx[:3].tolist()}…, horizon {h} h)")
    return member[k, :, lead - 1].T


def precision_recall(pred: np.ndarray, actual: np.ndarray, regions: list[str], horizon_h: np.ndarray | None = None,
                     buckets: tuple[int, ...] = HORIZON_BUCKETS) -> pd.DataFrame:
    """Precision and recall (%) of predicted window hours vs actual window hours, per region and horizon
    bucket. ``pred``/``actual``: boolean ``[I × R × H]`` with ``horizon_h`` ``[H]`` (hours ahead), or
    ``[R × T]`` hour masks (one bucket ``all``). Precision is NaN when no hour is predicted, recall when none is
    actual; tp/fp/fn are hour counts."""
    p, a = np.asarray(pred, dtype=bool), np.asarray(actual, dtype=bool)
    if p.shape != a.shape:
        raise ValueError(f"precision_recall: pred {p.shape} and actual {a.shape} differ")
    if p.ndim == 2:
        p, a, horizon_h, names = p[None], a[None], None, ["all"]
        cols = np.zeros(p.shape[2], dtype=np.int64)
    else:
        edges = np.asarray(buckets)
        cols = np.searchsorted(edges, np.asarray(horizon_h), side="left")
        if (cols >= len(edges)).any():
            raise ValueError(f"precision_recall: horizons beyond the last bucket ({edges[-1]} h)")
        names = [f"{lo + 1}-{hi}h" for lo, hi in zip((0, *edges[:-1]), edges)]
    nb = len(names)
    onehot = np.eye(nb, dtype=np.int64)[cols]                                                  # [H × B]
    tp = np.einsum("irh,hb->rb", (p & a).astype(np.int64), onehot)
    fp = np.einsum("irh,hb->rb", (p & ~a).astype(np.int64), onehot)
    fn = np.einsum("irh,hb->rb", (~p & a).astype(np.int64), onehot)
    keep = np.isin(np.arange(nb), cols)                                                      # buckets with hours
    rr, bb = np.meshgrid(np.arange(len(regions)), np.flatnonzero(keep), indexing="ij")
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = 100.0 * tp / (tp + fp)
        rec = 100.0 * tp / (tp + fn)
    return pd.DataFrame({"region": np.asarray(regions)[rr.ravel()], "horizon": np.asarray(names)[bb.ravel()],
                         "tp": tp[rr, bb].ravel(), "fp": fp[rr, bb].ravel(), "fn": fn[rr, bb].ravel(),
                         "precision_pct": prec[rr, bb].ravel(), "recall_pct": rec[rr, bb].ravel()})


def precision_recall_metrics(pred: np.ndarray, actual: np.ndarray, regions: list[str], prefix: str) -> dict[str, float]:
    """``<prefix>.precision_pct.<region>`` and ``<prefix>.recall_pct.<region>`` (%) of the ``[R × T]`` hour mask
    ``pred`` vs ``actual`` (:func:`precision_recall`, one bucket)."""
    out: dict[str, float] = {}
    for row in precision_recall(pred, actual, regions).itertuples(index=False):
        out[f"{prefix}.precision_pct.{row.region}"] = float(row.precision_pct)
        out[f"{prefix}.recall_pct.{row.region}"] = float(row.recall_pct)
    return out


def windows_from_forecast(actual: np.ndarray, issue_idx: np.ndarray, values: np.ndarray, rule: WindowRule,
                          frule: ForecastWindowRule, regions: list[str], first: int,
                          n_hours: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Causal windows over hours ``first … first + n_hours`` of ``actual`` ([R × T]) from forecasts ``values``
    ([I × R × H], issued at hours ``issue_idx``; :func:`forecast_windows`), handed off per hour
    (:func:`handoff_mask`): the hour mask ``[R × n_hours]`` and its per-region × horizon-bucket
    :func:`precision_recall` against windows cut from the actuals with the same causal thresholds (issues whose
    horizon reaches past ``actual`` left out of that table)."""
    member = forecast_windows(actual, issue_idx, values, rule, frule)
    horizons = np.arange(1, values.shape[2] + 1)
    future = issue_idx[:, None] + horizons[None, :]                                          # [I × H]
    inside = future.max(axis=1) < actual.shape[1]
    truth = forecast_windows(actual, issue_idx[inside], actual[:, future[inside]].transpose(1, 0, 2), rule, frule)
    pr = precision_recall(member[inside], truth, regions, horizons)
    return handoff_mask(member, issue_idx, first, n_hours), pr
