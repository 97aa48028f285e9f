"""``carbonshift forecast backtest CONFIG`` (run a ``kind: backtest`` config through the shared runner:
MLflow logging, reports folder), ``carbonshift forecast report RUN_ID`` (print the report tables of a
logged backtest run), ``carbonshift forecast train CONFIG`` (fit the config's ensemble up to its cut-off and log
it as an artifact folder, :mod:`forecast.artifact`) and ``carbonshift forecast predict MODEL_URI --issue-time T``
(load it — a local folder or any MLflow artifact URI such as ``runs:/<run id>/forecaster`` — and write the
forecast table issued at T); ``carbonshift forecast value TABLE.csv`` (the decision value of a forecast table a
user brings, :mod:`experiments.forecast_value`)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import forecast_value, tracking
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import load_data, model_factories, pipeline_settings
from carbonshift.experiments.backtest_results import score_metrics
from carbonshift.experiments.commands.run import add_common, execute
from carbonshift.experiments.config import ConfigError, as_dict
from carbonshift.experiments.config_doc import parse_doc, parse_overrides, read_doc
from carbonshift.experiments.data_preflight import check_data
from carbonshift.experiments.output import emit
from carbonshift.experiments.report_dirs import REPORTS_DIR
from carbonshift.experiments.run_tags import machine_tags
from carbonshift.forecast import artifact
from carbonshift.forecast.data.panel import load_dacf_panel, load_panel
from carbonshift.forecast.data.schema import PANEL_COLUMNS
from carbonshift.forecast.data.validate import check_hourly_index
from carbonshift.forecast.live.store import LiveStore

REPORT_TABLES = ("mape_by_region", "accuracy_by_horizon", "coverage")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("forecast", help="forecast backtests and reports")
    sub = p.add_subparsers(dest="forecast_command", required=True)
    b = sub.add_parser("backtest", help="rolling-origin backtest of a `kind: backtest` config, logged to MLflow")
    add_common(b)
    b.set_defaults(handler=lambda args: execute(args, {"backtest": "mape_by_region"}), command="forecast backtest")
    t = sub.add_parser("train", help="fit a `kind: backtest` config's ensemble up to its cut-off; log it to MLflow")
    t.add_argument("config", help="YAML `kind: backtest` config (windows: train/validation; the cut-off is the first "
                                  "issue after windows.val_end)")
    t.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="override a config key")
    t.add_argument("--data-dir", help="data folder searched first (else $CARBONSHIFT_DATA_DIR, ../shared/data, cache)")
    t.add_argument("--experiment", help="MLflow experiment (default: the config's name)")
    t.add_argument("--out", help="also keep the artifact folder here (default: reports/<name>/forecaster[_<target>])")
    t.add_argument("--json", action="store_true", help="one JSON document on stdout")
    t.set_defaults(handler=train)
    pr = sub.add_parser("predict", help="load a trained forecaster and write the forecast table issued at a time")
    pr.add_argument("model_uri", help="artifact folder, or MLflow artifact URI (runs:/<run id>/forecaster)")
    pr.add_argument("--issue-time", required=True, help="UTC issue time, a whole hour ≥ the cut-off, e.g. "
                                                         "2024-03-20T23:00Z")
    pr.add_argument("--days", type=int, default=1, help="issue daily for this many days from --issue-time "
                                                         "(one table; default 1)")
    src = pr.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="history from this data folder (the model's zones/regions, bundle layout)")
    src.add_argument("--live-store", help="history from a `carbonshift monitor` sqlite store")
    pr.add_argument("--out", help="forecast table CSV (default: forecast_<name>_<issue>.csv in the current folder)")
    pr.add_argument("--json", action="store_true", help="one JSON document on stdout")
    pr.set_defaults(handler=predict)
    forecast_value.add_parser(sub)
    r = sub.add_parser("report", help="report tables of a logged backtest run (MLflow run id)")
    r.add_argument("run_id")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    import mlflow

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


def _backtest_config(args: argparse.Namespace) -> Any:
    doc, source = read_doc(args.config, parse_overrides(args.overrides))
    doc.pop("sweep", None)
    kind, cfg = parse_doc(doc, source)
    if not isinstance(cfg, BacktestConfig):
        raise ConfigError(f"{source}: kind: {kind.name!r}; `carbonshift forecast train` needs kind: backtest")
    return cfg


def train(args: argparse.Namespace) -> int:
    """Fit one :class:`forecast.artifact.TrainedForecaster` per config target and log each as an MLflow artifact
    folder ``forecaster`` (one target) or ``forecaster_<target>``."""
    try:
        cfg = _backtest_config(args)
        check_data(cfg, args.data_dir, args.config)
        panel = load_data(cfg, args.data_dir)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tracking.quiet_mlflow()
    windows = cfg.windows.windows()
    factories = model_factories(cfg)
    rows: list[dict[str, object]] = []
    try:
        run = _train_and_log(args, cfg, panel, factories, windows, rows)
    except (ValueError, OSError) as exc:   # the MLflow run is marked FAILED
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emit({"run_id": run.info.run_id, "name": cfg.name, "forecasters": len(rows)}, args.json,
         {"forecasters": pd.DataFrame(rows)})
    return 0


def _train_and_log(args: argparse.Namespace, cfg: Any, panel: pd.DataFrame, factories: dict, windows: Any,
                   rows: list[dict]) -> Any:
    """One MLflow run: fit and log a forecaster per target (``rows`` receives one summary row each)."""
    import mlflow

    settings = pipeline_settings(cfg, factories)
    with tracking.run(args.experiment or cfg.name, f"{cfg.name}-train", as_dict(cfg),
                      tags={"carbonshift.kind": "forecast_train", "carbonshift.role": "train", **machine_tags()}) as run:
        for target in cfg.targets:
            fitted = artifact.train(panel, target, factories, windows, settings, config=as_dict(cfg),
                                    monitor=tracking.epoch_monitor(), score_h=cfg.backtest.day_ahead_h)
            log_validation(fitted)
            name = "forecaster" if len(cfg.targets) == 1 else f"forecaster_{target}"
            folder = Path(args.out) / name if args.out else REPORTS_DIR / cfg.name / name   # project's reports/
            save_mlflow_model(fitted, folder)
            mlflow.log_artifacts(str(folder), artifact_path=name)
            rows.append({"target": target, "model_uri": f"runs:/{run.info.run_id}/{name}", "folder": str(folder),
                         "cutoff": fitted.cutoff.isoformat(), "label": fitted.label,
                         "regions": ", ".join(fitted.regions)})
        mlflow.set_tags({"carbonshift.cutoff": rows[0]["cutoff"], "carbonshift.git_commit": fitted.version["git_commit"]})
    return run


def log_validation(fitted: Any) -> None:
    """Log what ``forecast train`` fitted to the active MLflow run: the validation scores of every member and
    of the uncalibrated ensemble (day-ahead horizons) as metrics ``val_<metric>.<target>.<model>.<region>`` and
    ``….mean``, tables ``validation_scores_<target>`` and ``ensemble_dropped_<target>`` (members with weight 0,
    their share of region × bucket cells and why), and ``dropped_share.<target>.<member>``."""
    import mlflow

    target, scores = fitted.target, fitted.validation_scores
    metrics = score_metrics(scores, target, {"ensemble (uncalibrated)": "ensemble_uncalibrated"}, prefix="val_",
                            means=("mape", "mae", "crps", "picp90"))
    dropped = fitted.dropped()
    metrics.update({f"dropped_share.{target}.{m}": float(v) for m, v in zip(dropped["model"], dropped["dropped_share"])})
    mlflow.log_metrics(metrics)
    tracking.log_frame(scores, f"tables/validation_scores_{target}.csv")
    tracking.log_frame(dropped, f"tables/ensemble_dropped_{target}.csv")


def save_mlflow_model(fitted: Any, folder: Path) -> Path:
    """Write ``fitted`` as an MLflow pyfunc model at ``folder`` (``MLmodel`` + the artifact folder under
    ``data/forecaster``, loader :func:`forecast.artifact._load_pyfunc`); a previous model there is replaced,
    any other existing folder is an error."""
    import shutil
    from importlib import metadata

    import mlflow.pyfunc

    if folder.exists():
        if not (folder / "MLmodel").is_file():
            raise FileExistsError(f"{folder} exists and is not a saved forecaster; choose another --out")
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory() as tmp:
        plain = fitted.save(Path(tmp) / "forecaster")
        mlflow.pyfunc.save_model(path=str(folder), loader_module="carbonshift.forecast.artifact", data_path=str(plain),
                                 pip_requirements=[f"carbonshift=={metadata.version('carbonshift')}"])
    return folder


def _model_folder(uri: str, tmp: str) -> Path:
    """The artifact folder (with ``forecaster.json``) for ``uri``: a local folder or MLflow model folder, else
    downloaded from MLflow first."""
    folder = Path(uri)
    if not folder.is_dir():
        import mlflow

        mlflow.set_tracking_uri(tracking.tracking_uri())
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
    if (folder / "MLmodel").is_file():
        import yaml

        flavor = (yaml.safe_load((folder / "MLmodel").read_text()) or {}).get("flavors", {}).get("python_function", {})
        if flavor.get("loader_module") != "carbonshift.forecast.artifact":
            raise ValueError(f"{uri}: an MLflow model, but not a carbonshift forecaster (loader {flavor.get('loader_module')!r})")
        folder = folder / flavor["data"]
    return folder


def _history(fitted: Any, issue: pd.Timestamp, data_dir: str | None, live_store: str | None) -> pd.DataFrame:
    """The panel a trained forecaster predicts from: the model's zones/regions from the data dir (EM years from
    the first training year through the issue year) or from a live store."""
    regions = fitted.regions
    data = fitted.config.get("data")
    if live_store is None and not isinstance(data, dict):
        raise ValueError("this artifact records no data spec (config.data); predict from --live-store")
    bt = fitted.config.get("backtest", {})
    oracle, wx_lead = bool(bt.get("oracle_weather")), bt.get("horizon_h") if bt.get("weather_forecasts") else None
    if live_store is not None:
        covariates = [what for what, used in (("observed weather (oracle_weather)", oracle),
                                              ("Open-Meteo weather forecasts", wx_lead is not None),
                                              ("DACF fc_* forecasts", (data or {}).get("source") == "dacf")) if used]
        if covariates:
            raise ValueError(f"this forecaster uses {covariates[0]} as input; a live store holds none (use --data-dir)")
        panel = LiveStore(live_store).read(regions)[list(PANEL_COLUMNS)]
        missing = [r for r in regions if r not in set(panel["region"])]
        if missing:
            raise ValueError(f"live store {live_store}: no observations for region(s) {missing}")
        for region, g in panel.groupby("region"):
            check_hourly_index(g["time"], f"live store {live_store} region {region}")
        return panel[panel["time"] < issue].reset_index(drop=True)

    if data["source"] == "dacf":
        return load_dacf_panel(regions, data_dir, data.get("exclude_columns", []))
    first = min(data["years"] or [2021])
    return load_panel(regions, range(first, max(issue.year, first) + 1), weather=oracle, data_dir=data_dir,
                      exclude=data.get("exclude_columns", []), weather_forecast_lead_h=wx_lead)


def predict(args: argparse.Namespace) -> int:
    """Load a trained forecaster (local folder or MLflow URI) and write its forecast table issued at ``--issue-time``."""
    try:
        issue = pd.Timestamp(args.issue_time)
        issue = issue.tz_localize("UTC") if issue.tz is None else issue.tz_convert("UTC")
        if args.days < 1:
            raise ValueError(f"--days must be ≥ 1, got {args.days}")
        issues = pd.date_range(issue, periods=args.days, freq="D")
        with tempfile.TemporaryDirectory() as tmp:
            fitted = artifact.load(_model_folder(args.model_uri, tmp))
        table = fitted.predict(_history(fitted, issues[-1], args.data_dir, args.live_store), issues)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = fitted.config.get("name", "forecaster")
    out = Path(args.out or f"forecast_{name}_{fitted.target}_{issue:%Y%m%dT%H%MZ}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    emit({"model_uri": args.model_uri, "target": fitted.target, "issue_times": f"{issues[0]} … {issues[-1]}",
          "cutoff": fitted.cutoff.isoformat(), "regions": sorted(set(table["region"])), "rows": len(table),
          "table": str(out), "model": table["model"].iloc[0], "git_commit": fitted.version["git_commit"]}, args.json)
    return 0
