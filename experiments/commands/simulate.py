"""``carbonshift simulate CONFIG [--set KEY=VALUE] [--json]`` — run a ``simulate`` (or ``plan_bench``)
config through the shared runner (:func:`experiments.runner.run_config`: MLflow logging, reports folder)
and print its policy (or scale) table."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from experiments.config import ConfigError
from experiments.output import emit
from experiments.runner import parse_overrides, read_doc, run_config

KINDS: dict[str, str] = {"simulate": "policies", "plan_bench": "scale"}   # kind → the table it prints


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate scheduling policies on real carbon intensity",
                              description=__doc__.split("\n")[0])
    p.add_argument("config", help="YAML config (kind: simulate or plan_bench)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="override a dotted config key, value parsed as YAML (repeatable), e.g. duration.model=estimator")
    p.add_argument("--experiment", help="MLflow experiment (default: the config's name)")
    p.add_argument("--data-dir", default=None, help="data folder (default: resolution order of forecast.data)")
    p.add_argument("--reports-dir", default="reports", help="where figures and tables are written (default: reports)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        overrides = parse_overrides(args.overrides)
        kind = read_doc(args.config, overrides)[0].get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{args.config}: kind: {kind!r} is not run by `carbonshift simulate` "
                              f"(expected one of {list(KINDS)}; use `carbonshift run` for other kinds)")
        rec = run_config(args.config, overrides, args.experiment, args.data_dir, args.reports_dir,
                         progress=not args.json)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    head = {"run_id": rec.run_id, "experiment": rec.experiment, "status": rec.status,
            "reports": str(rec.report_dir), **({"error": rec.error} if rec.error else {})}
    table_path = rec.report_dir / f"{KINDS[rec.kind]}.csv"
    tables = {KINDS[rec.kind]: pd.read_csv(table_path)} if not rec.error else {}
    emit({**rec.summary, **head}, args.json, tables)
    return 1 if rec.error else 0
