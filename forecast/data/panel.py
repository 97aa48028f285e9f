"""Build the canonical hourly panel (schema in :mod:`forecast.data.schema`) from the shipped sources.

``load_panel`` (Electricity Maps zones, years, optional Open-Meteo observed weather) and
``load_dacf_panel`` (DACF regions 2019–2021 with GFS/source-production forecast covariates) take any zone,
year or region whose files are found with the bundle's layout (a user's ``--data-dir`` first) and both return
one long frame sorted by (region, time), validated: every region has a complete hourly index and
no missing targets.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.dacf import REGIONS as DACF_REGIONS
from carbonshift.forecast.data.dacf import read_dacf, read_dacf_forecasts
from carbonshift.forecast.data.electricitymaps import FILE_PREFIX, VALUE_COLUMNS, file_stem, read_named_export
from carbonshift.forecast.data import openmeteo_forecast
from carbonshift.forecast.data.openmeteo import read_openmeteo
from carbonshift.forecast.data.registry import find
from carbonshift.forecast.data.validate import RepairReport, check_hourly_index

#: The 10 Electricity Maps zones shipped in the bundle (defaults only: any zone found in the data dir is usable).
EM_ZONES: tuple[str, ...] = ("US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "US-NY-NYIS", "DE", "GB", "JP-TK",
                             "SG", "AU-NSW", "IN-WE")
EM_YEARS: tuple[int, ...] = (2021, 2022, 2023)
_CSV = (".csv.gz", ".csv")
_JSON = (".json.gz", ".json")


def _check_exclude(exclude: Iterable[str]) -> tuple[str, ...]:
    exclude = tuple(exclude)
    bad = [c for c in exclude if c not in VALUE_COLUMNS]
    if bad or set(VALUE_COLUMNS) <= set(exclude):
        raise ValueError(f"exclude {list(exclude)}: expected some (not all) of the value columns {list(VALUE_COLUMNS)}")
    return exclude


def em_path(zone: str, year: int, data_dir: str | Path | None = None) -> Path:
    """``electricitymaps/<ZONE>_<YEAR>_hourly.csv[.gz]`` for any zone and year, user data dir first."""
    return find("electricitymaps", file_stem(zone, year), _CSV, data_dir)


def weather_path(zone: str, year: int, data_dir: str | Path | None = None) -> Path:
    """``openmeteo/<ZONE>_<YEAR>.json[.gz]`` (observed weather) for any zone and year, user data dir first."""
    return find("openmeteo", f"{FILE_PREFIX.get(zone, zone)}_{year}", _JSON, data_dir)


def _read_zone_year(zone: str, year: int, data_dir: str | Path | None, repair: bool, report: RepairReport | None,
                    exclude: tuple[str, ...]) -> pd.DataFrame:
    """One export, checked to be the zone and the UTC year its file name says."""
    return read_named_export(em_path(zone, year, data_dir), repair, report, exclude)


def load_panel(zones: Iterable[str] = EM_ZONES, years: Iterable[int] = EM_YEARS, weather: bool = True,
               data_dir: str | Path | None = None, repair: bool = False,
               report: RepairReport | None = None, exclude: Iterable[str] = (),
               weather_forecast_lead_h: int | None = None) -> pd.DataFrame:
    """Electricity Maps panel for ``zones`` × ``years`` (UTC), with observed weather (``obs_*``) joined
    on UTC hour when ``weather``; weather hours outside the CI span are dropped, CI hours without weather
    (the ≤ 14 h the fixed-offset shift moves across a year boundary) stay NaN.

    Any zone id and year works when its export is found (:func:`em_path`; the user's data dir first) and
    validates; ``exclude`` drops value columns the run does not need (e.g. an upstream column holding MW).
    ``weather_forecast_lead_h`` joins Open-Meteo weather *forecasts* (``fc_*``) from the zone's
    ``openmeteo_forecast/<ZONE>.csv[.gz]`` store, each hour's value published at least that many hours before
    it (:func:`forecast.data.openmeteo_forecast.align`)."""
    zones, years, exclude = list(zones), sorted(set(years)), _check_exclude(exclude)
    if not zones or not years:
        raise ValueError(f"load_panel needs at least one zone and one year, got zones={zones} years={years}")
    frames = []
    for zone in zones:
        ci = pd.concat([_read_zone_year(zone, y, data_dir, repair, report, exclude) for y in years],
                       ignore_index=True)
        check_hourly_index(ci["time"], f"{zone} {years[0]}–{years[-1]}")
        if weather:
            wx = pd.concat([read_openmeteo(weather_path(zone, y, data_dir), zone) for y in years],
                           ignore_index=True).drop(columns="region")
            ci = ci.merge(wx, on="time", how="left")
        if weather_forecast_lead_h is not None:
            store = openmeteo_forecast.read(find("openmeteo_forecast", zone, _CSV, data_dir))
            fc = openmeteo_forecast.align(store, ci["time"], weather_forecast_lead_h)
            ci = pd.concat([ci, fc], axis=1)
        frames.append(ci)
    return pd.concat(frames, ignore_index=True)


def load_dacf_panel(regions: Iterable[str] = DACF_REGIONS, data_dir: str | Path | None = None,
                    exclude: Iterable[str] = ()) -> pd.DataFrame:
    """DACF panel for ``regions`` (any region whose ``dacf/<REGION>_2019_clean.csv[.gz]`` is found, user data
    dir first; the bundle's span is 2019-01-01 → 2021-12-31 UTC); columns that differ per region are NaN-filled;
    ``exclude`` drops value columns (and skips validating their upstream columns)."""
    exclude = _check_exclude(exclude)
    return pd.concat([read_dacf(r, dacf_path(r, "2019_clean", data_dir).parent, exclude) for r in regions],
                     ignore_index=True)


def dacf_path(region: str, kind: str, data_dir: str | Path | None = None) -> Path:
    """``dacf/<REGION>_<kind>.csv[.gz]`` (kind: ``2019_clean``, ``direct_emissions``,
    ``carbon_from_src_prod_forecasts_direct``), user data dir first."""
    return find("dacf", f"{region}_{kind}", _CSV, data_dir)


def load_dacf_forecasts(regions: Iterable[str], data_dir: str | Path | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """DACF's published day-ahead direct-CI forecasts of ``regions`` as one table
    (:func:`forecast.data.dacf.read_dacf_forecasts`, user data dir first) and ``[]``; ``None`` and the regions
    without published forecasts when any has none (e.g. a user's own DACF-format region)."""
    regions = list(regions)
    paths = {}
    for r in regions:
        try:
            paths[r] = dacf_path(r, "carbon_from_src_prod_forecasts_direct", data_dir)
        except FileNotFoundError:
            continue
    missing = [r for r in regions if r not in paths]
    if missing:
        return None, missing
    return pd.concat([read_dacf_forecasts(r, p.parent) for r, p in paths.items()], ignore_index=True), []


def to_matrix(panel: pd.DataFrame, column: str, regions: list[str] | None = None) -> tuple[np.ndarray, pd.DatetimeIndex, list[str]]:
    """Dense ``[region × hour]`` array of ``column`` over the common hourly span of ``regions``."""
    regions = regions or list(dict.fromkeys(panel["region"]))
    wide = panel.pivot(index="time", columns="region", values=column)[regions].dropna()
    return wide.to_numpy().T.copy(), pd.DatetimeIndex(wide.index), regions
