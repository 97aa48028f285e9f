"""Carbon signals: actual intensity [region × hour], forecasts [issue × region × horizon × quantile],
controlled-error forecasts, and the information-set views policies receive.

Units: carbon intensity gCO2eq/kWh, renewable share % (0–100). Hours are integers since the
experiment start; ``CarbonSignal.times[t]`` is the UTC start of hour ``t``.

Information set (DESIGN.md): a policy deciding at hour ``now`` may use actuals of hours strictly before
``now`` and, for each later hour, the latest forecast issued at or before ``now`` that covers it (issues
before hour 0 included); hours no issue covers get a declared, counted fallback. :class:`PolicyView`
enforces that structurally: its constructor copies only those slices, so nothing later is reachable from it.
:class:`OracleView` (perfect foresight, actual future intensities) is for the oracle only and says so
(``is_oracle = True``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from statistics import NormalDist

import numpy as np
import pandas as pd

from carbonshift.forecast.data.panel import to_matrix
from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS
from carbonshift.forecast.metrics import mape

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
        bad_ren = ~np.isfinite(self.renewable_pct) | (self.renewable_pct < 0) | (self.renewable_pct > 100)
        if bad_ren.any():
            r, t = np.argwhere(bad_ren)[0]
            raise ValueError(f"CarbonSignal.renewable_pct: {self.renewable_pct[r, t]} at region {self.regions[r]}, "
                             f"{self.times[t]}; expected a finite share in 0–100 %")

    @property
    def n_hours(self) -> int:
        return self.ci.shape[1]

    @classmethod
    def from_panel(cls, panel: pd.DataFrame, regions: list[str], start: str | pd.Timestamp,
                   hours: int, column: str = "ci_direct") -> CarbonSignal:
        """Slice ``hours`` hours from ``start`` (UTC) of a panel (``forecast.data.panel.load_panel``)."""
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
    ``QUANTILE_LEVELS[j]``. Issue hours may be negative: an issue made before the experiment's first hour
    (e.g. the previous evening's day-ahead run) still covers its first hours.

    Validated on construction: a cell is *covered* where ``mean`` is finite; a covered cell needs finite,
    non-negative quantiles, non-decreasing along the levels, and a non-negative mean; an uncovered cell
    has no quantiles. The arrays are then read-only, so a covered cell stays valid and a :class:`PolicyView`
    hands it out without checking it again. ``clipped_quantiles`` counts quantile values below 0 gCO2eq/kWh
    that ``from_table`` set to 0 (an intensity cannot be negative)."""

    issue_h: np.ndarray     # [I] int64, strictly increasing, may be < 0
    mean: np.ndarray        # [I × R × H] gCO2eq/kWh
    q: np.ndarray           # [I × R × H × Q] gCO2eq/kWh
    label: str = "forecast"
    clipped_quantiles: int = 0

    def __post_init__(self) -> None:
        if self.mean.shape != self.q.shape[:3] or self.q.shape[3] != len(QUANTILE_LEVELS):
            raise ValueError(f"ForecastSignal: mean {self.mean.shape} and q {self.q.shape} disagree")
        if len(self.issue_h) != self.mean.shape[0] or (np.diff(self.issue_h) <= 0).any():
            raise ValueError("ForecastSignal.issue_h: one strictly increasing issue hour per forecast")
        covered = np.isfinite(self.mean)
        bad = (np.isinf(self.mean) | (covered & (~np.isfinite(self.q).all(axis=-1) | (self.mean < 0)
                                                 | (self.q < 0).any(axis=-1)
                                                 | (np.diff(self.q, axis=-1) < -1e-9).any(axis=-1)))
               | (~covered & ~np.isnan(self.q).all(axis=-1)))
        if bad.any():
            i, r, k = np.argwhere(bad)[0]
            raise ValueError(f"ForecastSignal {self.label!r}: issue hour {self.issue_h[i]}, region index {r}, "
                             f"horizon {k} h: mean {self.mean[i, r, k]}, quantiles {self.q[i, r, k].tolist()} — "
                             f"need a finite mean ≥ 0 with finite quantiles ≥ 0, non-decreasing (or all NaN)")
        for values in (self.issue_h, self.mean, self.q):
            values.setflags(write=False)

    @cached_property
    def fallback_offsets(self) -> np.ndarray:
        """[I × R × Q] quantile offsets q − mean (gCO2eq/kWh) at each issue's longest covered horizon per region:
        the spread :class:`PolicyView` gives its seasonal fallback; NaN where an issue has no value for a region."""
        covered = np.isfinite(self.mean)                                          # [I × R × H]
        k_last = covered.shape[2] - 1 - np.argmax(covered[..., ::-1], axis=2)     # [I × R]
        i, r = np.indices(k_last.shape)
        offsets = self.q[i, r, k_last] - self.mean[i, r, k_last][..., None]
        offsets[~covered.any(axis=2)] = np.nan
        offsets.setflags(write=False)
        return offsets

    @property
    def handoff_label(self) -> str:
        """The label of what policies are handed: this forecast plus the declared long-range fallback."""
        return f"{self.label} + {FALLBACK_LABEL}"

    @classmethod
    def from_table(cls, table: pd.DataFrame, regions: list[str], times: pd.DatetimeIndex,
                   label: str = "table") -> ForecastSignal:
        """Dense signal from a forecast table (schema ``forecast.data.schema.FORECAST_COLUMNS``) over the
        experiment hours ``times``: every issue at or before the last experiment hour whose targets reach
        into the experiment window is kept, including issues before ``times[0]`` (negative issue hours).
        Quantiles below 0 gCO2eq/kWh are set to 0 and counted in ``clipped_quantiles``."""
        missing = [c for c in ("region", "issue_time", "time", "horizon_h", "mean", *QUANTILE_COLUMNS)
                   if c not in table.columns]
        if missing:
            raise ValueError(f"forecast table: missing column(s) {missing}")
        t = table[table["region"].isin(regions)]
        issue = ((t["issue_time"] - times[0]) / pd.Timedelta(hours=1)).to_numpy()
        target = ((t["time"] - times[0]) / pd.Timedelta(hours=1)).to_numpy()
        keep = (issue < len(times)) & (target >= 0) & (target < len(times))
        t, issue, target = t[keep], issue[keep].astype(np.int64), target[keep].astype(np.int64)
        if len(t) == 0:
            raise ValueError(f"forecast table: no forecast for {times[0]} → {times[-1]} issued by then for "
                             f"{regions}")
        k = target - issue
        if (k < 0).any():
            raise ValueError(f"forecast table: row {t.index[np.argmax(k < 0)]} has time before issue_time")
        issues = np.unique(issue)
        ii = np.searchsorted(issues, issue)
        rr = pd.Index(regions).get_indexer(t["region"])
        shape = (len(issues), len(regions), int(k.max()) + 1)
        mean = np.full(shape, np.nan)
        q = np.full((*shape, len(QUANTILE_LEVELS)), np.nan)
        mean[ii, rr, k] = t["mean"].to_numpy(float)
        values = t[list(QUANTILE_COLUMNS)].to_numpy(float)
        clipped = int((values < 0).sum())
        q[ii, rr, k] = np.maximum(values, 0.0)
        return cls(issues, mean, q, label, clipped)

    def handoff(self, now: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean [R × L], q [R × L × Q]) for hours ``now`` … ``end``−1 (L = end − now): each hour from the
        latest issue at or before ``now`` that covers it (DESIGN.md hand-off rule); NaN where none does.
        Every handed-off value is a covered cell, valid by construction (class docstring)."""
        L = max(int(end) - int(now), 0)
        R, H = self.mean.shape[1:]
        mean = np.full((R, L), np.nan)
        q = np.full((R, L, len(QUANTILE_LEVELS)), np.nan)
        last = int(np.searchsorted(self.issue_h, now, side="right")) - 1
        first = int(np.searchsorted(self.issue_h, now - H, side="right"))   # older issues end before now
        missing = np.ones((R, L), dtype=bool)
        for i in range(last, first - 1, -1):   # latest first; ≤ H / issue spacing issues, each vectorised
            k0 = now - int(self.issue_h[i])
            n = min(H - k0, L)
            if n <= 0 or not missing[:, :n].any():   # an older issue covers a prefix of what a later one did
                continue
            src = self.mean[i, :, k0:k0 + n]
            new = missing[:, :n] & np.isfinite(src)
            missing[:, :n] &= ~new
            np.copyto(mean[:, :n], src, where=new)
            np.copyto(q[:, :n], self.q[i, :, k0:k0 + n], where=new[..., None])
        return mean, q


#: The declared long-range estimate for hours no forecast issue covers (see :class:`PolicyView`).
FALLBACK_LABEL = "seasonal profile (hour-of-day mean of the past week) beyond forecast coverage"
#: Days of known intensity the seasonal fallback profile averages.
PROFILE_DAYS = 7

#: Error of the seed's forecaster by horizon (accuracy 89 % at 1 h, 76 % at 24 h, seed §3.2): MAPE in %,
#: linear in between; horizon 0 takes the 1 h value.
SEED_MAPE_1H, SEED_MAPE_24H = 11.0, 24.0
#: The day-ahead range: horizons 0 … DAY_AHEAD_H − 1 h of an issue. A configured overall error (``accuracy``,
#: ``k``, ``e`` of :func:`controlled_error`) is the mean error over these horizons, whatever ``horizon_h`` is.
DAY_AHEAD_H = 24
#: Beyond 24 h the seed reports nothing; the error keeps the seed's own growth from 1 h to 24 h as a power
#: law, MAPE(k) = SEED_MAPE_24H × (k / 24)^α with α = ln(24/11) / ln 24 ≈ 0.245 (the curve through the seed's
#: two points: × 1.185 per doubling of the horizon; × 1.61 at 167 h, where the 87 % day-ahead forecaster has
#: a MAPE of about 30 %). That is no flattery of long forecasts: the project's ensemble grows × 1.13 from
#: 24 h to 48 h (RESULTS.md accuracy_by_horizon, 90.55 % → 89.31 %), and the day-repeat persistence forecast
#: on the 2022 Electricity Maps data of the 10 shipped zones × 1.08 at 48 h and × 1.11–1.15 at 72–168 h
#: (mean MAPE over zones, 350 daily issues; it saturates at the climatological error).
SEED_GROWTH_ALPHA = float(np.log(SEED_MAPE_24H / SEED_MAPE_1H) / np.log(24.0))


def seed_mape(horizon_h: int) -> np.ndarray:
    """The seed-shaped MAPE (%) of horizons k = 0 … ``horizon_h``−1: linear 11 % → 24 % over 1–24 h (horizon 0
    as 1 h), then the power-law growth :data:`SEED_GROWTH_ALPHA` (continuous at 24 h)."""
    k = np.arange(horizon_h, dtype=float)
    day = SEED_MAPE_1H + (SEED_MAPE_24H - SEED_MAPE_1H) * (np.clip(k, 1, 24) - 1) / 23.0
    return np.where(k <= 24, day, SEED_MAPE_24H * (np.maximum(k, 24) / 24.0) ** SEED_GROWTH_ALPHA)


def horizon_shape(horizon_h: int) -> np.ndarray:
    """Relative error scale g(k) for horizons k = 0 … ``horizon_h``−1: :func:`seed_mape` normalised to mean 1
    over the day-ahead horizons 0 … :data:`DAY_AHEAD_H`−1 (so a configured overall error means the day-ahead
    error for every ``horizon_h``, and longer horizons err more: g ≈ 1.42 at 24 h, 1.68 at 48 h, 2.28 at
    167 h)."""
    return seed_mape(horizon_h) / seed_mape(DAY_AHEAD_H).mean()


def _quantiles(mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian quantiles mean + z·σ, clipped at 0, non-decreasing along the last axis."""
    q = np.maximum(mean[..., None] + sigma[..., None] * _z_scores(), 0.0)
    return np.maximum.accumulate(q, axis=-1)


