"""Carbon signals: actual intensity [region × hour], forecasts [issue × region × horizon × quantile],
controlled-error forecasts, and the information-set views policies receive.

Units: carbon intensity gCO2eq/kWh, renewable share % (0–100). Hours are integers since the
experiment start; ``CarbonSignal.times[t]`` is the UTC start of hour ``t``.

Information set (DESIGN.md): a policy deciding at hour ``now`` may use actuals of hours strictly before
``now`` and the latest forecast issued at or before ``now``. :class:`PolicyView` enforces that
structurally: its constructor copies only those slices, so nothing later is reachable from it.
:class:`OracleView` (perfect foresight, actual future intensities) is for the oracle only and says so
(``is_oracle = True``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

import numpy as np
from scipy.special import ndtr
import pandas as pd

from forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS

@cache
def _z_scores() -> np.ndarray:
    """Standard-normal quantiles at QUANTILE_LEVELS."""
    return np.array([NormalDist().inv_cdf(q) for q in QUANTILE_LEVELS])


@dataclass
class CarbonSignal:
    """Actual hourly carbon intensity and renewable share of each region."""

    ci: np.ndarray                # [R × T] gCO2eq/kWh
    renewable_pct: np.ndarray     # [R × T] %
    times: pd.DatetimeIndex       # length T, UTC hour starts
    regions: list[str]

    def __post_init__(self) -> None:
        shape = (len(self.regions), len(self.times))
        if self.ci.shape != shape or self.renewable_pct.shape != shape:
            raise ValueError(f"CarbonSignal: ci/renewable_pct must be {shape}, got {self.ci.shape}/"
                             f"{self.renewable_pct.shape}")
        if not np.isfinite(self.ci).all() or (self.ci < 0).any():
            bad = np.argwhere(~np.isfinite(self.ci) | (self.ci < 0))[0]
            raise ValueError(f"CarbonSignal.ci: invalid value at region {self.regions[bad[0]]}, "
                             f"{self.times[bad[1]]}")

    @property
    def n_hours(self) -> int:
        return self.ci.shape[1]

    @classmethod
    def from_panel(cls, panel: pd.DataFrame, regions: list[str], start: str | pd.Timestamp,
                   hours: int, column: str = "ci_direct") -> CarbonSignal:
        """Slice ``hours`` hours from ``start`` (UTC) of a panel (``forecast.data.panel.load_panel``)."""
        from forecast.data.panel import to_matrix

        start = pd.Timestamp(start, tz="UTC") if pd.Timestamp(start).tzinfo is None else pd.Timestamp(start)
        ci, times, regs = to_matrix(panel, column, regions)
        ren, times_r, _ = to_matrix(panel, "renewable_pct", regions)
        if not times.equals(times_r):
            raise ValueError("CarbonSignal.from_panel: ci and renewable_pct cover different hours")
        i0 = times.searchsorted(start)
        if i0 >= len(times) or times[i0] != start or i0 + hours > len(times):
            raise ValueError(f"CarbonSignal.from_panel: panel covers {times[0]} → {times[-1]}, "
                             f"cannot take {hours} h from {start}")
        sl = slice(i0, i0 + hours)
        return cls(ci[:, sl].copy(), ren[:, sl].copy(), times[sl], list(regs))


@dataclass
class ForecastSignal:
    """Forecasts issued at ``issue_h``; ``mean[i, r, k]`` is the forecast issued at ``issue_h[i]`` for hour
    ``issue_h[i] + k`` (horizon ``k`` hours; NaN where the source has none); ``q[..., j]`` the quantile at
    ``QUANTILE_LEVELS[j]``."""

    issue_h: np.ndarray     # [I] int64, increasing
    mean: np.ndarray        # [I × R × H]
    q: np.ndarray           # [I × R × H × Q]
    label: str = "forecast"

    def __post_init__(self) -> None:
        if self.mean.shape != self.q.shape[:3] or self.q.shape[3] != len(QUANTILE_LEVELS):
            raise ValueError(f"ForecastSignal: mean {self.mean.shape} and q {self.q.shape} disagree")
        if len(self.issue_h) != self.mean.shape[0] or (np.diff(self.issue_h) <= 0).any():
            raise ValueError("ForecastSignal.issue_h: one strictly increasing issue hour per forecast")

    @classmethod
    def from_table(cls, table: pd.DataFrame, regions: list[str], times: pd.DatetimeIndex,
                   label: str = "table") -> ForecastSignal:
        """Dense signal from a forecast table (schema ``forecast.data.schema.FORECAST_COLUMNS``) over the
        experiment hours ``times``; issues outside ``times`` are dropped."""
        missing = [c for c in ("region", "issue_time", "time", "horizon_h", "mean", *QUANTILE_COLUMNS)
                   if c not in table.columns]
        if missing:
            raise ValueError(f"forecast table: missing column(s) {missing}")
        t = table[table["region"].isin(regions)]
        issue = ((t["issue_time"] - times[0]) / pd.Timedelta(hours=1)).to_numpy()
        t = t[(issue >= 0) & (issue < len(times))]
        issue = ((t["issue_time"] - times[0]) / pd.Timedelta(hours=1)).to_numpy().astype(np.int64)
        target = ((t["time"] - times[0]) / pd.Timedelta(hours=1)).to_numpy().astype(np.int64)
        if len(t) == 0:
            raise ValueError(f"forecast table: no issues within {times[0]} → {times[-1]} for {regions}")
        k = target - issue
        if (k < 0).any():
            raise ValueError("forecast table: rows with time before issue_time")
        issues = np.unique(issue)
        ii = np.searchsorted(issues, issue)
        rr = pd.Index(regions).get_indexer(t["region"])
        shape = (len(issues), len(regions), int(k.max()) + 1)
        mean = np.full(shape, np.nan)
        q = np.full((*shape, len(QUANTILE_LEVELS)), np.nan)
        mean[ii, rr, k] = t["mean"].to_numpy(float)
        q[ii, rr, k] = t[list(QUANTILE_COLUMNS)].to_numpy(float)
        return cls(issues, mean, q, label)


def _quantiles(mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian quantiles mean + z·σ, clipped at 0, non-decreasing along the last axis."""
    q = np.maximum(mean[..., None] + sigma[..., None] * _z_scores(), 0.0)
    return np.maximum.accumulate(q, axis=-1)


