"""``carbonshift simulate CONFIG [--json] [--no-mlflow]`` — run a ``simulate`` (or ``plan_bench``) config,
print the policy table and log everything to MLflow."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from experiments.config import ConfigError, load_yaml, parse
from experiments.output import emit
from experiments.registry import Context, Result, get

log = logging.getLogger("carbonshift.simulate")


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate scheduling policies on real carbon intensity",
                              description=__doc__.split("\n")[0])
    p.add_argument("config", help="YAML config (kind: simulate or plan_bench)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument("--data-dir", default=None, help="data folder (default: resolution order of forecast.data)")
    p.add_argument("--out-dir", default="reports", help="where the figures are written")
    p.set_defaults(handler=handle)


def log_to_mlflow(experiment: str, run_name: str, config: dict, result: Result, figures: list[Path]) -> str:
    """Log params (= config), metrics, tables (CSV) and the saved figure files of one result; returns the
    run id."""
    import mlflow

    from experiments import tracking

    with tracking.run(experiment, run_name, config) as active:
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if v == v})  # NaN is not loggable
        for name, table in result.tables.items():
            tracking.log_frame(table, f"tables/{name}.csv")
        for path in figures:
            mlflow.log_artifact(str(path), artifact_path="figures")
        return active.info.run_id


def handle(args: argparse.Namespace) -> int:
    from experiments.config import as_dict

    try:
        doc = load_yaml(args.config)
        kind = get(str(doc.get("kind", "")))
        cfg = parse(doc, kind.config_cls, Path(args.config).name)
    except (ConfigError, KeyError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    out_dir = Path(args.out_dir) / cfg.name
    out_dir.mkdir(parents=True, exist_ok=True)
    result = kind.run(cfg, Context(seed=cfg.seed, data_dir=args.data_dir, out_dir=out_dir))
    figures = []
    for fname, fig in result.figures.items():
        fig.savefig(out_dir / fname, dpi=120)
        figures.append(out_dir / fname)
    if figures:
        result.summary["figures"] = ", ".join(map(str, figures))
    if not args.no_mlflow:
        result.summary["mlflow_run"] = log_to_mlflow(cfg.name, cfg.name, as_dict(cfg), result, figures)
    emit(result.summary, args.json, result.tables if args.json else
         {k: v for k, v in result.tables.items() if k in ("policies", "scale")})
    return 0
