"""Decision value of a forecast: the single-job start (and region) decisions a forecast table drives, scored
on actual carbon intensities (DESIGN, "Decision value"). A forecast-evaluation metric: it knows forecast
tables and actuals, nothing of the scheduler.

A decision is (issue τ, region set, job length L h, slack S h). The job may start at horizon 1 … S − L + 1
(it finishes within S hours of the first forecast hour). The forecast picks the start with the lowest
forecast mean over the L hours (ties: the earliest start); *run-now* starts at horizon 1; *perfect
foresight* picks on the actuals. Every carbon figure is the actual intensity averaged over the job's L hours,
gCO2eq/kWh. Spatial variant: the choice runs over every (start, region) of the table's regions (ties: the
earliest start, then the first region); run-now is the job's home region at horizon 1 (each region in turn
is home), so chosen and best are shared by all homes of an issue.

A decision is scored only when the actuals *and* the forecast means of all S hours of its slack window are
present (in the spatial variant: of every region); the others are excluded and counted (``missing_actual``,
``missing_forecast``), never dropped silently. Window means come from prefix sums over the horizon axis: no
Python loop over issues or hours (one loop over the few shapes).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import QUANTILE_COLUMNS

#: default job lengths and slacks, hours (issue 20)
LENGTHS_H: tuple[int, ...] = (1, 2, 4, 8, 12, 24)
SLACKS_H: tuple[int, ...] = (6, 12, 24, 48, 96, 168)


@dataclass(frozen=True)
class Cube:
    """A forecast table as dense arrays: ``point``/``actual`` [issue × region × horizon] (horizon h at index
    h − 1; NaN where the table has no row or no actual), ``quantiles`` [issue × region × horizon × level]
    (:data:`QUANTILE_COLUMNS`; ``None`` when the table has none). Values in the target's unit."""

    issues: pd.DatetimeIndex
    regions: tuple[str, ...]
    point: np.ndarray
    actual: np.ndarray
    quantiles: np.ndarray | None

    @property
    def max_horizon(self) -> int:
        return self.point.shape[2]


def to_cube(table: pd.DataFrame) -> Cube:
    """Pivot a forecast table with an ``actual`` column (:data:`forecast.data.schema.FORECAST_COLUMNS`) into a
    :class:`Cube`; issues sorted, regions in order of first appearance. Duplicate (region, issue, horizon)
    rows are an error."""
    missing = [c for c in ("region", "issue_time", "horizon_h", "mean", "actual") if c not in table.columns]
    if missing:
        raise ValueError(f"decision value: forecast table lacks columns {missing}")
    if table.duplicated(["region", "issue_time", "horizon_h"]).any():
        raise ValueError("decision value: duplicate (region, issue_time, horizon_h) rows — one model per table")
    h = table["horizon_h"].to_numpy(int)
    if (h < 1).any():
        raise ValueError("decision value: horizon_h must be ≥ 1")
    issue_codes, issues = pd.factorize(pd.to_datetime(table["issue_time"], utc=True), sort=True)
    region_codes, regions = pd.factorize(table["region"].astype(str))
    shape = (len(issues), len(regions), int(h.max()))
    idx = (issue_codes, region_codes, h - 1)

    def fill(values: np.ndarray, extra: tuple[int, ...] = ()) -> np.ndarray:
        out = np.full(shape + extra, np.nan)
        out[idx] = values
        return out

    q = None
    if all(c in table.columns for c in QUANTILE_COLUMNS):
        q = fill(table[list(QUANTILE_COLUMNS)].to_numpy(float), (len(QUANTILE_COLUMNS),))
    return Cube(pd.DatetimeIndex(issues), tuple(regions), fill(table["mean"].to_numpy(float)),
                fill(table["actual"].to_numpy(float)), q)


