"""Run one experiment config and log what it produced to MLflow — the one place that logs a ``Result``.

A config is a YAML mapping with a top-level ``kind:`` (see :mod:`experiments.registry`). The runner
splits off an optional ``sweep:`` section (handled by :mod:`experiments.sweep`), applies ``--set``
overrides, parses the rest strictly into the kind's config dataclass, runs the kind, and logs:

- params: the resolved config, flattened (``workload.n_jobs`` …) plus ``config.json``;
- tags: ``carbonshift.kind``, ``carbonshift.config_hash`` (sha256 of kind + resolved config + code
  version), ``carbonshift.code_version`` (:func:`experiments.provenance.code_version`, also in the summary);
- metrics: ``Result.metrics`` plus ``trial_seconds`` (wall clock, s) and ``trial_peak_rss_mb`` (peak
  resident memory of the process that ran the kind, MB);
- data: the files the kind read from the data dir (``forecast.data.registry.used_files``) with their sha256,
  tag ``carbonshift.data_sha256`` (short digests) and artifact ``data_files.json``; for ``forecast.source:
  table``, the table, its sha256 and the run that wrote it (:func:`forecast_tags`);
- artifacts: ``tables/<name>.csv``, ``figures/<file>.png``, ``files/<file>``, ``summary.json``;
  figures and tables are also written to ``reports/<config name>/<run id>/`` (``reports/<config name>/latest``
  points to the last successful run; ``reports/`` is the project's, whatever the current directory).

Kind modules outside the package (user plugins, test kinds) are imported from the comma-separated
module list in ``CARBONSHIFT_KINDS`` before a kind is looked up.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import io
import json
import logging
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import registry, tracking
from carbonshift.experiments.profiles import FULL
from carbonshift.experiments.profiles import TAG as PROFILE_TAG
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import code_version, project_relative
from carbonshift.experiments.config import ConfigError, as_dict, load_yaml, parse, safe_yaml
from carbonshift.experiments.data_preflight import check_data
from carbonshift.experiments.figures import add_caption, run_caption
from carbonshift.experiments.tracking import forecast_table_path, project_dir
from carbonshift.forecast.data.paths import inside
from carbonshift.forecast.data.registry import reset_used, used_files

REPORTS_DIR = tracking.project_dir("reports")   # the project's reports/, whatever the current directory
LATEST = "latest"   # reports/<name>/latest -> the folder of the name's last successful run


def quiet_mlflow() -> None:
    """Keep MLflow's and alembic's INFO chatter (database creation, migrations) off the terminal."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def import_plugins() -> None:
    """Import the kind modules named in ``CARBONSHIFT_KINDS`` (comma-separated) so they register; one that fails
    to import is a :class:`ConfigError` naming it and passing its import error through."""
    for name in filter(None, (m.strip() for m in os.environ.get("CARBONSHIFT_KINDS", "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(f"CARBONSHIFT_KINDS: kind module {name!r} failed to import "
                              f"({type(exc).__name__}: {exc})") from exc


def get_kind(name: Any, source: str) -> registry.Kind:
    """Kind registered as ``name``; a missing or unknown kind is a :class:`ConfigError` naming ``source``."""
    if not isinstance(name, str):
        raise ConfigError(f"{source}: kind: required key missing (one of {sorted(_known_kinds())})")
    import_plugins()
    try:
        return registry.get(name)
    except KeyError as exc:   # the message names kind modules that failed to import, with their import error
        raise ConfigError(f"{source}: kind: {exc.args[0]}") from None


def _known_kinds() -> list[str]:
    import_plugins()
    return list(registry.kinds())


def set_dotted(doc: dict, key: str, value: Any, source: str = "<config>") -> None:
    """Set ``doc[a][b][c] = value`` for ``key='a.b.c'``, creating missing mappings.

    Keys under ``sweep`` are themselves dotted, so ``sweep.forecast.accuracy`` sets
    ``doc['sweep']['forecast.accuracy']``."""
    parts = key.split(".")
    if parts[0] == "sweep" and len(parts) > 1:
        sweep = doc.setdefault("sweep", {})
        if not isinstance(sweep, dict):
            raise ConfigError(f"{source}: --set {key}: the sweep section is not a single mapping")
        sweep[".".join(parts[1:])] = value
        return
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: is {child!r}, cannot set {key}")
        node = child
    node[parts[-1]] = value


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["workload.n_jobs=50", "seed=[0,1]"]`` → ``{"workload.n_jobs": 50, "seed": [0, 1]}`` (values YAML-parsed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. workload.n_jobs=100")
        out[key.strip()] = safe_yaml(value, f"--set {key.strip()}")
    return out


def overrides_text(overrides: dict[str, Any]) -> str:
    """The ``carbonshift.overrides`` tag: ``key=<JSON value>`` pairs, space-separated, at most 5000 characters."""
    return " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in overrides.items())[:5000]


def config_path(config: str | Path) -> Path:
    """A config file on disk: as given (absolute, or relative to the current directory), else relative to the project
    root of a checkout (``experiments/configs/paper_main.yaml`` works from any folder), else a shipped config of
    that name inside the installed package; unchanged when none exists (the reader then names it)."""
    given = Path(config)
    shipped = Path(__file__).with_name("configs") / given.name
    candidates = [given] if given.is_absolute() else [given, project_dir(".") / given]
    if given.parent.as_posix().endswith("experiments/configs") or given.parent == Path("."):
        candidates.append(shipped)
    return next((c for c in candidates if c.is_file()), given)


def read_doc(config: str | Path | dict, overrides: dict[str, Any] | None = None) -> tuple[dict, str]:
    """Raw config mapping (from a path — :func:`config_path` — or a dict) with ``overrides`` applied, and its source
    name."""
    if isinstance(config, dict):
        doc, source = copy.deepcopy(config), str(config.get("name", "<config>"))
    else:
        doc, source = load_yaml(config_path(config)), Path(config).name
    for key, value in (overrides or {}).items():
        set_dotted(doc, key, value, source)
    return doc, source


def parse_doc(doc: dict, source: str) -> tuple[registry.Kind, Any]:
    """Parse a raw mapping (without ``sweep``) into its kind and config dataclass; clear errors."""
    kind = get_kind(doc.get("kind"), source)
    return kind, parse(doc, kind.config_cls, source)


def config_hash(kind: str, config: Any, code: str | None = None) -> str:
    """Stable 16-hex-digit sha256 of the kind, the fully resolved config (defaults included) and the code
    version ``code`` (default: this checkout's :func:`~experiments.provenance.code_version`) — a trial
    finished under other code is another trial."""
    blob = json.dumps({"kind": kind, "config": as_dict(config), "code_version": code or code_version()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def machine_tags() -> dict[str, str]:
    """Where an experiment ran: host OS, CPU model and count, memory (GB), Python, Ray address."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = float("nan")
    return {"carbonshift.machine": f"{platform.system()} {platform.release()}; {cpu}; {os.cpu_count()} CPUs; "
                                   f"{mem_gb:.0f} GB RAM; Python {platform.python_version()}",
            "carbonshift.ray_address": os.environ.get("RAY_ADDRESS", "local")}


DATA_TAG = "carbonshift.data_sha256"


def data_tag(files: dict[str, str]) -> str:
    """Tag value for the data a run read: ``<file>:<first 12 hex of sha256>`` joined by spaces (MLflow caps tag
    length; the full digests are the ``data_files.json`` artifact)."""
    text = " ".join(f"{name}:{digest[:12]}" for name, digest in files.items())
    return text if len(text) <= 5000 else f"{text[:4990]} …"


#: forecast keys that only shape the synthetic forecast; not logged as params of a ``forecast.source: table`` run
SYNTHETIC_FORECAST_KEYS: tuple[str, ...] = ("error_model", "accuracy", "k", "e", "correlation_h")
RUN_ID_LENGTH = 32   # MLflow run ids: 32 hex digits


def logged_params(config: Any) -> dict:
    """The resolved config as logged to MLflow: ``forecast.source: table`` drops the synthetic-forecast knobs
    (:data:`SYNTHETIC_FORECAST_KEYS`), which did not shape the run."""
    doc = as_dict(config)
    forecast = doc.get("forecast")
    if isinstance(forecast, dict) and forecast.get("source") == "table":
        doc["forecast"] = {k: v for k, v in forecast.items() if k not in SYNTHETIC_FORECAST_KEYS}
    return doc


def forecast_tags(config: Any) -> dict[str, str]:
    """For ``forecast.source: table``: the table file (project-relative), its sha256 and, when it lies in a run's
    reports folder (``reports/<name>/<run id>/`` or ``…/latest/``), the MLflow run that produced it
    (``carbonshift.forecast_run_id``). Empty for other configs."""
    forecast = getattr(config, "forecast", None)
    if getattr(forecast, "source", None) != "table" or not getattr(forecast, "table_path", None):
        return {}

    try:
        path = forecast_table_path(forecast.table_path).resolve()   # follows reports/<name>/latest
    except FileNotFoundError:
        return {}   # the kind reports the missing table as the run's error
    tags = {"carbonshift.forecast_table": project_relative(path),
            "carbonshift.forecast_table_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    run_dir = path.parent.name
    if len(run_dir) == RUN_ID_LENGTH and all(c in "0123456789abcdef" for c in run_dir):
        tags["carbonshift.forecast_run_id"] = run_dir
    return tags


@dataclass
class Output:
    """A kind's :class:`~experiments.registry.Result` made portable (picklable across Ray workers):
    figures rendered to PNG bytes and extra files read into memory."""

    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    data_files: dict[str, str] = field(default_factory=dict)   # <folder>/<file> read -> sha256


def data_checksums(paths: list[Path]) -> dict[str, str]:
    """``<folder>/<file> -> sha256`` of the data files a run read (as found in the data dir, compressed or not)."""
    return {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def execute(run_fn: Any, config: Any, ctx: registry.Context) -> Output:
    """Run one kind in this process; adds ``trial_seconds`` and ``trial_peak_rss_mb``.

    An exception inside the kind becomes ``Output.error`` (type, message and the last traceback
    lines) so one failing trial does not bring down a sweep."""
    import traceback

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    reset_used()
    try:
        result = run_fn(config, ctx)
    except Exception as exc:  # reported per trial; the caller marks the MLflow run FAILED
        tail = "".join(traceback.format_exception(exc)[-3:])
        return Output(metrics={"trial_seconds": time.perf_counter() - start},
                      error=f"{type(exc).__name__}: {exc}\n{tail}", data_files=data_checksums(used_files()))
    seconds = time.perf_counter() - start
    figures = {}
    caption = run_caption(str(getattr(config, "name", "")), getattr(config, "seed", None), result.summary,
                          ctx.trial)
    for name, fig in result.figures.items():
        add_caption(fig, caption)   # every run figure says which run, seed and where/when it shows
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        figures[name if name.endswith(".png") else f"{name}.png"] = buf.getvalue()
    metrics = {k: float(v) for k, v in result.metrics.items()}
    metrics["trial_seconds"] = seconds
    metrics["trial_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    files = {Path(p).name: Path(p).read_bytes() for p in result.files}
    return Output(metrics, dict(result.tables), figures, files, dict(result.summary),
                  data_files=data_checksums(used_files()))


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_reports(output: Output, out_dir: Path) -> list[Path]:
    """Write figures (PNG) and tables (CSV) of one run to ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in output.figures.items():
        (out_dir / name).write_bytes(png)
        written.append(out_dir / name)
    for name, table in output.tables.items():
        path = out_dir / f"{_safe_name(name)}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    return written


def run_report_dir(reports_dir: str | Path, name: str, run_id: str) -> Path:
    """``<reports_dir>/<name>/<run_id>/``: one folder per MLflow run, so runs of one config never overwrite each
    other's figures and tables."""
    return inside(Path(reports_dir).resolve(), _safe_name(name), run_id)


def point_latest(run_dir: Path) -> None:
    """Make ``<run_dir's parent>/latest`` a relative symlink to ``run_dir`` (the last successful run of that name;
    configs read e.g. ``reports/quickstart_forecast/latest/forecast_ensemble.csv``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, link)    # atomic: a reader sees the old or the new run, never no link


def log_output(client: Any, run_id: str, output: Output) -> None:
    """Log metrics, tables, figures, files and summary of ``output`` to MLflow run ``run_id``."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in sorted(output.metrics.items())]
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("tables", "figures", "files"):
            (root / folder).mkdir()
        for name, table in output.tables.items():
            table.to_csv(root / "tables" / f"{_safe_name(name)}.csv", index=False)
        for name, png in output.figures.items():
            (root / "figures" / name).write_bytes(png)
        for name, data in output.files.items():
            (root / "files" / name).write_bytes(data)
        (root / "summary.json").write_text(json.dumps(output.summary, indent=1, default=str))
        if output.data_files:
            (root / "data_files.json").write_text(json.dumps(output.data_files, indent=1))
            client.set_tag(run_id, DATA_TAG, data_tag(output.data_files))
        if output.error:
            (root / "error.txt").write_text(output.error)
        for child in sorted(root.iterdir()):
            if child.is_dir() and any(child.iterdir()):
                client.log_artifacts(run_id, str(child), artifact_path=child.name)
            elif child.is_file():
                client.log_artifact(run_id, str(child))


@dataclass
class RunRecord:
    """What ``carbonshift run`` reports: where the run is and what it measured."""

    run_id: str
    experiment: str
    name: str
    kind: str
    config_hash: str
    status: str
    metrics: dict[str, float]
    summary: dict[str, Any]
    report_dir: Path
    error: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    code_version: str = ""


RANK_VARS: tuple[str, ...] = ("RANK", "LOCAL_RANK", "NODE_RANK")


def distributed_rank() -> int:
    """This process's rank when a DDP launcher started it, else 0. Lightning's ``ddp`` strategy re-launches the
    running command once per extra device with ``LOCAL_RANK``/``NODE_RANK`` set (torchrun sets ``RANK``); any of
    them non-zero makes this a worker rank."""
    ranks = []
    for var in RANK_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                ranks.append(int(value))
            except ValueError:
                raise ConfigError(f"environment variable {var}={value!r}: expected a process rank (integer)") from None
    return max(ranks, default=0)


def run_config(config: str | Path | dict, overrides: dict[str, Any] | None = None,
               experiment: str | None = None, data_dir: str | None = None,
               reports_dir: Path | None = None, progress: bool = True, profile: str = FULL) -> RunRecord:
    """Run one config (path or mapping) once and log it to MLflow; a ``sweep:`` section is ignored
    here (use :func:`experiments.sweep.run_sweep`). Figures and tables go to ``<reports_dir>/<name>/<run id>/``
    (default :data:`REPORTS_DIR`). Raises :class:`ConfigError` on a bad config.

    Under DDP (several devices, ``trainer.strategy: ddp``) every rank runs the command; only rank 0 records an
    MLflow run and writes reports. A worker rank (:func:`distributed_rank` > 0) runs the kind with its outputs in a
    temporary folder and returns a record with status ``DDP_WORKER`` and no run id."""
    import mlflow

    quiet_mlflow()
    doc, source = read_doc(config, overrides)
    doc.pop("sweep", None)
    kind, cfg = parse_doc(doc, source)
    check_data(cfg, data_dir, source)
    version = code_version()
    chash = config_hash(kind.name, cfg, version)
    exp_name = experiment or cfg.name
    rank = distributed_rank()
    if rank > 0:
        with tempfile.TemporaryDirectory(prefix=f"carbonshift-rank{rank}-") as tmp:
            ctx = registry.Context(seed=cfg.seed, data_dir=data_dir, out_dir=Path(tmp), progress=False)
            output = execute(kind.run, cfg, ctx)
        return RunRecord("", exp_name, cfg.name, kind.name, chash, "DDP_WORKER", output.metrics, output.summary,
                         Path(tmp), output.error, output.tables, version)
    tags = {"carbonshift.kind": kind.name, "carbonshift.config_hash": chash, "carbonshift.role": "run",
            "carbonshift.config_source": source, CODE_VERSION_TAG: version, PROFILE_TAG: profile, **machine_tags(),
            **forecast_tags(cfg)}
    if overrides:
        tags["carbonshift.overrides"] = overrides_text(overrides)
    with tracking.run(exp_name, cfg.name, logged_params(cfg), tags=tags) as active:
        run_id = active.info.run_id
        report_dir = run_report_dir(reports_dir or REPORTS_DIR, cfg.name, run_id)
        ctx = registry.Context(seed=cfg.seed, data_dir=data_dir, out_dir=report_dir, progress=progress)
        output = execute(kind.run, cfg, ctx)
        output.summary["code_version"] = version
        client = mlflow.MlflowClient()
        log_output(client, run_id, output)
        write_reports(output, report_dir)
        if output.error:
            client.set_tag(run_id, "carbonshift.error", output.error[:4000])
        else:
            point_latest(report_dir)
    status = "FAILED" if output.error else "FINISHED"
    if output.error:
        client.set_terminated(run_id, status="FAILED")
    return RunRecord(run_id, exp_name, cfg.name, kind.name, chash, status, output.metrics, output.summary,
                     report_dir, output.error, output.tables, version)