def _ar1(white: np.ndarray, correlation_h: float) -> np.ndarray:
    """Unit-variance AR(1) along the last (horizon) axis from white N(0, 1) noise; identity for 0."""
    if correlation_h < 0:
        raise ValueError(f"forecast.correlation_h: expected ≥ 0 hours, got {correlation_h}")
    if correlation_h == 0:
        return white
    rho = float(np.exp(-1.0 / correlation_h))
    out = white.copy()
    for h in range(1, white.shape[-1]):  # loop over ≤ 168 horizons; each step is a whole [issue × region] array
        out[..., h] = rho * out[..., h - 1] + np.sqrt(1.0 - rho * rho) * white[..., h]
    return out


def _calibrate(a: np.ndarray, step: np.ndarray, target_mape: float) -> float:
    """Scale ``s`` with MAPE(max(a + s·step, 0), a) = ``target_mape`` % (bisection; MAPE grows with s)."""
    err = lambda s: mape(a, np.maximum(a + s * step, 0.0))  # noqa: E731
    lo, hi = 0.0, 1.0
    while err(hi) < target_mape:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if err(mid) < target_mape else (lo, mid)
    return (lo + hi) / 2


def _issue_hours(T: int, issue_every_h: int, issue_hour: int) -> np.ndarray:
    """Issue hours at ``issue_hour`` modulo ``issue_every_h``, starting with the last one before hour 0
    (the previous day's run covers the first hours, as a real day-ahead forecast does)."""
    first = issue_hour % issue_every_h
    return np.arange(first - issue_every_h, T, issue_every_h, dtype=np.int64)


