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

from carbonshift.forecast.data.validate import (DataValidationError, RepairReport, check_hourly_index, check_values,
                                    parse_utc, repair_gaps, require_columns, require_rows)

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