def shape_grid(max_horizon: int, lengths_h: Sequence[int] = LENGTHS_H,
               slacks_h: Sequence[int] = SLACKS_H) -> tuple[list[tuple[int, int]], list[str]]:
    """The (L, S) job shapes scored on a table reaching ``max_horizon`` h: every L ≤ S with S ≤ max_horizon;
    also the dropped shapes and why (``"L=24 h, S=12 h: length exceeds slack"``)."""
    kept, dropped = [], []
    for s in slacks_h:
        for length in lengths_h:
            if length > s:
                dropped.append(f"L={length} h, S={s} h: length exceeds slack")
            elif s > max_horizon:
                dropped.append(f"L={length} h, S={s} h: slack beyond the table's {max_horizon} h horizon")
            else:
                kept.append((int(length), int(s)))
    return kept, dropped


@dataclass(frozen=True)
class Decisions:
    """Per shape k, issue i and (home) region r — arrays [K × I × R]:

    ``chosen_start``/``best_start``: horizon (h, 1-based) of the job's first hour picked by the forecast /
    by perfect foresight on the actuals (−1 where not scored); ``chosen_region``/``best_region``: region index
    (= r in the temporal variant); ``run_now``/``chosen``/``best``: actual intensity averaged over the job's
    L hours, gCO2eq/kWh (unit of the target), NaN where not scored; ``spearman``: rank correlation of forecast
    vs actual window means over the decision's feasible set (NaN where undefined: one feasible window, or
    a constant forecast/actual); ``valid``: scored; ``missing_actual``/``missing_forecast``: excluded because
    the actuals / forecast means of the slack window are incomplete (missing_forecast only where the actuals
    are complete)."""

    length_h: np.ndarray
    slack_h: np.ndarray
    spatial: bool
    chosen_start: np.ndarray
    best_start: np.ndarray
    chosen_region: np.ndarray
    best_region: np.ndarray
    run_now: np.ndarray
    chosen: np.ndarray
    best: np.ndarray
    spearman: np.ndarray
    valid: np.ndarray
    missing_actual: np.ndarray
    missing_forecast: np.ndarray