def controlled_error(carbon: CarbonSignal, model: str, *, k: float = 0.0, e: float = 0.0,
                     accuracy: float = 1.0, horizon_h: int = 48, issue_every_h: int = 24,
                     issue_hour: int = 0, correlation_h: float = 0.0, seed: int = 0) -> ForecastSignal:
    """Forecasts = actuals + controlled error, issued every ``issue_every_h`` hours at ``issue_hour``
    modulo it — the first issue is the one before hour 0 (negative issue hour), so hour 0 is covered like
    a real day-ahead run — horizons 0…``horizon_h``−1 (targets before hour 0 are not covered).

    The error of horizon k is scaled by g(k) (:func:`horizon_shape`: the seed's 89 % → 76 % accuracy
    from 1 h to 24 h, growing beyond as :data:`SEED_GROWTH_ALPHA` documents; mean 1 over the day-ahead
    horizons 0–23 h), and ``m_r`` is region r's mean intensity. Every overall error parameter is the
    day-ahead one; longer horizons err more (× 1.61 of the 24 h error at 167 h):

    * ``gaussian``: f = a + N(0, σ²), σ = k·m_r·g(k) (Wiesner et al., Let's Wait Awhile, 2021).
    * ``uniform``: f = a × (1 + e·g(k)·(U − ½)), U ~ U(0, 1) (Sukprasert et al., EuroSys 2024).
    * ``accuracy``: f = a + s·m_r·g(k)·N(0, 1), with ``s`` calibrated by bisection on the drawn noise so
      that the day-ahead accuracy, 100 − MAPE(f, a) over the covered cells of horizons 0–23 h, equals
      ``accuracy`` (a fraction: 0.87 → 87 %, the seed's day-ahead figure); at 167 h the MAPE is about
      2.3 × the day-ahead one. The error is additive (σ in gCO2eq/kWh does not depend on the drawn value).

    Quantiles are those of the error actually applied, around the forecast: f + z·σ for the Gaussian
    modes; f / (1 + e·g(k)·(½ − τ)) for ``uniform``. They widen with the horizon, so ranking hours by
    an upper quantile can differ from ranking by the mean. Forecasts are clipped at 0 gCO2eq/kWh.

    ``correlation_h`` > 0 makes the error of one forecast issue temporally correlated along the horizon,
    as real forecast errors are (a missed weather front shifts many hours at once): a stationary AR(1)
    with lag-1 correlation exp(−1/correlation_h) and the same marginal distribution (the uniform model
    maps it through the normal CDF, a Gaussian copula). 0 draws independent errors per hour, which
    average out over a multi-hour job window and so understate the cost of forecast error.
    """
    if model not in ("gaussian", "uniform", "accuracy", "perfect"):
        raise ValueError(f"forecast.error_model: expected gaussian|uniform|accuracy|perfect, got {model!r}")
    T = carbon.n_hours
    issues = _issue_hours(T, issue_every_h, issue_hour)
    target = issues[:, None] + np.arange(horizon_h)[None, :]                  # [I × H]
    valid = (target >= 0) & (target < T)
    a = carbon.ci[:, np.clip(target, 0, T - 1)].transpose(1, 0, 2)           # [I × R × H]
    rng = np.random.default_rng(seed)
    noise = _ar1(rng.standard_normal(a.shape), correlation_h)
    scale = carbon.ci.mean(axis=1)[None, :, None] * horizon_shape(horizon_h)[None, None, :]   # m_r·g(k)
    if model == "perfect":
        f, q = a.copy(), np.repeat(a[..., None], len(QUANTILE_LEVELS), axis=-1)
    elif model == "gaussian":
        f = np.maximum(a + noise * k * scale, 0.0)
        q = _quantiles(f, np.broadcast_to(k * scale, a.shape))
    elif model == "uniform":
        spread = e * horizon_shape(horizon_h)[None, None, :]
        if e < 0 or spread.max() >= 2.0:
            raise ValueError(f"forecast.e: expected 0 ≤ e < {2.0 / horizon_shape(horizon_h).max():.3f} "
                             f"(relative error below 100 % at every horizon), got {e}")
        from scipy.special import ndtr   # lazy: scipy.special takes ~0.2 s to import; every simulate config imports this module to parse

        f = a * (1.0 + spread * (ndtr(noise) - 0.5))
        levels = np.asarray(QUANTILE_LEVELS)
        q = f[..., None] / (1.0 + spread[..., None] * (0.5 - levels))
    else:
        if not 0 < accuracy <= 1:
            raise ValueError(f"forecast.accuracy: expected a fraction in (0, 1], got {accuracy}")
        day_ahead = valid & (np.arange(horizon_h) < DAY_AHEAD_H)[None, :]     # the calibrated cells
        ok = np.broadcast_to(day_ahead[:, None, :], a.shape)
        step = noise * scale
        s = _calibrate(a[ok], step[ok], (1.0 - accuracy) * 100.0)
        f = np.maximum(a + s * step, 0.0)
        q = _quantiles(f, np.broadcast_to(s * scale, a.shape))
    cover = valid[:, None, :]
    f = np.where(cover, f, np.nan)
    q = np.where(cover[..., None], q, np.nan)
    label = {"perfect": "perfect foresight (actual intensities)", "gaussian": f"gaussian(k={k})", "uniform": f"uniform(e={e})",
             "accuracy": f"accuracy({accuracy:.0%})"}[model]
    return ForecastSignal(issues, f, q, label)


