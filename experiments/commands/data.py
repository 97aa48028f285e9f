"""``carbonshift data list | check | fetch``."""
from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

import pandas as pd

from carbonshift.experiments.output import emit
from carbonshift.forecast.data import openmeteo_forecast as om
from carbonshift.forecast.data.check import check_file, files_under, summary_row
from carbonshift.forecast.data.fetch import fetch
from carbonshift.forecast.data.registry import (DataDirError, cache_dir, candidate_dirs, datasets, explicit_dir,
                                                user_files)
from carbonshift.forecast.data.validate import DataValidationError
from carbonshift.forecast.live.transport import SourceError

#: one row of ``data list``: file, upstream, resolved (folder or "missing"), rows, start, end (UTC text)
ListRow = dict[str, str | int | None]


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="list, check and fetch datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("list", help="registered datasets, where each resolves, rows and span")
    p.add_argument("--data-dir", help="data folder searched first (else $CARBONSHIFT_DATA_DIR, ../shared/data, cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = dsub.add_parser("check", help="validate files exactly as a run reads them (names included); exit 0 only "
                                      "when all are valid")
    p.add_argument("paths", nargs="*", help="files or folders (every file below a folder); none: the data dir")
    p.add_argument("--data-dir", help="check this whole data folder (else $CARBONSHIFT_DATA_DIR when no path is given)")
    p.add_argument("--repair", action="store_true", help="repair duplicate hours / gaps ≤ 3 h in memory and report them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_check)
    p = dsub.add_parser("fetch", help="download missing files from the pinned upstream commits (sha256-verified)")
    p.add_argument("--dest", help="destination folder (default: the user cache)")
    p.add_argument("--folder", action="append", help="only this dataset folder (repeatable), e.g. dacf")
    p.add_argument("--force", action="store_true", help="download even when a copy resolves")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    w = p.add_argument_group("weather forecasts (Open-Meteo fc_* covariates for any zone, stored with provenance)")
    w.add_argument("--weather-forecast", action="append", metavar="ZONE=LAT,LON",
                   help="fetch Open-Meteo forecasts for ZONE at LAT,LON into <dest>/openmeteo_forecast/ZONE.csv.gz "
                        "instead of the bundle (repeatable)")
    w.add_argument("--endpoint", choices=["previous-runs", "historical-forecast", "forecast"], default="previous-runs",
                   help="previous-runs (forecasts as served 1–2 days before each hour; for backtests, default), "
                        "historical-forecast (first hours of each run) or forecast (live, next days)")
    w.add_argument("--start", help="first UTC date (archive endpoints)")
    w.add_argument("--end", help="last UTC date (archive endpoints)")
    p.set_defaults(handler=_fetch)


def _list(args: argparse.Namespace) -> int:
    rows: list[ListRow] = []
    dirs = candidate_dirs(args.data_dir)
    for ds in datasets():
        where = next((d for d in dirs if (d / ds.file).is_file()), None)
        row: ListRow = {"file": ds.file, "upstream": f"{ds.repo}@{ds.commit[:7]}",
                        "resolved": str(where) if where else "missing", "rows": None, "start": "", "end": ""}
        if where is not None:
            result = check_file(where / ds.file) if ds.file.endswith(".json.gz") else None
            if result is None:
                with gzip.open(where / ds.file, "rt", encoding="utf-8") as fh:
                    frame = pd.read_csv(fh, usecols=[0, 1])
                row["rows"] = len(frame)
                col = frame.columns[1] if frame.columns[0].startswith("Unnamed") else frame.columns[0]
                if "time" in col.lower():
                    row["start"], row["end"] = str(frame[col].iloc[0]), str(frame[col].iloc[-1])
            else:
                row.update(rows=result.rows, start=result.start, end=result.end)
        rows.append(row)
    rows += [_user_row(path) for path in user_files(args.data_dir)]
    table = pd.DataFrame(rows)
    emit({"datasets": len(table), "missing": int((table["resolved"] == "missing").sum())}, args.json, {"datasets" if args.json else "": table})
    return 0


def _user_row(path: Path) -> ListRow:
    """A data-dir file outside the registry, validated like a shipped one (invalid: the error instead of a span)."""
    row: ListRow = {"file": f"{path.parent.name}/{path.name}", "upstream": "your data dir (not in the registry)",
                    "resolved": str(path.parent.parent), "rows": None, "start": "", "end": ""}
    try:
        result = check_file(path)
        row.update(rows=result.rows, start=result.start, end=result.end)
    except DataValidationError as exc:
        row["start"] = f"invalid: {exc.problem}"
    return row


def _check(args: argparse.Namespace) -> int:
    named = explicit_dir(args.data_dir) if args.data_dir or not args.paths else None
    if not args.paths and named is None:
        raise DataDirError("data check: name files or folders, or a data dir with --data-dir / CARBONSHIFT_DATA_DIR")
    ok, failed = [], []
    for path in [*args.paths, *([named] if named is not None else [])]:
        for file in files_under(path):
            try:
                ok.append(summary_row(check_file(file, repair=args.repair)))
            except (DataValidationError, DataDirError) as exc:
                failed.append({"file": str(file), "error": str(exc)})
    tables = {"files": pd.DataFrame(ok), "errors": pd.DataFrame(failed)}
    emit({"valid": len(ok), "invalid": len(failed)}, args.json,
         tables if args.json else {k: v for k, v in tables.items() if len(v)})
    return 1 if failed else 0


def _fetch_weather(args: argparse.Namespace) -> int:
    """``data fetch --weather-forecast ZONE=LAT,LON``: Open-Meteo forecasts into the data dir's store."""
    dest = args.dest or args.data_dir or os.environ.get("CARBONSHIFT_DATA_DIR") or str(cache_dir())
    client, rows = om.OpenMeteoForecastClient(), []
    for item in args.weather_forecast:
        try:
            zone, lat, lon = om.parse_location(item)
            om.store_path(dest, zone)  # a zone naming a path outside --dest is refused before any request
            frame = om.fetch(client, args.endpoint, lat, lon, args.start, args.end)
            path = om.save(frame, dest, zone)
            rows.append({"zone": zone, "endpoint": args.endpoint, "status": "fetched", "rows": len(frame),
                         "first": str(frame["time"].min()), "last": str(frame["time"].max()), "file": str(path)})
        except (SourceError, ValueError) as exc:
            rows.append({"zone": item, "endpoint": args.endpoint, "status": "failed", "error": str(exc)})
    table = pd.DataFrame(rows)
    failed = int((table["status"] == "failed").sum())
    emit({"zones": len(table), "fetched": len(table) - failed, "failed": failed}, args.json, {"weather_forecasts": table})
    return 1 if failed else 0


def _fetch(args: argparse.Namespace) -> int:
    if args.weather_forecast:
        return _fetch_weather(args)
    outcomes = fetch(args.dest, args.folder, args.force, args.data_dir)
    table = pd.DataFrame([o.__dict__ for o in outcomes])
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    shown = table if args.json else table[table["status"] != "present"]
    emit({"files": len(table), **counts}, args.json, {"files": shown} if len(shown) or args.json else {})
    return 1 if counts.get("failed") else 0
