"""Conformalised quantile regression (CQR, Romano et al. 2019) per region × horizon bucket.

On a calibration window (preceding the test window) the conformity score of the central interval at
nominal level 1 − α is E = max(q_lo − y, y − q_hi) / s, with s = |median| (scale-normalised, so interval
widths follow the level of the series). The correction Q̂ = the ⌈(1 − α)(n + 1)⌉/n empirical quantile of E;
calibrated intervals are [q_lo − Q̂ s, q_hi + Q̂ s]. The median is unchanged; quantiles are re-sorted.

:func:`calibrate_rolling` is the online variant for a rolling-origin backtest: the corrections applied to the
forecasts issued at τ are fitted on the most recent ``window_days`` of forecasts whose target hour is before τ
(so every actual used was observed by τ), which follows drift between the calibration and test windows.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast.ensemble import horizon_bucket
from carbonshift.forecast.metrics import INTERVALS
from carbonshift.forecast.models.base import sort_quantiles
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, QUANTILE_COLUMNS


class ConformalCalibrator:
    """``fit(calibration_table_with_actual)`` then ``transform(table)``; ``corrections`` is a tidy frame
    (region, bucket, level, q_hat, n)."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS) -> None:
        self.buckets = list(buckets)
        self.corrections: pd.DataFrame | None = None

    @staticmethod
    def _scale(table: pd.DataFrame) -> np.ndarray:
        return np.maximum(np.abs(table["q0.5"].to_numpy(float)), 1e-6)

    def fit(self, table: pd.DataFrame) -> ConformalCalibrator:
        t = table[table["actual"].notna()]
        y, s = t["actual"].to_numpy(float), self._scale(t)
        keys = pd.DataFrame({"region": t["region"].to_numpy(), "bucket": horizon_bucket(t["horizon_h"], self.buckets)})
        rows = []
        for level, (lo, hi) in INTERVALS.items():
            e = np.maximum(t[lo].to_numpy(float) - y, y - t[hi].to_numpy(float)) / s
            for (region, bucket), idx in keys.groupby(["region", "bucket"]).indices.items():
                n = len(idx)
                rank = min(np.ceil((level / 100) * (n + 1)) / n, 1.0)
                rows.append({"region": region, "bucket": int(bucket), "level": level,
                             "q_hat": float(np.quantile(e[idx], rank, method="higher")), "n": n})
        self.corrections = pd.DataFrame(rows)
        return self

    @property
    def fitted_corrections(self) -> pd.DataFrame:
        """:attr:`corrections` (``RuntimeError`` before :meth:`fit`)."""
        if self.corrections is None:
            raise RuntimeError("calibration: fit on a calibration window before transform")
        return self.corrections

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        if self.corrections is None:
            raise RuntimeError("calibration: fit on a calibration window before transform")
        out = table.copy()
        s = self._scale(out)
        keys = pd.DataFrame({"region": out["region"].to_numpy(), "bucket": horizon_bucket(out["horizon_h"], self.buckets)})
        q_hats: dict[int, np.ndarray] = {}
        for level in INTERVALS:
            c = self.corrections[self.corrections["level"] == level]
            q_hat = keys.merge(c, on=["region", "bucket"], how="left")["q_hat"].to_numpy(float)
            if np.isnan(q_hat).any():
                missing = keys[np.isnan(q_hat)].drop_duplicates().head(3).to_dict("records")
                raise ValueError(f"calibration: no correction for {missing}")
            q_hats[level] = q_hat
        return widen(out, q_hats, s)


class Calibration(ABC):
    """How intervals are calibrated, chosen once from the config: ``fit(validation)`` (the static CQR
    corrections on the validation/calibration window: the static method's state, the rolling methods'
    fallback and what reports show) then ``calibrate(history, table)`` — the backtest and ``forecast
    train``/``predict`` call exactly these. ``history``: earlier forecasts with ``actual`` (the validation
    window); ``table``: the forecasts to calibrate, with ``actual`` (read only at hours before each row's
    issue). :meth:`clone` / :meth:`spec` / :func:`calibration_from_spec` as for :class:`forecast.ensemble.Weighting`."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS) -> None:
        self.buckets = list(buckets)
        self.static = ConformalCalibrator(self.buckets)

    @property
    def corrections(self) -> pd.DataFrame | None:
        """The static CQR corrections fitted on the validation window (region, bucket, level, q_hat, n)."""
        return self.static.corrections

    @property
    def fitted_corrections(self) -> pd.DataFrame:
        """:attr:`corrections` (``RuntimeError`` before :meth:`fit`)."""
        return self.static.fitted_corrections

    def fit(self, validation: pd.DataFrame) -> Calibration:
        """Fit the static CQR corrections on ``validation`` (forecasts with ``actual``)."""
        self.static.fit(validation)
        return self

    @abstractmethod
    def calibrate(self, history: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
        """Calibrated copy of ``table``."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The settings as a JSON-able mapping with the ``method`` name."""

    @property
    def lookback_days(self) -> int:
        """Days of earlier issues whose errors the corrections of an issue read (0: fixed at fit)."""
        return 0

    @property
    def since_start(self) -> bool:
        """Whether the corrections of an issue depend on every issue calibrated before it (online state), so
        predict must replay all issues from the cut-off, not only :attr:`lookback_days`."""
        return False

    def clone(self) -> Calibration:
        """An unfitted calibration with the same settings."""
        return calibration_from_spec(self.spec(), self.buckets)