def forecast_accuracy(forecast: ForecastSignal, carbon: CarbonSignal, max_horizon_h: int | None = None) -> float:
    """Measured accuracy = 100 − MAPE (%) of the mean forecast over all covered (issue, region, horizon)
    cells whose target hour lies in the experiment — only horizons below ``max_horizon_h`` hours if given
    (``DAY_AHEAD_H``: the day-ahead accuracy a controlled-error ``accuracy`` is calibrated to)."""
    a, ok = _scored_cells(forecast, carbon)
    if max_horizon_h is not None:
        ok = ok & (np.arange(ok.shape[2]) < max_horizon_h)[None, None, :]
    return 100.0 - mape(a[ok], forecast.mean[ok])


def _scored_cells(forecast: ForecastSignal, carbon: CarbonSignal) -> tuple[np.ndarray, np.ndarray]:
    """(actual [I × R × H] gCO2eq/kWh, mask of the covered cells whose target hour lies in the experiment)."""
    T = carbon.n_hours
    target = forecast.issue_h[:, None] + np.arange(forecast.mean.shape[2])[None, :]
    a = carbon.ci[:, np.clip(target, 0, T - 1)].transpose(1, 0, 2)
    return a, np.isfinite(forecast.mean) & ((target >= 0) & (target < T))[:, None, :]


