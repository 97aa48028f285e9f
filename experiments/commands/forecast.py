"""``carbonshift forecast backtest CONFIG`` (run a ``kind: backtest`` config through the shared runner:
MLflow logging, reports folder) and ``carbonshift forecast report RUN_ID`` (print the report tables of a
logged backtest run)."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from experiments.commands.run import add_common, execute
from experiments.output import emit

REPORT_TABLES = ("mape_by_region", "accuracy_by_horizon", "coverage")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("forecast", help="forecast backtests and reports")
    sub = p.add_subparsers(dest="forecast_command", required=True)
    b = sub.add_parser("backtest", help="rolling-origin backtest of a `kind: backtest` config, logged to MLflow")
    add_common(b)
    b.set_defaults(handler=lambda args: execute(args, {"backtest": "mape_by_region"}), command="forecast backtest")
    r = sub.add_parser("report", help="report tables of a logged backtest run (MLflow run id)")
    r.add_argument("run_id")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    import mlflow

    from experiments import tracking

    mlflow.set_tracking_uri(tracking.tracking_uri())
    run = mlflow.get_run(args.run_id)
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(mlflow.artifacts.download_artifacts(run_id=args.run_id, artifact_path="tables", dst_path=tmp))
        for path in sorted(folder.glob("*.csv")):
            if path.stem.startswith(REPORT_TABLES):
                tables[path.stem] = pd.read_csv(path)
    summary = {"run_id": args.run_id, "name": run.info.run_name,
               "wall_s": run.data.metrics.get("wall_s"), "params": json.dumps(run.data.params)[:200] + "…"}
    emit(summary, args.json, tables)
    return 0