def _mape(f: np.ndarray, a: np.ndarray) -> float:
    ok = a > 0
    return float(np.mean(np.abs(f[ok] - a[ok]) / a[ok]) * 100.0)


def _ar1(white: np.ndarray, correlation_h: float) -> np.ndarray:
    """Unit-variance AR(1) along the last (horizon) axis from white N(0, 1) noise; identity for 0."""
    if correlation_h < 0:
        raise ValueError(f"forecast.correlation_h: expected ≥ 0 hours, got {correlation_h}")
    if correlation_h == 0:
        return white
    rho = float(np.exp(-1.0 / correlation_h))
    out = white.copy()
    for h in range(1, white.shape[-1]):  # loop over ≤ 96 horizons; each step is a whole [issue × region] array
        out[..., h] = rho * out[..., h - 1] + np.sqrt(1.0 - rho * rho) * white[..., h]
    return out


def controlled_error(carbon: CarbonSignal, model: str, *, k: float = 0.0, e: float = 0.0,
                     accuracy: float = 1.0, horizon_h: int = 48, issue_every_h: int = 24,
                     issue_hour: int = 0, correlation_h: float = 0.0, seed: int = 0) -> ForecastSignal:
    """Forecasts = actuals + controlled error, issued every ``issue_every_h`` hours (at ``issue_hour``
    modulo it, plus hour 0), horizons 0…``horizon_h``−1.

    * ``gaussian``: f = a + N(0, (k × regional mean intensity)²) (Wiesner et al., Let's Wait Awhile, 2021).
    * ``uniform``: f = a × (1 + U(−e/2, e/2)) (Sukprasert et al., EuroSys 2024).
    * ``accuracy``: f = a × (1 + s·N(0, 1)), with ``s`` calibrated by bisection on the drawn noise so
      that accuracy = 100 − MAPE(f, a) equals ``accuracy`` (a fraction: 0.87 → 87 %).

    Quantiles are Gaussian around f with the mode's error scale (σ = k·mean; e·f/√12; s·f). Forecasts
    are clipped at 0 gCO2eq/kWh.

    ``correlation_h`` > 0 makes the error of one forecast issue temporally correlated along the horizon,
    as real forecast errors are (a missed weather front shifts many hours at once): a stationary AR(1)
    with lag-1 correlation exp(−1/correlation_h) and the same marginal distribution (the uniform model
    maps it through the normal CDF, a Gaussian copula). 0 draws independent errors per hour, which
    average out over a multi-hour job window and so understate the cost of forecast error.
    """
    if model not in ("gaussian", "uniform", "accuracy", "perfect"):
        raise ValueError(f"forecast.error_model: expected gaussian|uniform|accuracy|perfect, got {model!r}")
    T = carbon.n_hours
    first = issue_hour % issue_every_h
    issues = np.arange(first, T, issue_every_h, dtype=np.int64)
    if first:
        issues = np.concatenate([[0], issues])
    target = issues[:, None] + np.arange(horizon_h)[None, :]                  # [I × H]
    valid = target < T
    a = carbon.ci[:, np.minimum(target, T - 1)].transpose(1, 0, 2)           # [I × R × H]
    rng = np.random.default_rng(seed)
    noise = _ar1(rng.standard_normal(a.shape), correlation_h)
    if model == "perfect":
        f, sigma = a.copy(), np.zeros_like(a)
    elif model == "gaussian":
        scale = k * carbon.ci.mean(axis=1)[None, :, None]
        f, sigma = np.maximum(a + noise * scale, 0.0), np.broadcast_to(scale, a.shape)
    elif model == "uniform":
        f = a * (1.0 + e * (ndtr(noise) - 0.5))
        sigma = f * e / np.sqrt(12.0)
    else:
        if not 0 < accuracy <= 1:
            raise ValueError(f"forecast.accuracy: expected a fraction in (0, 1], got {accuracy}")
        target_mape = (1.0 - accuracy) * 100.0
        av = a[np.broadcast_to(valid[:, None, :], a.shape)]
        nv = noise[np.broadcast_to(valid[:, None, :], a.shape)]
        lo, hi = 0.0, 1.0
        while _mape(av * np.maximum(1 + hi * nv, 0), av) < target_mape:
            hi *= 2
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _mape(av * np.maximum(1 + mid * nv, 0), av) < target_mape else (lo, mid)
        s = (lo + hi) / 2
        f = a * np.maximum(1 + s * noise, 0.0)
        sigma = s * f
    f = np.where(valid[:, None, :], f, np.nan)
    label = {"perfect": "perfect", "gaussian": f"gaussian(k={k})", "uniform": f"uniform(e={e})",
             "accuracy": f"accuracy({accuracy:.0%})"}[model]
    return ForecastSignal(issues, f, _quantiles(f, np.asarray(sigma)), label)


