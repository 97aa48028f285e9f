"""Per-region arrays and the vectorised "direct" design matrix shared by the tabular models.

A :class:`RegionSeries` holds one region's complete hourly target ``y`` and its known-future covariates
(``fc_*`` day-ahead forecasts from the panel, plus the carbon intensity / renewable share implied by the
day-ahead source-production forecasts, ``fcx_*``). For issue index ``i`` (the hour index of the issue time)
and horizon ``h`` the target hour is ``j = i + h``; features read ``y`` only at indices ``< i`` and
covariates at ``j`` (they are day-ahead forecasts, known at issue) — this is where the information set
is enforced for every tabular model.

Optional issue-time covariates (off by default): ``past`` panel columns observed with the target (e.g. the
generation-mix shares ``renewable_pct`` / ``low_carbon_pct``, %) read, like ``y``, only at indices ``< i``;
and a national public-holiday flag of the target hour's local date (a calendar fact, known at issue).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carbonshift.forecast.data.dacf import DIRECT_FACTORS, RENEWABLE, SOURCES

#: Lags (hours) and rolling windows (hours) of the target used as features.
ROLL_WINDOWS = (24, 168)


@dataclass
class RegionSeries:
    """One region's hourly arrays: ``y`` [T] (target; NaN unknown), ``known`` [T × K] known-future covariates,
    ``past`` [T × P] covariates observed with the target (usable only before an issue; P may be 0)."""

    region: str
    times: pd.DatetimeIndex
    y: np.ndarray
    known: np.ndarray
    known_names: list[str]
    past: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    past_names: list[str] = field(default_factory=list)

    def index_of(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Hour indices of ``times`` in this series; raises ``ValueError`` naming times outside it."""
        idx = ((pd.DatetimeIndex(times) - self.times[0]) // pd.Timedelta(hours=1)).to_numpy()
        bad = (idx < 0) | (idx >= len(self.times))
        if bad.any():
            raise ValueError(f"{self.region}: times outside the series span {self.times[0]}–{self.times[-1]}: "
                             f"{list(pd.DatetimeIndex(times)[bad][:3])}")
        return idx.astype(int)


def derived_known(panel: pd.DataFrame) -> pd.DataFrame:
    """Carbon intensity (gCO2eq/kWh, DACF direct factors) and renewable share (%) implied by the
    day-ahead source-production forecasts ``fc_<source>_mw``; NaN where a row has none."""
    src = {c[3:-3]: c for c in panel.columns if c.startswith("fc_") and c.endswith("_mw")}
    out = pd.DataFrame(index=panel.index)
    if not src:
        return out
    g = panel[list(src.values())].clip(lower=0.0)
    total = g.sum(axis=1, min_count=1)
    total = total.where(total > 0)
    ci = sum(g[src[s]].fillna(0.0) * f for s, f in DIRECT_FACTORS.items() if s in src)
    ren = sum(g[src[s]].fillna(0.0) for s in RENEWABLE if s in src)
    out["fcx_ci_direct"] = ci / total
    out["fcx_renewable_pct"] = 100.0 * ren / total
    return out


def known_columns(panel: pd.DataFrame, oracle_weather: bool = False) -> list[str]:
    """Known-future covariate columns of ``panel``: ``fc_*`` with any value (and ``obs_*`` observed
    weather only in the "oracle weather" setting)."""
    cols = [c for c in panel.columns if c.startswith("fc_") and panel[c].notna().any()]
    if oracle_weather:
        cols += [c for c in panel.columns if c.startswith("obs_") and panel[c].notna().any()]
    return cols


def region_series(panel: pd.DataFrame, target: str, oracle_weather: bool = False,
                  past: Sequence[str] = ()) -> dict[str, RegionSeries]:
    """Split ``panel`` into per-region arrays; each region must have a complete hourly index. ``past`` names
    panel columns observed with the target (not forecasts) to carry as :attr:`RegionSeries.past`."""
    if target not in panel.columns:
        raise ValueError(f"target {target!r} not in panel columns {list(panel.columns)}")
    # a generation source a region does not have (SE has no coal) is all-NaN, like in a multi-region panel
    absent = {f"mix_{c}_pct" for c in SOURCES} - set(panel.columns)
    missing = [c for c in past if c not in panel.columns and c not in absent]
    if missing:
        raise ValueError(f"past covariates {missing} not in panel columns {list(panel.columns)}")
    if target in past or any(c.startswith(("fc_", "obs_")) for c in past):
        raise ValueError(f"past covariates {list(past)} must be observed series other than the target {target!r}")
    cols = known_columns(panel, oracle_weather)
    extra = derived_known(panel)
    full = pd.concat([panel, extra], axis=1)
    names = cols + list(extra.columns)
    out: dict[str, RegionSeries] = {}
    for region, rows in full.groupby("region", sort=False):
        rows = rows.sort_values("time")
        times = pd.DatetimeIndex(rows["time"])
        if len(times) > 1 and (times[1:] - times[:-1] != pd.Timedelta(hours=1)).any():
            raise ValueError(f"{region}: panel hours are not a complete hourly index")
        out[str(region)] = RegionSeries(str(region), times, rows[target].to_numpy(dtype=float),
                                        rows[names].to_numpy(dtype=float), names,
                                        rows.reindex(columns=list(past)).to_numpy(dtype=float).reshape(len(rows), len(past)),
                                        list(past))
    return out


def _trailing_stats(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of ``y[t − window : t]`` for every t (NaN where the window is incomplete)."""
    c1 = np.concatenate([[0.0], np.cumsum(y)])
    c2 = np.concatenate([[0.0], np.cumsum(y * y)])
    t = np.arange(len(y) + 1)
    mean = np.full(len(y) + 1, np.nan)
    std = np.full(len(y) + 1, np.nan)
    ok = t >= window
    mean[ok] = (c1[t[ok]] - c1[t[ok] - window]) / window
    std[ok] = np.sqrt(np.maximum((c2[t[ok]] - c2[t[ok] - window]) / window - mean[ok] ** 2, 0.0))
    return mean[:-1], std[:-1]


#: Prophet/holidays country code of each region (DACF regions and Electricity Maps zones).
HOLIDAY_COUNTRY = {"CISO": "US", "ERCO": "US", "PJM": "US", "SE": "SE", "DE": "DE", "US-CAL-CISO": "US",
                   "US-TEX-ERCO": "US", "US-MIDA-PJM": "US", "US-NY-NYIS": "US", "GB": "UK", "JP-TK": "JP",
                   "SG": "SG", "AU-NSW": "AU", "IN-WE": "IN"}

#: Local time zone of each region (for the local calendar date of a target hour; DACF regions and
#: Electricity Maps zones).
REGION_TZ = {"CISO": "America/Los_Angeles", "ERCO": "America/Chicago", "PJM": "America/New_York",
             "SE": "Europe/Stockholm", "DE": "Europe/Berlin", "US-CAL-CISO": "America/Los_Angeles",
             "US-TEX-ERCO": "America/Chicago", "US-MIDA-PJM": "America/New_York", "US-NY-NYIS": "America/New_York",
             "GB": "Europe/London", "JP-TK": "Asia/Tokyo", "SG": "Asia/Singapore", "AU-NSW": "Australia/Sydney",
             "IN-WE": "Asia/Kolkata"}


def holiday_flags(region: str, times: pd.DatetimeIndex) -> np.ndarray:
    """1.0 where the local calendar date of UTC hour ``times`` is a national public holiday of ``region``'s
    country (``holidays`` package), else 0.0. Raises ``ValueError`` for a region with no known country/zone."""
    import holidays

    if region not in HOLIDAY_COUNTRY or region not in REGION_TZ:
        raise ValueError(f"holiday features: no country / time zone known for region {region!r} "
                         f"(known: {sorted(set(HOLIDAY_COUNTRY) & set(REGION_TZ))})")
    local = pd.DatetimeIndex(times).tz_convert(REGION_TZ[region]).tz_localize(None).normalize()
    years = range(int(local.year.min()), int(local.year.max()) + 1)
    days = pd.DatetimeIndex(list(holidays.country_holidays(HOLIDAY_COUNTRY[region], years=years)))
    return local.isin(days).astype(float)


def direct_design(series: RegionSeries, issue_idx: np.ndarray, horizons: Sequence[int] | np.ndarray, profile_days: int = 0,
                  holidays: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Design matrix for every (issue, horizon): rows ordered issue-major. Returns ``X`` [n·H × F],
    the target indices ``J`` [n × H] and feature names. Reads ``y`` only before each issue index.
    ``profile_days`` > 0 adds ``y_prof<d>``: the mean of the target hour's same hour of day over the latest
    ``profile_days`` complete days (the recent daily profile). Each ``past`` covariate ``p`` of the series adds
    ``p_last`` (the hour before issue), ``p_day`` (same hour, latest complete day), ``p_mean24`` (trailing 24 h
    mean) and ``p_ramp3`` (change over the last 3 h) — all read before the issue index. ``holidays`` adds
    ``holiday``: 1 if the target hour's local date is a national public holiday (:func:`holiday_flags`)."""
    h = np.asarray(horizons, dtype=int)
    i = np.asarray(issue_idx, dtype=int)
    if (i < 168 * 2).any():
        raise ValueError(f"{series.region}: an issue time has less than 336 h of history")
    J = i[:, None] + h[None, :]
    if (J >= len(series.y)).any():
        raise ValueError(f"{series.region}: horizon runs past the series end {series.times[-1]}")
    y = series.y
    k_day = np.ceil((h + 1) / 24).astype(int)          # latest complete same-hour day
    k_week = np.ceil((h + 1) / 168).astype(int)
    feats: dict[str, np.ndarray] = {
        "horizon_h": np.broadcast_to(h, J.shape),
        "y_last": np.broadcast_to(y[i - 1][:, None], J.shape),
        "y_day": y[J - 24 * k_day[None, :]],
        "y_week": y[J - 168 * k_week[None, :]],
    }
    if profile_days > 0:
        lags = 24 * (k_day[None, :, None] + np.arange(profile_days)[None, None, :])      # 1 × H × d
        if (i[:, None, None] + h[None, :, None] - lags < 0).any():
            raise ValueError(f"{series.region}: an issue time has less than {profile_days} days of history")
        with np.errstate(invalid="ignore"):
            feats[f"y_prof{profile_days}"] = np.nanmean(y[J[:, :, None] - lags], axis=2)
    for w in ROLL_WINDOWS:
        mean, std = _trailing_stats(np.nan_to_num(y), w)
        feats[f"y_mean{w}"] = np.broadcast_to(mean[i][:, None], J.shape)
        feats[f"y_std{w}"] = np.broadcast_to(std[i][:, None], J.shape)
    for k, name in enumerate(series.past_names):
        col = series.past[:, k]
        if np.isnan(col).all():   # a source this region does not have
            continue
        feats[f"{name}_last"] = np.broadcast_to(col[i - 1][:, None], J.shape)
        feats[f"{name}_day"] = col[J - 24 * k_day[None, :]]
        mean, _ = _trailing_stats(np.nan_to_num(col), 24)
        feats[f"{name}_mean24"] = np.broadcast_to(mean[i][:, None], J.shape)
        feats[f"{name}_ramp3"] = np.broadcast_to((col[i - 1] - col[i - 4])[:, None], J.shape)
    t = series.times[J.ravel()]
    if holidays:
        feats["holiday"] = holiday_flags(series.region, t).reshape(J.shape)
    doy = t.dayofyear.to_numpy().reshape(J.shape)
    feats["hour"] = t.hour.to_numpy().reshape(J.shape)
    feats["dow"] = t.dayofweek.to_numpy().reshape(J.shape)
    feats["doy_sin"] = np.sin(2 * np.pi * doy / 365.25)
    feats["doy_cos"] = np.cos(2 * np.pi * doy / 365.25)
    for k, name in enumerate(series.known_names):
        col = series.known[:, k]
        if np.isnan(col).all():
            continue
        feats[name] = col[J]
        feats[f"{name}_day"] = col[J - 24 * k_day[None, :]]
        if name.startswith("fcx_"):
            # how far the forecast-implied value was from the actual over the last day (known at issue)
            err = y - col
            mean, _ = _trailing_stats(np.where(np.isnan(err), 0.0, err), 24)
            feats[f"{name}_bias24"] = np.broadcast_to(mean[i][:, None], J.shape)
    names = list(feats)
    X = np.stack([np.asarray(feats[n], dtype=float).ravel() for n in names], axis=1)
    return X, J, names


#: Target-derived features that move with the series level (relative mode subtracts the trailing level).
LEVEL_FEATURES = ("y_last", "y_day", "y_week", "y_mean24")


def relative_to_level(X: np.ndarray, names: list[str], level: str = "y_mean168") -> tuple[np.ndarray, np.ndarray]:
    """``X`` with :data:`LEVEL_FEATURES` minus a baseline known at issue (the ``level`` column, target unit:
    ``y_mean168`` the trailing-week mean, or ``y_prof7`` the trailing 7-day same-hour profile), and that
    baseline per row [n·H] — what a level-relative model's target is taken against."""
    pos = {n: k for k, n in enumerate(names)}
    base = X[:, pos[level]].copy()
    X = X.copy()
    for n in LEVEL_FEATURES:
        X[:, pos[n]] -= base
    return X, base


def issue_indices(series: RegionSeries, start: pd.Timestamp | None, until: pd.Timestamp | None, issue_hour: int,
                  horizon: int, min_history: int = 336) -> np.ndarray:
    """Indices of daily issue times at ``issue_hour`` UTC whose whole horizon lies in ``[start, until)``
    with ``min_history`` hours of history and a known target at every horizon (training samples)."""
    times = series.times
    i = np.flatnonzero(times.hour == issue_hour)
    i = i[(i >= min_history) & (i + horizon < len(times))]
    ok = np.ones(len(i), dtype=bool)
    if until is not None:
        ok &= times[i + horizon] < until
    if start is not None:
        ok &= times[i] >= start
    i = i[ok]
    known = ~np.isnan(series.y[i[:, None] + np.arange(1, horizon + 1)[None, :]]).any(axis=1)
    return i[known]


def select(X: np.ndarray, names: list[str], wanted: list[str]) -> np.ndarray:
    """Columns ``wanted`` of ``X`` (NaN for features this region/window lacks)."""
    pos = {n: k for k, n in enumerate(names)}
    out = np.full((X.shape[0], len(wanted)), np.nan)
    for k, n in enumerate(wanted):
        if n in pos:
            out[:, k] = X[:, pos[n]]
    return out
