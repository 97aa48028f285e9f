"""``carbonshift data check``: detect a file's format, validate it exactly as a run reads it (the file-name
checks included: an export's name says which zone and UTC year a run takes it for), summarise it.
A folder is checked file by file (:func:`files_under`)."""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from carbonshift.forecast.data import openmeteo_forecast
from carbonshift.forecast.data.dacf import _mix, _read
from carbonshift.forecast.data.electricitymaps import read_named_export
from carbonshift.forecast.data.openmeteo import read_openmeteo
from carbonshift.forecast.data.traces import read_alibaba_pods, read_lwa
from carbonshift.forecast.data.validate import DataValidationError, RepairReport, check_values, flat_runs


@dataclass
class CheckResult:
    path: str
    kind: str
    rows: int
    start: str = ""
    end: str = ""
    notes: list[str] = field(default_factory=list)


def _head(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read(4096)
    except (OSError, EOFError) as exc:
        raise DataValidationError(str(path), f"cannot open ({type(exc).__name__}: {exc})") from exc


#: file names a run looks for, per format (anything else is never read, so a check that passed it would mislead)
_NAMES: dict[str, tuple[str, str]] = {
    "openmeteo": (r".+_\d{4}\.json(\.gz)?", "openmeteo/<ZONE>_<YEAR>.json[.gz]"),
    "dacf": (r".+_(2019_clean|direct_emissions)\.csv(\.gz)?", "dacf/<REGION>_2019_clean.csv[.gz] or "
             "dacf/<REGION>_direct_emissions.csv[.gz]"),
    "dacf_forecasts": (r".+_carbon_from_src_prod_forecasts_direct\.csv(\.gz)?",
                       "dacf/<REGION>_carbon_from_src_prod_forecasts_direct.csv[.gz]"),
}
#: documentation a data folder may hold next to the data (not checked)
_DOCS = re.compile(r"(README|LICEN[CS]E|NOTICE|CHANGELOG)(\..*)?|.*\.(md|txt)", re.IGNORECASE)


def _check_name(path: Path, kind: str) -> None:
    pattern, expected = _NAMES[kind]
    if not re.fullmatch(pattern, path.name):
        raise DataValidationError(str(path), f"file name is not {expected.split('/', 1)[1]}, so no run reads it "
                                  f"(runs look for {expected} in the data dir); rename it")


def files_under(path: str | Path) -> Iterator[Path]:
    """``path`` itself for a file; for a folder every file below it (sorted, hidden files and documentation such
    as README.md skipped), so a whole data dir or one of its folders can be checked."""
    path = Path(path).expanduser()
    if not path.is_dir():
        yield path
        return
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path).parts
        if f.is_file() and not any(part.startswith(".") for part in rel) and not _DOCS.fullmatch(f.name):
            yield f


def _span(times: pd.Series) -> tuple[str, str]:
    return (str(times.min()), str(times.max())) if len(times) else ("", "")


def check_file(path: str | Path, repair: bool = False) -> CheckResult:
    """Validate one file of any supported format; raises :class:`DataValidationError` on the first problem.
    With ``repair`` the repairable problems (duplicate hours, gaps ≤ 3 h in Electricity Maps exports) are fixed
    in memory and listed in ``notes``; the file itself is never modified."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(str(path), "no such file or folder")
    head = _head(path)
    if not head.strip():
        raise DataValidationError(str(path), "empty file")
    first = head.splitlines()[0]
    if head.lstrip().startswith("{"):
        _check_name(path, "openmeteo")
        region = path.name.split("_")[0]
        frame = read_openmeteo(path, region)
        return CheckResult(str(path), "openmeteo", len(frame), *_span(frame["time"]),
                           notes=["local fixed-offset clock converted to UTC"])
    if first.startswith("time,known_by,endpoint"):
        frame = openmeteo_forecast.read(path)
        counts = frame["endpoint"].value_counts().to_dict()
        return CheckResult(str(path), "openmeteo_forecast", len(frame), *_span(frame["time"]),
                           notes=[f"rows per endpoint {counts}; known_by = when Open-Meteo served each value"])
    if "Datetime (UTC)" in first or "Zone Id" in first:
        report = RepairReport()
        frame = read_named_export(path, repair=repair, report=report)
        values = [c for c in ("ci_direct", "ci_lca", "low_carbon_pct", "renewable_pct") if c in frame.columns]
        return CheckResult(str(path), "electricitymaps", len(frame), *_span(frame["time"]),
                           notes=[*report.lines(), *flat_runs(frame, "time", values)])
    if first.startswith("name,") and "num_gpu" in first:
        frame = read_alibaba_pods(path)
        return CheckResult(str(path), "alibaba_pods", len(frame), str(frame["creation_time"].min()),
                           str(frame["deletion_time"].max()), notes=["times are seconds since trace start"])
    if first.startswith("sn,") and ",gpu," in first:
        frame = pd.read_csv(path)
        if (frame["gpu"] < 0).any() or frame["sn"].duplicated().any():
            raise DataValidationError(str(path), "negative GPU count or duplicate node id")
        return CheckResult(str(path), "alibaba_nodes", len(frame), notes=[f"{int(frame['gpu'].sum())} GPUs"])
    if ("UTC time" in first or ",datetime," in first) and "carbon_intensity" in first:
        frame = _read(path)
        _check_name(path, "dacf_forecasts" if "carbon_from_src_forecasts" in frame.columns else "dacf")
        if "carbon_from_src_forecasts" in frame.columns:
            check_values(frame, str(path), "time", ["carbon_intensity", "carbon_from_src_forecasts"], [])
            kind = "dacf_forecasts"
        else:
            check_values(frame, str(path), "time", ["carbon_intensity"], [])
            _mix(frame, str(path))
            kind = "dacf"
        return CheckResult(str(path), kind, len(frame), *_span(frame["time"]),
                           notes=flat_runs(frame, "time", ["carbon_intensity"]))
    if first.startswith("Time,Carbon Intensity") or first.startswith(",Biomass"):
        frame, empty = read_lwa(path)
        notes = [f"{empty} empty cell(s) in the upstream file (kept as NaN)"] if empty else []
        return CheckResult(str(path), "letswaitawhile", len(frame), *_span(frame["time"]), notes=notes)
    raise DataValidationError(str(path), f"unrecognised format (header: {first[:120]!r}); expected an Electricity Maps "
                              "export, Open-Meteo JSON or forecast store, DACF CSV, Alibaba GPU trace or "
                              "Let's-Wait-Awhile CSV")


def summary_row(result: CheckResult) -> dict:
    return {"file": result.path, "kind": result.kind, "rows": result.rows, "start": result.start, "end": result.end,
            "notes": "; ".join(result.notes)}