def _prefix(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums over the last axis with a leading 0 (NaN read as 0) and prefix counts of missing values."""
    bad = ~np.isfinite(x)
    pad = [(0, 0)] * (x.ndim - 1) + [(1, 0)]
    return (np.pad(np.cumsum(np.where(bad, 0.0, x), axis=-1), pad),
            np.pad(np.cumsum(bad, axis=-1), pad))


def window_means(prefix: np.ndarray, length: int, n_starts: int) -> np.ndarray:
    """Means over ``length`` consecutive horizons for starts at horizons 1 … n_starts: [..., n_starts]
    (``prefix`` from :func:`_prefix`)."""
    return (prefix[..., length:length + n_starts] - prefix[..., :n_starts]) / length


def _spearman(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Rank correlation along the last axis (average ranks for ties); NaN where either side is constant."""
    from scipy.stats import rankdata   # lazy: scipy.stats takes ~0.5 s to import; forecast.ensemble and `carbonshift --help` import this module

    rf, ra = rankdata(f, axis=-1), rankdata(a, axis=-1)
    rf -= rf.mean(axis=-1, keepdims=True)
    ra -= ra.mean(axis=-1, keepdims=True)
    den = np.sqrt((rf * rf).sum(-1) * (ra * ra).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rf * ra).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def decide(point: np.ndarray, actual: np.ndarray, shapes: Sequence[tuple[int, int]],
           spatial: bool = False) -> Decisions:
    """Score the decisions of every (issue, region, shape).

    ``point``/``actual``: [issue × region × horizon] forecast means and actual intensities (gCO2eq/kWh),
    horizon h at index h − 1, NaN where absent; ``shapes``: (L, S) pairs in hours with 1 ≤ L ≤ S ≤ horizon
    count. ``spatial``: choose across all regions (see the module docstring). Vectorised over issues,
    regions and starts; one loop over shapes."""
    point, actual = np.asarray(point, float), np.asarray(actual, float)
    if point.shape != actual.shape or point.ndim != 3:
        raise ValueError(f"point {point.shape} and actual {actual.shape} must both be [issue × region × horizon]")
    n_i, n_r, n_h = point.shape
    for length, slack in shapes:
        if not 1 <= length <= slack <= n_h:
            raise ValueError(f"shape L={length} h, S={slack} h needs 1 ≤ L ≤ S ≤ {n_h} (the horizons given)")
    pf, nf = _prefix(point)
    pa, na = _prefix(actual)
    k = len(shapes)
    out = {name: np.full((k, n_i, n_r), np.nan) for name in ("run_now", "chosen", "best", "spearman")}
    ints = {name: np.full((k, n_i, n_r), -1, dtype=np.int64)
            for name in ("chosen_start", "best_start", "chosen_region", "best_region")}
    flags = {name: np.zeros((k, n_i, n_r), dtype=bool) for name in ("valid", "missing_actual", "missing_forecast")}
    homes = np.broadcast_to(np.arange(n_r), (n_i, n_r))
    for j, (length, slack) in enumerate(shapes):
        n = slack - length + 1
        a_ok, f_ok = na[..., slack] == 0, nf[..., slack] == 0   # [I × R]: all S hours present
        if spatial:
            a_ok = np.broadcast_to(a_ok.all(axis=1, keepdims=True), (n_i, n_r))
            f_ok = np.broadcast_to(f_ok.all(axis=1, keepdims=True), (n_i, n_r))
        ok = a_ok & f_ok
        wf, wa = window_means(pf, length, n), window_means(pa, length, n)   # [I × R × n]
        run_now = wa[..., 0]
        if spatial:   # flatten (start, region) start-major so ties go to the earliest start, then first region
            ff = wf.transpose(0, 2, 1).reshape(n_i, n * n_r)
            fa = wa.transpose(0, 2, 1).reshape(n_i, n * n_r)
            c, b = ff.argmin(axis=1), fa.argmin(axis=1)
            rows = np.arange(n_i)
            shared = lambda v: np.broadcast_to(v[:, None], (n_i, n_r))  # noqa: E731 (one value per issue, every home)
            chosen, best = shared(fa[rows, c]), shared(fa[rows, b])
            c_start, c_region, b_start, b_region = shared(c // n_r + 1), shared(c % n_r), shared(b // n_r + 1), shared(b % n_r)
            rho = shared(_spearman(ff, fa)) if n * n_r > 1 else np.full((n_i, n_r), np.nan)
        else:
            c, b = wf.argmin(axis=-1), wa.argmin(axis=-1)
            chosen = np.take_along_axis(wa, c[..., None], axis=-1)[..., 0]
            best = wa.min(axis=-1)
            c_start, b_start, c_region, b_region = c + 1, b + 1, homes, homes
            rho = _spearman(wf, wa) if n > 1 else np.full((n_i, n_r), np.nan)
        for name, v in (("run_now", run_now), ("chosen", chosen), ("best", best), ("spearman", rho)):
            out[name][j] = np.where(ok, v, np.nan)
        for name, v in (("chosen_start", c_start), ("best_start", b_start), ("chosen_region", c_region),
                        ("best_region", b_region)):
            ints[name][j] = np.where(ok, v, -1)
        flags["valid"][j], flags["missing_actual"][j], flags["missing_forecast"][j] = ok, ~a_ok, a_ok & ~f_ok
    return Decisions(np.array([s[0] for s in shapes], dtype=np.int64), np.array([s[1] for s in shapes], dtype=np.int64),
                     spatial, **ints, **out, **flags)


def captured_share(d: Decisions, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Share of the perfect-foresight saving captured, %: Σ(run-now − chosen) / Σ(run-now − best) over the
    scored decisions, summed along ``axis`` of the [shape × issue × region] arrays (None: all); NaN where the
    actuals leave no room (Σ(run-now − best) = 0). A ratio of sums (DESIGN), never a mean of ratios."""
    gain = np.where(d.valid, d.run_now - d.chosen, 0.0).sum(axis=axis)
    room = np.where(d.valid, d.run_now - d.best, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(room > 0, 100.0 * gain / np.where(room > 0, room, 1.0), np.nan)
