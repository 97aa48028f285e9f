"""``carbonshift forecast backtest CONFIG`` (run a ``kind: backtest`` config and log it to MLflow) and
``carbonshift forecast report RUN_ID`` (print the report tables of a logged backtest run)."""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from experiments.config import as_dict, load, load_yaml
from experiments.output import emit
from experiments.registry import Context, Result, get

log = logging.getLogger("carbonshift")
REPORT_TABLES = ("mape_by_region", "accuracy_by_horizon", "coverage")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("forecast", help="forecast backtests and reports")
    sub = p.add_subparsers(dest="forecast_command", required=True)
    b = sub.add_parser("backtest", help="rolling-origin backtest of a `kind: backtest` config")
    b.add_argument("config", help="YAML config (e.g. experiments/configs/forecast_dacf.yaml)")
    b.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    b.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    b.add_argument("--data-dir", default=None, help="data folder (default: resolved by forecast.data.registry)")
    b.add_argument("--out-dir", default="reports", help="where tables/figures are written (default: reports/)")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.set_defaults(handler=backtest)
    r = sub.add_parser("report", help="report tables of a logged backtest run (MLflow run id)")
    r.add_argument("run_id")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(handler=report)


def _write(result: Result, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in result.tables.items():
        paths.append(out_dir / f"{name}.csv")
        table.to_csv(paths[-1], index=False)
    for name, fig in result.figures.items():
        paths.append(out_dir / name)
        fig.savefig(paths[-1], dpi=110)
    return paths


def _log_mlflow(cfg, result: Result, out_dir: Path) -> str:
    import mlflow

    from experiments import tracking

    with tracking.run("forecast_backtest", cfg.name, as_dict(cfg)) as active:
        mlflow.log_metrics(result.metrics)
        for name, table in result.tables.items():
            tracking.log_frame(table, f"tables/{name}.csv")
        for name, fig in result.figures.items():
            mlflow.log_figure(fig, f"figures/{name}")
        for path in result.files:
            mlflow.log_artifact(str(path), artifact_path="models")
        return active.info.run_id


def backtest(args: argparse.Namespace) -> int:
    doc = load_yaml(args.config)
    kind = get(doc.get("kind", "backtest"))
    cfg = load(args.config, kind.config_cls)
    out_dir = Path(args.out_dir) / cfg.name
    ctx = Context(seed=cfg.seed, data_dir=args.data_dir, out_dir=out_dir, progress=not args.no_progress)
    result = kind.run(cfg, ctx)
    _write(result, out_dir)
    summary = {**result.summary, "out_dir": str(out_dir)}
    if not args.no_mlflow:
        summary["mlflow_run_id"] = _log_mlflow(cfg, result, out_dir)
    emit(summary, args.json, {k: v for k, v in result.tables.items() if k.startswith(REPORT_TABLES)})
    return 0


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
