"""Readers for the DACF / CarbonCast CSVs (carbonfirst/DACF): generation by source, direct and
life-cycle carbon intensity, GFS weather-forecast features, day-ahead source-production forecasts,
and DACF's own published day-ahead CI forecasts.

All files have an unnamed leading index column. Times are UTC (``UTC time`` or, for SE, ``datetime``).

Targets: ``ci_direct`` is the upstream direct series (``*_direct_emissions``, 2020–2021) where it exists;
elsewhere (2019, and DE which has no upstream direct file) it is recomputed from the generation mix with
DACF's direct factors (coal 760, natural gas 370, oil 406, other/unknown 575, everything else
0 gCO2eq/kWh). The recomputation reproduces the upstream series to ±0.05 except 2 CISO hours where the
two upstream files carry different generation numbers. ``ci_lca`` is the upstream
``carbon_intensity`` of ``*_2019_clean``. Renewable % = (solar + wind + hydro + biomass + geothermal) /
total generation; low-carbon % adds nuclear. ``mix_<source>_pct`` is each source's share of total generation
(%, observed in the same hour as the target — a history feature, never a known-future input).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.paths import inside
from carbonshift.forecast.data.registry import DataDirError
from carbonshift.forecast.data.schema import FORECAST_WEATHER
from carbonshift.forecast.data.validate import (DataValidationError, check_hourly_index, check_values, parse_utc,
                                    require_columns, require_rows)

#: Regions shipped in the bundle (defaults only: any region whose files are in the data dir is usable).
REGIONS: tuple[str, ...] = ("CISO", "ERCO", "PJM", "SE", "DE")
DIRECT_FACTORS = {"coal": 760.0, "nat_gas": 370.0, "oil": 406.0, "other": 575.0, "unknown": 575.0}
RENEWABLE = ("solar", "wind", "hydro", "biomass", "geothermal")
SOURCES = ("coal", "nat_gas", "nuclear", "oil", "hydro", "solar", "wind", "other", "unknown", "biomass", "geothermal")
_WEATHER = {f"forecast_avg_{k}_wMean": v for k, v in zip(
    ("wind_speed", "temperature", "dewpoint", "dswrf", "precipitation"), FORECAST_WEATHER)}


def _in_folder(folder: Path, stem: str) -> Path | None:
    """``folder/<stem>.csv.gz`` or ``folder/<stem>.csv`` (the bundle gzips, a user's copy may not), else None;
    both at once is a :class:`~forecast.data.registry.DataDirError` (which one is meant is ambiguous)."""
    hits = [inside(folder, f"{stem}{s}") for s in (".csv.gz", ".csv") if inside(folder, f"{stem}{s}").is_file()]
    if len(hits) > 1:
        raise DataDirError(f"{folder}: both {' and '.join(h.name for h in hits)} — which one is meant is ambiguous; "
                           "remove or rename all but one")
    return hits[0] if hits else None


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, index_col=0)
    except (pd.errors.EmptyDataError, EOFError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataValidationError(str(path), f"cannot read as a DACF CSV ({type(exc).__name__}: {exc})") from exc
    require_rows(frame, str(path), minimum=24)
    tcol = "UTC time" if "UTC time" in frame.columns else "datetime"
    require_columns(frame, [tcol, "carbon_intensity"], str(path))
    frame.insert(0, "time", parse_utc(frame.pop(tcol), str(path), tcol))
    check_hourly_index(frame["time"], str(path))
    return frame.reset_index(drop=True)


def _mix(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    gen = [c for c in SOURCES if c in frame.columns]
    if not gen:
        raise DataValidationError(source, f"no generation-by-source columns (expected some of {list(SOURCES)})")
    g = frame[gen].to_numpy(dtype=float)
    if np.isnan(g).any():
        bad = np.isnan(g).any(axis=1)
        raise DataValidationError(source, "missing generation value (NaN)",
                                  [f"row {i + 2} ({frame['time'].iloc[i]})" for i in np.flatnonzero(bad)])
    g = np.clip(g, 0.0, None)  # tiny negative metered values (station load) count as zero generation
    total = g.sum(axis=1)
    if (total <= 0).any():
        bad = np.flatnonzero(total <= 0)
        raise DataValidationError(source, "total generation is zero", [f"row {i + 2} ({frame['time'].iloc[i]})" for i in bad])
    share = g / total[:, None]
    col = {c: i for i, c in enumerate(gen)}
    direct = sum(share[:, col[c]] * f for c, f in DIRECT_FACTORS.items() if c in col)
    ren = sum(share[:, col[c]] for c in RENEWABLE if c in col)
    low = ren + (share[:, col["nuclear"]] if "nuclear" in col else 0.0)
    mix = {f"mix_{c}_pct": 100 * share[:, col[c]] for c in gen}
    return pd.DataFrame({"ci_direct": direct, "renewable_pct": 100 * ren, "low_carbon_pct": 100 * low, **mix})


def read_dacf(region: str, data_dir: Path, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Panel rows for one DACF region, 2019-01-01 → 2021-12-31 UTC, with ``fc_*`` covariates where
    the source has them (GFS weather and source-production forecasts; NaN where absent, and on the
    upstream's zero-filled last day). ``exclude`` drops panel value columns the run does not need; their upstream
    columns are then not validated (e.g. ``ci_lca`` when a file's ``carbon_intensity`` holds MW)."""
    clean_path = _in_folder(data_dir, f"{region}_2019_clean")
    if clean_path is None:
        raise FileNotFoundError(f"DACF region {region!r}: no {region}_2019_clean.csv[.gz] in {data_dir} "
                                f"(bundled regions: {REGIONS}; any region in the DACF format works)")
    clean = _read(clean_path)
    out = _mix(clean, str(clean_path))
    out.insert(0, "time", clean["time"])
    out.insert(0, "region", region)
    if "ci_lca" not in exclude:
        check_values(clean, str(clean_path), "time", ["carbon_intensity"], [])
    out["ci_lca"] = clean["carbon_intensity"].astype(float)
    out["estimated"] = False
    covs = clean[[c for c in _WEATHER if c in clean.columns]].rename(columns=_WEATHER)
    direct_path = _in_folder(data_dir, f"{region}_direct_emissions")
    if direct_path is not None:
        direct = _read(direct_path)
        if "ci_direct" not in exclude:
            check_values(direct, str(direct_path), "time", ["carbon_intensity"], [])
        upstream = direct.set_index("time")["carbon_intensity"].astype(float).reindex(out["time"]).to_numpy()
        out["ci_direct"] = np.where(np.isnan(upstream), out["ci_direct"], upstream)
        fc = {c: f"fc_{c[len('avg_'):-len('_production_forecast')]}_mw" for c in direct.columns
              if c.startswith("avg_") and c.endswith("_production_forecast")}
        feats = direct[["time", *_WEATHER, *fc]].rename(columns={**_WEATHER, **fc})
        feats = feats.set_index("time")
        # upstream sets every forecast column to 0 on the last day (no data): mask it as missing
        zero_day = (feats == 0).all(axis=1)
        feats[zero_day] = np.nan
        covs = feats.reindex(out["time"]).reset_index(drop=True)
    out = pd.concat([out, covs.reset_index(drop=True)], axis=1)
    out = out.drop(columns=list(exclude))
    check_values(out, str(clean_path), "time", [c for c in ("ci_direct", "ci_lca") if c not in exclude],
                 [c for c in ("renewable_pct", "low_carbon_pct") if c not in exclude])
    cols = [c for c in ("region", "time", "ci_direct", "ci_lca", "renewable_pct", "low_carbon_pct", "estimated")
            if c not in exclude]
    return out[cols + [c for c in out.columns if c not in cols]]


def read_dacf_forecasts(region: str, data_dir: Path) -> pd.DataFrame:
    """DACF's published day-ahead direct-CI forecasts (2021-07-01 → 2021-12-31) as a point forecast table:
    ``region, issue_time, time, horizon_h, mean, actual``. Each day's 24 values are taken as issued at
    00:00 UTC of that day (horizon 1–24 h); the upstream does not record the exact issue hour."""
    path = _in_folder(data_dir, f"{region}_carbon_from_src_prod_forecasts_direct")
    if path is None:
        raise FileNotFoundError(f"DACF region {region!r}: no published forecasts "
                                f"{region}_carbon_from_src_prod_forecasts_direct.csv[.gz] in {data_dir}")
    frame = _read(path)
    require_columns(frame, ["carbon_from_src_forecasts"], str(path))
    check_values(frame, str(path), "time", ["carbon_intensity", "carbon_from_src_forecasts"], [])
    issue = frame["time"].dt.floor("D")
    return pd.DataFrame({
        "region": region, "issue_time": issue, "time": frame["time"],
        "horizon_h": ((frame["time"] - issue) / pd.Timedelta(hours=1)).astype(int) + 1,
        "mean": frame["carbon_from_src_forecasts"].astype(float), "actual": frame["carbon_intensity"].astype(float),
    })