class StaticCQR(Calibration):
    """The CQR corrections fitted on the validation window, applied to every later issue."""

    def calibrate(self, history: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
        return self.static.transform(table)

    def spec(self) -> dict[str, Any]:
        return {"method": "static"}


class RollingCQR(Calibration):
    """CQR refitted at every issue on the last ``window_days`` of already-observed errors
    (:func:`calibrate_rolling`)."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS, window_days: int = 28) -> None:
        if window_days < 1:
            raise ValueError(f"calibration window must be ≥ 1 day, got {window_days}")
        super().__init__(buckets)
        self.window_days = window_days

    def calibrate(self, history: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
        if history is None:
            raise ValueError("rolling calibration: needs the earlier forecasts (history) with their actuals")
        return calibrate_rolling(history, table, self.window_days, self.buckets)

    def spec(self) -> dict[str, Any]:
        return {"method": "rolling", "window_days": self.window_days}

    @property
    def lookback_days(self) -> int:
        return self.window_days


#: ACI step and CQR window (days) of :class:`AdaptiveCQR` and the config defaults, chosen on validation windows
#: only (forecast_em 2022-11/12, forecast_dacf 2021-02…06): experiments/configs/README.md "Interval calibration".
ADAPTIVE_STEP = 0.5
ADAPTIVE_WINDOW_DAYS = 14


class AdaptiveCQR(RollingCQR):
    """Rolling CQR whose quantile level adapts online per region × horizon bucket × interval (adaptive conformal
    inference with step ``step``; :func:`calibrate_rolling`). Its state starts at the first calibrated issue, so
    :meth:`calibrate` must see every issue from there on (``since_start``)."""

    def __init__(self, buckets: Sequence[int] = DEFAULT_BUCKETS, window_days: int = ADAPTIVE_WINDOW_DAYS,
                 step: float = ADAPTIVE_STEP) -> None:
        if not step > 0:
            raise ValueError(f"adaptive calibration step must be > 0 (0 is rolling CQR), got {step}")
        super().__init__(buckets, window_days)
        self.step = step

    def calibrate(self, history: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
        if history is None:
            raise ValueError("adaptive calibration: needs the earlier forecasts (history) with their actuals")
        return calibrate_rolling(history, table, self.window_days, self.buckets, self.step)

    def spec(self) -> dict[str, Any]:
        return {"method": "adaptive", "window_days": self.window_days, "step": self.step}

    @property
    def since_start(self) -> bool:
        return True


def calibration_from_spec(spec: Mapping[str, Any], buckets: Sequence[int]) -> Calibration:
    """The unfitted :class:`Calibration` a :meth:`Calibration.spec` mapping describes."""
    params = dict(spec)
    method = params.pop("method")
    kinds: dict[str, type[Calibration]] = {"static": StaticCQR, "rolling": RollingCQR, "adaptive": AdaptiveCQR}
    if method not in kinds:
        raise ValueError(f"calibration method must be one of {sorted(kinds)}, got {method!r}")
    return kinds[method](buckets, **params)


def calibrate_rolling(history: pd.DataFrame, table: pd.DataFrame, window_days: int,
                      buckets: Sequence[int] = DEFAULT_BUCKETS, step: float = 0.0) -> pd.DataFrame:
    """Calibrate ``table`` issue by issue. For each issue time τ the CQR corrections are fitted on the rows of
    ``history`` ∪ ``table`` (both with ``actual``) whose ``time`` < τ and ``issue_time`` ≥ τ − ``window_days``.
    A (region, bucket) with no such rows yet falls back to the whole ``history``. Same corrections as
    :class:`ConformalCalibrator` fitted on each window (one numpy sort per issue instead of pandas fits).

    ``step`` > 0 adds adaptive conformal inference (ACI, Gibbs & Candès 2021) per region × horizon bucket and
    interval level: the miscoverage level α_c the window quantile is taken at starts at the nominal α
    (0.10 for the 90 % interval) at the first issue of ``table`` and, at each later issue τ, moves by
    ``step`` × (α − miss rate) over the cell's rows of ``table`` first observed since the previous issue
    (target hour in [previous issue, τ)), where a miss is the actual outside the interval *as issued*: a cell
    that under-covers widens (α_c falls), one that over-covers narrows. Only actuals before τ are read."""
    if window_days < 1:
        raise ValueError(f"calibration window must be ≥ 1 day, got {window_days}")
    if step < 0:
        raise ValueError(f"adaptive step must be ≥ 0, got {step}")
    pool = pd.concat([history, table], ignore_index=True)
    pool = pool[pool["actual"].notna()]
    static = ConformalCalibrator(buckets).fit(history).fitted_corrections
    regions = np.unique(np.concatenate([pool["region"].to_numpy(str), table["region"].to_numpy(str)]))
    n_b = len(buckets) + 1
    n_cell = n_b * len(regions)

    def cells(t: pd.DataFrame) -> np.ndarray:
        return np.searchsorted(regions, t["region"].to_numpy(str)) * n_b + horizon_bucket(t["horizon_h"], buckets)

    def score(t: pd.DataFrame, lo: str, hi: str) -> np.ndarray:
        y = t["actual"].to_numpy(float)
        return np.maximum(t[lo].to_numpy(float) - y, y - t[hi].to_numpy(float)) / ConformalCalibrator._scale(t)

    p_cell, t_cell = cells(pool), cells(table)
    p_issue, p_time = pool["issue_time"].to_numpy("datetime64[ns]"), pool["time"].to_numpy("datetime64[ns]")
    t_issue, t_time = table["issue_time"].to_numpy("datetime64[ns]"), table["time"].to_numpy("datetime64[ns]")
    scores = {level: score(pool, lo, hi) for level, (lo, hi) in INTERVALS.items()}
    t_scores = {level: score(table, lo, hi) for level, (lo, hi) in INTERVALS.items()}   # NaN: not observed
    fallback = {}
    for level in INTERVALS:
        c = static[static["level"] == level]
        fallback[level] = np.full(n_cell, np.nan)
        fallback[level][np.searchsorted(regions, c["region"].to_numpy(str)) * n_b + c["bucket"].to_numpy()] = c["q_hat"]
    adapted = {level: np.full(n_cell, float(level)) for level in INTERVALS}   # ACI state: 100 (1 − α_c) per cell
    by_time = np.argsort(t_time, kind="stable")
    span = np.timedelta64(window_days, "D")
    q_hat = {level: np.full(len(table), np.nan) for level in INTERVALS}
    previous = None
    for tau in np.unique(t_issue):   # one sort per issue day and level (≈ 180 per test half-year)
        m = (p_time < tau) & (p_issue >= tau - span)
        rows = t_issue == tau
        if step > 0 and previous is not None:
            lo, hi = np.searchsorted(t_time[by_time], [previous, tau])
            new = by_time[lo:hi]
            for level in INTERVALS:
                seen = new[np.isfinite(t_scores[level][new])]
                miss = (t_scores[level][seen] > q_hat[level][seen]).astype(float)
                n = np.bincount(t_cell[seen], minlength=n_cell)
                excess = np.bincount(t_cell[seen], weights=miss, minlength=n_cell) - (1 - level / 100) * n
                adapted[level] += 100 * step * np.divide(excess, n, out=np.zeros(n_cell), where=n > 0)
        for level in INTERVALS:
            q = _cell_quantile(scores[level][m], p_cell[m], adapted[level], n_cell)
            q = np.where(np.isnan(q), fallback[level], q)
            q_hat[level][rows] = q[t_cell[rows]]
        previous = tau
    for level in INTERVALS:
        gap = np.isnan(q_hat[level])
        if gap.any():
            keys = pd.DataFrame({"region": table["region"].to_numpy()[gap],
                                 "bucket": horizon_bucket(table["horizon_h"].to_numpy()[gap], buckets)})
            raise ValueError(f"calibration: no correction for {keys.drop_duplicates().head(3).to_dict('records')}")
    return widen(table.copy(), q_hat, ConformalCalibrator._scale(table))


def widen(out: pd.DataFrame, q_hat: dict[int, np.ndarray], scale: np.ndarray) -> pd.DataFrame:
    """Move each interval's bounds out by its conformal correction × ``scale`` (per row, in the target's unit;
    a negative correction narrows), re-sort the quantiles and clip the mean into the outermost interval; in place,
    returns ``out``."""
    for level, (lo, hi) in INTERVALS.items():
        out[lo] = out[lo].to_numpy(float) - q_hat[level] * scale
        out[hi] = out[hi].to_numpy(float) + q_hat[level] * scale
    q = sort_quantiles(out[list(QUANTILE_COLUMNS)].to_numpy(float))
    out[list(QUANTILE_COLUMNS)] = q
    out["mean"] = np.clip(out["mean"].to_numpy(float), q[:, 0], q[:, -1])
    return out


def _cell_quantile(e: np.ndarray, cell: np.ndarray, level: np.ndarray, n_cell: int) -> np.ndarray:
    """Per cell, the CQR correction of :meth:`ConformalCalibrator.fit`: the ⌈(level/100)(n + 1)⌉/n
    ("higher") empirical quantile of the scores ``e`` at the cell's ``level`` (%, one per cell; the rank is
    clipped to [0, 1], so a level ≥ 100 takes the largest score); NaN for cells without rows."""
    order = np.lexsort((e, cell))
    e, cell = e[order], cell[order]
    n = np.bincount(cell, minlength=n_cell)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    out = np.full(n_cell, np.nan)
    ok = n > 0
    rank = np.clip(np.ceil((level[ok] / 100) * (n[ok] + 1)) / n[ok], 0.0, 1.0)
    out[ok] = e[start[ok] + np.ceil((n[ok] - 1) * rank).astype(np.intp)]
    return out