def forecast_accuracy(forecast: ForecastSignal, carbon: CarbonSignal) -> float:
    """Measured accuracy = 100 − MAPE (%) of the mean forecast over all issued (issue, region, horizon)."""
    T = carbon.n_hours
    target = forecast.issue_h[:, None] + np.arange(forecast.mean.shape[2])[None, :]
    a = carbon.ci[:, np.minimum(target, T - 1)].transpose(1, 0, 2)
    ok = np.isfinite(forecast.mean) & (target < T)[:, None, :]
    return 100.0 - _mape(forecast.mean[ok], a[ok])


def _seasonal_fill(history: np.ndarray, future: np.ndarray, period: int = 24) -> np.ndarray:
    """Fill NaN in ``future`` [R × L] with the value ``period`` hours earlier (from ``future`` itself or,
    for the first period, from ``history`` [R × h]); hours with neither stay at the last known value."""
    full = np.concatenate([history, future], axis=1)
    h = history.shape[1]
    for start in range(h, full.shape[1], period):
        block = full[:, start:start + period]
        if start - period >= 0:
            src = full[:, start - period:start - period + block.shape[1]]
            np.copyto(block, src, where=np.isnan(block))
    out = full[:, h:]
    if np.isnan(out).any():  # nothing a day earlier either: carry the last finite value forward
        out = pd.DataFrame(np.concatenate([history, out], axis=1).T).ffill().bfill().to_numpy().T[:, h:]
    return out


