"""MLflow set-up: one place that decides where runs go.

Default: a local sqlite store ``mlruns/mlflow.db`` with artifacts in ``mlruns/artifacts`` (one git-ignored
folder in the project root, whatever the current directory; ``CARBONSHIFT_RUNS_DIR`` moves it).
``MLFLOW_TRACKING_URI`` overrides it (any tracking server). Telemetry is off.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from carbonshift.experiments import provenance
from carbonshift.forecast import version


def project_dir(name: str) -> Path:
    """Where the default folder ``name`` (``mlruns``, ``reports``) lives: in the project root when running from a
    source checkout (``pyproject.toml`` next to the packages), so running from another folder opens the same
    MLflow store and reports; in the current directory for an installed package."""
    base = version.PROJECT_ROOT if (version.PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()
    return (base / name).resolve()


def forecast_table_path(path: str) -> Path:
    """``forecast.table_path`` on disk: absolute, or relative to the current directory, else to the project root
    (``reports/<name>/latest/…`` is found from any folder). Missing: a ``FileNotFoundError`` naming the commands
    that write a forecast table."""
    given = Path(path)
    for candidate in (given, project_dir(".") / given) if not given.is_absolute() else (given,):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"forecast.table_path: {path} not found (relative paths: current directory, then the project root). "
        f"A backtest run writes one: `carbonshift run experiments/configs/quickstart_forecast.yaml` → "
        f"reports/quickstart_forecast/latest/forecast_ensemble.csv; or `carbonshift forecast predict` from a "
        f"trained forecaster")


# CARBONSHIFT_RUNS_DIR, when given, is taken as given (relative to the current directory)
RUNS_DIR = Path(os.environ["CARBONSHIFT_RUNS_DIR"]).resolve() if os.environ.get("CARBONSHIFT_RUNS_DIR") \
    else project_dir("mlruns")

for _var in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
    os.environ.setdefault(_var, "true" if _var != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" else "false")


def quiet_mlflow() -> None:
    """Keep MLflow's and alembic's INFO chatter (database creation, migrations) off the terminal."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{RUNS_DIR / 'mlflow.db'}"


def configure(experiment: str) -> str:
    """Point MLflow at the store and select (creating if needed) ``experiment``; returns its id.

    The URI is also exported as ``MLFLOW_TRACKING_URI`` so subprocesses and Ray workers use the same
    store instead of MLflow's default ``./mlflow.db``."""
    import mlflow

    uri = tracking_uri()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    if uri.startswith("sqlite:///"):
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    with _sqlite_lock(uri):
        exp = mlflow.get_experiment_by_name(experiment)
        if exp is None:
            location = (RUNS_DIR / "artifacts").as_uri() if uri.startswith("sqlite:///") else None
            return mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return exp.experiment_id


@contextlib.contextmanager
def _sqlite_lock(uri: str) -> Iterator[None]:
    """For a ``sqlite:///`` store, an exclusive lock on ``<db>.lock`` beside it while the store is opened and an
    experiment selected: processes that open a new store at once race in MLflow's schema migrations
    ('duplicate column name: step') and in creating the same experiment. Other stores: no lock."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri[len("sqlite:///"):] + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> flat ``a.b.c`` params (values as short strings, as MLflow params must be)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if not isinstance(value, str) else value
    return {k: v[:6000] for k, v in out.items()}


@contextlib.contextmanager
def run(experiment: str, run_name: str, config: Mapping[str, Any] | None = None,
        nested: bool = False, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Start an MLflow run in ``experiment``; logs ``config`` as params and as ``config.json`` artifact. Every
    run is tagged ``carbonshift.code_version`` (:func:`experiments.provenance.code_version`) unless ``tags``
    already give it."""
    import mlflow

    exp_id = configure(experiment)
    tags = {provenance.TAG: provenance.code_version(), **dict(tags or {})}
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, nested=nested, tags=tags) as active:
        if config:
            mlflow.log_params(flatten(config))
            mlflow.log_dict(dict(config), "config.json")
        yield active


def log_frame(frame, name: str) -> None:
    """Log a DataFrame as a CSV artifact ``name`` (e.g. ``tables/summary.csv``)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(name).parent) if Path(name).parent != Path(".") else None)


def epoch_monitor():  # noqa: ANN201 (forecast.backtest.FitMonitor | None)
    """A :data:`forecast.backtest.FitMonitor` that logs each training epoch of a neural member to the active
    MLflow run as step metrics ``epoch.<target>.<member>.<fit>.<train_loss|val_loss|epoch_s>`` (step = epoch,
    0-based; fit ``validation``, ``test<k>`` or ``cutoff``); ``None`` when no run is active (nothing to log to)."""
    import mlflow

    if mlflow.active_run() is None:
        return None

    def monitor(fit: str, epoch: int, metrics: Mapping[str, float]) -> None:
        mlflow.log_metrics({f"epoch.{fit}.{k}": float(v) for k, v in metrics.items()}, step=epoch)

    return monitor
