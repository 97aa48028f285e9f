"""``carbonshift report SWEEP_OR_RUN`` (tables + figures from MLflow) and ``carbonshift results``
(regenerate RESULTS.md from the latest shipped sweeps in MLflow)."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.output import emit
from carbonshift.experiments.report import build_report
from carbonshift.experiments.report.runs import is_run_id
from carbonshift.experiments.results import write_results
from carbonshift.experiments.report_dirs import REPORTS_DIR


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="tables (markdown + CSV) and PNG figures of a sweep or run, from MLflow (a backtest "
                                      "run: day-ahead forecast vs actual, reliability diagram, MAPE by horizon)")
    p.add_argument("target", nargs="?", help="a sweep/run name (its latest FINISHED run), or a run id")
    p.add_argument("--run-id", help="report this run (or sweep parent run) whatever its status, e.g. a FAILED one")
    p.add_argument("--reports-dir", default=REPORTS_DIR,
                   help="output folder: <dir>/<name>/<run id>/report/ (default: the project's reports/)")
    p.add_argument("--no-log", action="store_true", help="do not log the report back to MLflow as artifacts")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=_report)
    p = sub.add_parser("results", help="regenerate RESULTS.md from the latest runs of the shipped sweeps in MLflow")
    p.add_argument("--output", default="RESULTS.md", help="file to write (default: RESULTS.md)")
    p.add_argument("--sweep", action="append", dest="sweeps", metavar="NAME",
                   help="sweep name to include (repeatable; default: every shipped sweep found in MLflow)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=_results)


def _report(args: argparse.Namespace) -> int:
    if bool(args.target) == bool(args.run_id):
        raise ConfigError("report: give a sweep/run NAME (its latest FINISHED run) or --run-id RUN_ID, not both")
    if args.run_id and not is_run_id(args.run_id):
        raise ConfigError(f"report --run-id {args.run_id!r}: expected a 32-character MLflow run id")
    try:
        rep = build_report(args.run_id or args.target, args.reports_dir, log_to_mlflow=not args.no_log)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emit({"run_id": rep.run_id, "name": rep.name, "sweep": rep.is_sweep, "out_dir": str(rep.out_dir),
          "figures": [str(p) for p in rep.figures], "tables": list(rep.tables)}, args.json)
    return 0


def _results(args: argparse.Namespace) -> int:
    try:
        doc = write_results(args.output, args.sweeps)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emit({"output": args.output, "sweeps": [s["name"] for s in doc["sweeps"]]}, args.json,
         {"headline": pd.DataFrame(doc["headline"])})
    return 0