class PolicyView:
    """What a non-oracle policy may know at hour ``now``: actual intensity of hours < ``now`` and the
    latest forecast issued at or before ``now`` (copied at construction; nothing later is reachable)."""

    is_oracle = False

    def __init__(self, carbon: CarbonSignal, forecast: ForecastSignal, now: int):
        self.now = int(now)
        self.n_hours = carbon.n_hours
        self.regions = list(carbon.regions)
        self._past = carbon.ci[:, :self.now].copy()
        i = int(np.searchsorted(forecast.issue_h, self.now, side="right")) - 1
        if i >= 0:
            self._issue = int(forecast.issue_h[i])
            self._mean = forecast.mean[i].copy()
            self._q = forecast.q[i].copy()
        else:
            self._issue, self._mean, self._q = None, None, None
        self.label = forecast.label

    def actuals(self) -> np.ndarray:
        """Actual intensity [R × now] of hours 0 … now−1, gCO2eq/kWh."""
        return self._past.copy()

    def current(self) -> np.ndarray:
        """Latest observed intensity per region (hour now−1; forecast for ``now`` at hour 0)."""
        return self._past[:, -1].copy() if self.now > 0 else self.ci_plan(self.now + 1)[:, 0]

    def ci_plan(self, end: int, stat: str | float = "mean", lam: float = 0.0) -> np.ndarray:
        """Planning intensity [R × (end − now)] for hours now … end−1: the latest forecast's ``mean``, a
        quantile level (e.g. 0.9) or ``"spread"`` = mean + ``lam`` × (q0.95 − q0.05)/2. Hours the forecast
        does not cover repeat the value 24 h earlier (seasonal naive)."""
        end = min(int(end), self.n_hours)
        L = max(end - self.now, 0)
        fut = np.full((len(self.regions), L), np.nan)
        if self._issue is not None:
            values = self._select(stat, lam)
            k0 = self.now - self._issue
            k1 = min(k0 + L, values.shape[1])
            if k1 > k0:
                fut[:, :k1 - k0] = values[:, k0:k1]
        return _seasonal_fill(self._past[:, -24:] if self.now else self._past, fut)

    def _select(self, stat: str | float, lam: float) -> np.ndarray:
        if stat == "mean":
            return self._mean
        if stat == "spread":
            return self._mean + lam * (self._q[..., -1] - self._q[..., 0]) / 2.0
        level = float(stat)
        if level not in QUANTILE_LEVELS:
            raise ValueError(f"quantile {level} not in {QUANTILE_LEVELS}")
        return self._q[..., QUANTILE_LEVELS.index(level)]


class OracleView:
    """ORACLE (perfect foresight): returns the *actual* intensity of future hours. Only the oracle policy
    may receive it; every output derived from it is labelled oracle."""

    is_oracle = True
    label = "oracle (actual intensities)"

    def __init__(self, carbon: CarbonSignal, now: int):
        self.now = int(now)
        self.n_hours = carbon.n_hours
        self.regions = list(carbon.regions)
        self._ci = carbon.ci

    def actuals(self) -> np.ndarray:
        return self._ci[:, :self.now].copy()

    def current(self) -> np.ndarray:
        return self._ci[:, self.now].copy()

    def ci_plan(self, end: int, stat: str | float = "mean", lam: float = 0.0) -> np.ndarray:
        return self._ci[:, self.now:min(int(end), self.n_hours)].copy()
