"""Reader for Electricity Maps hourly CSV exports (data-portal format, any zone and year).

Column names vary slightly between export vintages ("Carbon Intensity" / "Carbon intensity",
"CO₂" / "CO2", "Renewable Percentage" / "Renewable energy percentage (RE%)"); they are matched
case-insensitively after normalising the subscript. Times are ``Datetime (UTC)``, hour starts.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.validate import (DataValidationError, RepairReport, check_hourly_index, check_ordered,
                                    check_values, parse_utc, repair_gaps, require_columns, require_rows)

# canonical name -> accepted normalised header spellings
_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("datetime (utc)",),
    "region": ("zone id",),
    "ci_direct": ("carbon intensity gco2eq/kwh (direct)",),
    "ci_lca": ("carbon intensity gco2eq/kwh (lca)",),
    "low_carbon_pct": ("low carbon percentage", "carbon-free energy percentage (cfe%)"),
    "renewable_pct": ("renewable percentage", "renewable energy percentage (re%)"),
    "estimated": ("data estimated", "data estimated?"),
}


def _normalise(header: str) -> str:
    return re.sub(r"\s+", " ", header.replace("₂", "2").strip().lower())


#: zone id -> file-name prefix where they differ (the bundle's ``DE-LU_<YEAR>_hourly`` holds zone ``DE``)
FILE_PREFIX: dict[str, str] = {"DE": "DE-LU"}
_NAME = re.compile(r"^(?P<prefix>.+)_(?P<year>\d{4})_hourly\.csv(\.gz)?$")


def file_stem(zone: str, year: int) -> str:
    """``<ZONE>_<YEAR>_hourly``: the name (before ``.csv[.gz]``) the loader looks for."""
    return f"{FILE_PREFIX.get(zone, zone)}_{year}_hourly"


def zone_year_from_name(path: str | Path) -> tuple[str, int]:
    """(zone, UTC year) an export's file name promises; a name the loader never looks for is an error."""
    path = Path(path)
    m = _NAME.match(path.name)
    if m is None:
        raise DataValidationError(str(path), "file name is not <ZONE>_<YEAR>_hourly.csv[.gz], so no run reads it "
                                  "(runs look for electricitymaps/<ZONE>_<YEAR>_hourly.csv[.gz] in the data dir); "
                                  "rename it")
    prefix = m["prefix"]
    zone = next((z for z, p in FILE_PREFIX.items() if p == prefix), prefix)
    return zone, int(m["year"])


def check_zone_year(frame: pd.DataFrame, path: str | Path, zone: str, year: int) -> None:
    """The export holds the zone and only the UTC year its file name says (:func:`zone_year_from_name`)."""
    found = frame["region"].iloc[0]
    if found != zone:
        raise DataValidationError(str(path), f"'Zone Id' is {found!r} but the file name says zone {zone!r}; rename "
                                  f"the file to {file_stem(found, year)}.csv or fix the export")
    wrong_year = (frame["time"].dt.year != year).to_numpy()
    if wrong_year.any():
        raise DataValidationError(str(path), f"hour outside UTC year {year} named in the file name",
                                  [f"row {i + 2} ({frame['time'].iloc[i]})" for i in np.flatnonzero(wrong_year)])


def read_named_export(path: str | Path, repair: bool = False, report: RepairReport | None = None,
                      exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`read_electricitymaps` plus the file-name checks: exactly what a run does with the file."""
    zone, year = zone_year_from_name(path)
    frame = read_electricitymaps(path, repair, report, exclude)
    check_zone_year(frame, path, zone, year)
    return frame


#: (low, high, why) column pairs that must be ordered in every row (:func:`~.validate.check_ordered`)
ORDERED: list[tuple[str, str, str]] = [
    ("ci_direct", "ci_lca", "life-cycle intensity includes the direct emissions, so it cannot be lower"),
    ("renewable_pct", "low_carbon_pct", "renewables are low-carbon, so the low-carbon share cannot be lower")]
#: Value columns a run may exclude (e.g. a column an upstream export fills with the wrong quantity).
VALUE_COLUMNS: tuple[str, ...] = ("ci_direct", "ci_lca", "low_carbon_pct", "renewable_pct")


def read_electricitymaps(path: str | Path, repair: bool = False, report: RepairReport | None = None,
                         exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read one export into panel rows (see :mod:`forecast.data.schema`).

    Raises :class:`DataValidationError` naming the file and row on malformed input. With ``repair=True``
    duplicate hours are dropped and gaps ≤ 3 h interpolated, each reported in ``report``. ``exclude`` names
    value columns (of :data:`VALUE_COLUMNS`) that are neither required, validated nor returned.
    """
    bad = [c for c in exclude if c not in VALUE_COLUMNS]
    if bad or set(VALUE_COLUMNS) <= set(exclude):
        raise ValueError(f"exclude {list(exclude)}: expected some (not all) of the value columns {list(VALUE_COLUMNS)}")
    source = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError, pd.errors.ParserError) as exc:
        raise DataValidationError(source, f"cannot read as an Electricity Maps CSV ({type(exc).__name__}: {exc})") from exc
    lookup = {_normalise(c): c for c in raw.columns}
    rename = {}
    for canon, spellings in _ALIASES.items():
        found = next((lookup[s] for s in spellings if s in lookup), None)
        if found is not None:
            rename[found] = canon
    frame = raw.rename(columns=rename)
    wanted = [c for c in _ALIASES if c not in exclude]
    require_columns(frame, wanted, source)
    require_rows(frame, source, minimum=24)
    frame = frame[wanted].copy()
    frame["time"] = parse_utc(frame["time"], source, "Datetime (UTC)")
    zones = frame["region"].dropna().unique()
    if len(zones) != 1:
        raise DataValidationError(source, f"expected one zone per file, found {list(zones)[:5]}")
    num = [c for c in VALUE_COLUMNS if c not in exclude]
    check_values(frame, source, "time", ci_cols=[c for c in num if c.startswith("ci_")],
                 pct_cols=[c for c in num if c.endswith("_pct")])
    check_ordered(frame, source, "time", [pair for pair in ORDERED if {pair[0], pair[1]} <= set(num)])
    frame[num] = frame[num].astype(float)
    est = frame["estimated"].astype("string").str.lower()
    bad_flag = ~est.isin(["true", "false"])
    if bad_flag.any():
        raise DataValidationError(source, "'Data Estimated' must be true/false",
                                  [f"row {i + 2}" for i in np.flatnonzero(bad_flag.to_numpy())])
    frame["estimated"] = (est == "true").to_numpy()
    if repair:
        frame = repair_gaps(frame, source, num, report if report is not None else RepairReport())
    check_hourly_index(frame["time"], source)
    out = ["region", "time", "ci_direct", "ci_lca", "renewable_pct", "low_carbon_pct", "estimated"]
    return frame[[c for c in out if c not in exclude]]