def forecast_coverage(forecast: ForecastSignal, carbon: CarbonSignal, lo: float = 0.05, hi: float = 0.95) -> float:
    """Measured interval coverage (%): the share of the covered (issue, region, horizon) cells whose target hour
    lies in the experiment (the cells :func:`forecast_accuracy` scores) where the actual intensity lies in the
    forecast's [q``lo``, q``hi``] interval (inclusive; default the central 90 % interval q0.05–q0.95)."""
    levels = list(QUANTILE_LEVELS)
    if lo not in levels or hi not in levels or not lo < hi:
        raise ValueError(f"forecast_coverage: lo < hi must be quantile levels of {levels}, got {lo}, {hi}")
    a, ok = _scored_cells(forecast, carbon)
    if not ok.any():
        raise ValueError(f"forecast_coverage: {forecast.label!r} covers no hour of the experiment")
    inside = (forecast.q[..., levels.index(lo)] <= a) & (a <= forecast.q[..., levels.index(hi)])
    return 100.0 * float(inside[ok].mean())


def forecast_metrics(forecast: ForecastSignal, carbon: CarbonSignal) -> dict[str, float]:
    """The forecast's measured quality (%) on the experiment's hours: ``forecast_accuracy_pct`` (all horizons),
    ``forecast_mape_pct``, ``forecast_mape_day_ahead_pct`` (horizons below :data:`DAY_AHEAD_H`) and
    ``forecast_coverage90_pct`` (q0.05–q0.95)."""
    accuracy = forecast_accuracy(forecast, carbon)
    return {"forecast_accuracy_pct": accuracy, "forecast_mape_pct": 100.0 - accuracy,
            "forecast_mape_day_ahead_pct": 100.0 - forecast_accuracy(forecast, carbon, DAY_AHEAD_H),
            "forecast_coverage90_pct": forecast_coverage(forecast, carbon)}


