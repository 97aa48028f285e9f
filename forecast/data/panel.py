"""Build the canonical hourly panel (schema in :mod:`forecast.data.schema`) from the shipped sources.

``load_panel`` (Electricity Maps zones, years, optional Open-Meteo observed weather) and
``load_dacf_panel`` (DACF regions 2019–2021 with GFS/source-production forecast covariates) both return
one long frame sorted by (region, time), validated: every region has a complete hourly index and
no missing targets.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.dacf import REGIONS as DACF_REGIONS
from forecast.data.dacf import read_dacf
from forecast.data.electricitymaps import read_electricitymaps
from forecast.data.openmeteo import read_openmeteo
from forecast.data.registry import resolve
from forecast.data.validate import RepairReport, check_hourly_index

#: The 10 Electricity Maps zones shipped in the bundle.
EM_ZONES: tuple[str, ...] = ("US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "US-NY-NYIS", "DE", "GB", "JP-TK",
                             "SG", "AU-NSW", "IN-WE")
EM_YEARS: tuple[int, ...] = (2021, 2022, 2023)
_FILE_PREFIX = {"DE": "DE-LU"}  # zone id -> file prefix where they differ


def em_file(zone: str, year: int) -> str:
    return f"electricitymaps/{_FILE_PREFIX.get(zone, zone)}_{year}_hourly.csv.gz"


def weather_file(zone: str, year: int) -> str:
    return f"openmeteo/{_FILE_PREFIX.get(zone, zone)}_{year}.json.gz"


def load_panel(zones: Iterable[str] = EM_ZONES, years: Iterable[int] = EM_YEARS, weather: bool = True,
               data_dir: str | Path | None = None, repair: bool = False,
               report: RepairReport | None = None) -> pd.DataFrame:
    """Electricity Maps panel for ``zones`` × ``years`` (UTC), with observed weather (``obs_*``) joined
    on UTC hour when ``weather``; weather hours outside the CI span are dropped, CI hours without weather
    (the ≤ 14 h the fixed-offset shift moves across a year boundary) stay NaN."""
    zones, years = list(zones), sorted(set(years))
    unknown = [z for z in zones if z not in EM_ZONES]
    if unknown:
        raise ValueError(f"unknown zone(s) {unknown}; shipped zones: {EM_ZONES}")
    frames = []
    for zone in zones:
        ci = pd.concat([read_electricitymaps(resolve(em_file(zone, y), data_dir), repair, report) for y in years],
                       ignore_index=True)
        check_hourly_index(ci["time"], f"{zone} {years[0]}–{years[-1]}")
        if weather:
            wx = pd.concat([read_openmeteo(resolve(weather_file(zone, y), data_dir), zone) for y in years],
                           ignore_index=True).drop(columns="region")
            ci = ci.merge(wx, on="time", how="left")
        frames.append(ci)
    return pd.concat(frames, ignore_index=True)


def load_dacf_panel(regions: Iterable[str] = DACF_REGIONS, data_dir: str | Path | None = None) -> pd.DataFrame:
    """DACF panel (2019-01-01 → 2021-12-31 UTC) for ``regions``; columns differ per region are NaN-filled."""
    folder = resolve("dacf/CISO_2019_clean.csv.gz", data_dir).parent
    return pd.concat([read_dacf(r, folder) for r in regions], ignore_index=True)


def to_matrix(panel: pd.DataFrame, column: str, regions: list[str] | None = None) -> tuple[np.ndarray, pd.DatetimeIndex, list[str]]:
    """Dense ``[region × hour]`` array of ``column`` over the common hourly span of ``regions``."""
    regions = regions or list(dict.fromkeys(panel["region"]))
    wide = panel.pivot(index="time", columns="region", values=column)[regions].dropna()
    return wide.to_numpy().T.copy(), pd.DatetimeIndex(wide.index), regions