def seasonal_profile(known: np.ndarray, first_hour: int) -> np.ndarray:
    """Hour-of-day profile [R × 24] (slot = experiment hour mod 24) of ``known`` [R × n] (column j is hour
    ``first_hour + j``; NaN = unknown): the mean of each slot's known values; NaN where a slot has none."""
    R, n = known.shape
    lead = first_hour % 24
    days = -(-(lead + n) // 24)
    ok = np.isfinite(known)
    values = np.zeros((2, R, days * 24))          # [sum, count] laid out day by day from slot 0
    values[0, :, lead:lead + n] = np.where(ok, known, 0.0)
    values[1, :, lead:lead + n] = ok
    blocks = values.reshape(2, R, days, 24)
    total = blocks[:, :, 0].copy()
    for d in range(1, days):                      # ≤ 8 days, summed in hour order
        total += blocks[:, :, d]
    with np.errstate(invalid="ignore"):
        return total[0] / total[1]


def _plan_errors(mean: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Mask [...] of planning values (mean [...], q [... × Q]) that are not finite, < 0 or whose quantiles
    decrease — what every policy's ``argmin`` relies on."""
    return (~np.isfinite(mean) | (mean < 0) | ~np.isfinite(q).all(axis=-1)
            | (np.diff(q, axis=-1) < -1e-9).any(axis=-1))


class PolicyView:
    """What a non-oracle policy may know at hour ``now``: actual intensity of hours < ``now`` and, for
    every later hour, the latest forecast issued at or before ``now`` that covers it (copied at
    construction; nothing later is reachable).

    Hours no such issue covers are priced by the declared fallback :data:`FALLBACK_LABEL`: per region, the
    hour-of-day mean of the last :data:`PROFILE_DAYS` days of known intensity (past actuals and the
    covered forecast hours), with the quantile offsets (q − mean) of the latest issue's longest covered
    horizon. ``fallback`` [R × (T − now)] marks those hours; the simulator counts them in
    ``forecast_fallback_share``. A view that cannot price an hour raises ``ValueError``; every planning
    value it hands out is finite, ≥ 0, with non-decreasing quantiles.

    Cost: the constructor hands off only the hours an issue can cover (< ``now`` + horizon) and prices the
    fallback once per (region, hour of day) — 24 slots — before laying the plan out over all hours."""

    is_oracle = False

    def __init__(self, carbon: CarbonSignal, forecast: ForecastSignal, now: int):
        self.now = int(now)
        self.n_hours = carbon.n_hours
        self.regions = list(carbon.regions)
        self.label = forecast.handoff_label
        self._past = carbon.ci[:, :self.now].copy()
        L = max(self.n_hours - self.now, 0)
        c = min(L, forecast.mean.shape[2])      # no issue at or before now covers hour now + horizon or later
        mean, q = forecast.handoff(self.now, self.now + c)   # [R × c], [R × c × Q]; valid (ForecastSignal)
        self.fallback = np.ones((len(self.regions), L), dtype=bool)
        self.fallback[:, :c] = np.isnan(mean)
        some = self.fallback.any(axis=0)
        j0 = int(np.argmax(some)) if some.any() else L            # the first hour (− now) with a fallback
        hod = (self.now + j0 + np.arange(L - j0)) % 24                  # hour-of-day slot of hours j0 … L − 1
        slot_mean = slot_q = None
        if j0 < L:
            slot_mean, slot_q = self._fill(forecast, mean, j0, hod)
        self._mean, self._q = self._plan(mean, slot_mean, j0, hod), self._plan(q, slot_q, j0, hod)
        self.fallback.setflags(write=False)     # one view serves every decision of its hour

    def _fill(self, forecast: ForecastSignal, mean: np.ndarray, j0: int,
              hod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Price the uncovered hours: (mean [R × 24], q [R × 24 × Q]) per (region, hour of day) of the seasonal
        profile (see class docstring) from ``mean``, the handed-off covered hours [R × c]; raise unless every
        hour to fill (hours ``now + j0`` … of hour-of-day slots ``hod``) gets a finite value ≥ 0 with
        non-decreasing quantiles."""
        span = PROFILE_DAYS * 24
        c = int(np.flatnonzero(~self.fallback.all(axis=0)).max(initial=-1)) + 1   # up to the last covered hour
        known = np.concatenate([self._past[:, -span:], mean[:, :c]], axis=1)[:, -span:]
        profile = seasonal_profile(known, self.now + c - known.shape[1])
        last = int(np.searchsorted(forecast.issue_h, self.now, side="right")) - 1
        if last < 0:
            raise ValueError(f"PolicyView at hour {self.now}: no forecast issued at or before it "
                             f"({forecast.label}); nothing to plan with")
        offsets = forecast.fallback_offsets[last]                                     # [R × Q]
        if np.isnan(offsets[:, 0]).any():
            r = int(np.flatnonzero(np.isnan(offsets[:, 0]))[0])
            raise ValueError(f"PolicyView at hour {self.now}: the latest forecast (issued at hour "
                             f"{forecast.issue_h[last]}) has no value for region {self.regions[r]}")
        slot_q = np.maximum.accumulate(np.maximum(profile[:, :, None] + offsets[:, None, :], 0.0), axis=-1)
        bad_slot = _plan_errors(profile, slot_q)                                      # [R × 24]; NaN included
        if bad_slot.any():                                        # find the first hour to fill it concerns
            fill = self.fallback[:, j0:]
            unknown = np.isnan(profile)[:, hod] & fill
            if unknown.any():
                r, j = np.argwhere(unknown)[0]
                raise ValueError(f"PolicyView at hour {self.now}: hour {self.now + j0 + j} in {self.regions[r]} "
                                 f"is covered by no forecast and the seasonal profile has no value for its hour "
                                 f"of day (too little known intensity)")
            bad = bad_slot[:, hod] & fill
            if bad.any():
                r, j = np.argwhere(bad)[0]
                raise ValueError(f"PolicyView at hour {self.now}: planning value for {self.regions[r]} at hour "
                                 f"{self.now + j0 + j} is invalid (mean {profile[r, hod[j]]}, quantiles "
                                 f"{slot_q[r, hod[j]].tolist()})")
        return profile, slot_q

    def _plan(self, cover: np.ndarray, slots: np.ndarray | None, j0: int, hod: np.ndarray) -> np.ndarray:
        """The [R × (T − now) (× Q)] plan: the covered hours ``cover`` [R × c (× Q)] in front, the fallback hours
        (from hour j0, of hour-of-day slots ``hod``) from the per-slot values ``slots`` [R × 24 (× Q)] — hours from c
        on are all fallback, so they repeat one day of slots (copied by doubling: a gather along the hours costs
        ten times more, and a view is built every simulated hour)."""
        out = np.empty((*self.fallback.shape, *cover.shape[2:]))
        c = cover.shape[1]
        out[:, :c] = cover
        if slots is not None:
            if j0 < c:                                          # hours inside the coverage no issue priced
                fill = self.fallback[:, j0:c]
                np.copyto(out[:, j0:c], slots[:, hod[:c - j0]], where=fill if cover.ndim == 2 else fill[..., None])
            tail = out[:, c:]
            k = min(24, tail.shape[1])
            tail[:, :k] = slots[:, hod[c - j0:c - j0 + k]]
            while k < tail.shape[1]:                            # k stays a whole number of days
                m = min(k, tail.shape[1] - k)
                tail[:, k:k + m] = tail[:, :m]
                k += m
        return out

    def actuals(self) -> np.ndarray:
        """Actual intensity [R × now] of hours 0 … now−1, gCO2eq/kWh."""
        return self._past.copy()

    def current(self) -> np.ndarray:
        """Latest observed intensity per region (hour now−1; the planning value of ``now`` at hour 0)."""
        return self._past[:, -1].copy() if self.now > 0 else self.ci_plan(self.now + 1)[:, 0]

    def ci_plan(self, end: int, stat: str | float = "mean", lam: float = 0.0) -> np.ndarray:
        """Planning intensity [R × (end − now)] for hours now … end−1, gCO2eq/kWh: the handed-off forecast's
        ``mean``, a quantile level (e.g. 0.9) or ``"spread"`` = mean + ``lam`` × (q0.95 − q0.05)/2; hours no
        forecast covers come from the declared fallback (``fallback`` marks them)."""
        L = max(min(int(end), self.n_hours) - self.now, 0)
        return self._select(stat, lam)[:, :L].copy()

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
        self.fallback = np.zeros((len(self.regions), max(self.n_hours - self.now, 0)), dtype=bool)  # all actual

    def actuals(self) -> np.ndarray:
        return self._ci[:, :self.now].copy()

    def current(self) -> np.ndarray:
        return self._ci[:, self.now].copy()

    def ci_plan(self, end: int, stat: str | float = "mean", lam: float = 0.0) -> np.ndarray:
        return self._ci[:, self.now:min(int(end), self.n_hours)].copy()
