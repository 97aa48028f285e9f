"""What an MLflow run records about itself besides its results: its identity, where it ran, what it read and
which config values it logs as params.

- :func:`config_hash`: the trial identity (``carbonshift.config_hash``) — sha256 of kind + resolved config + code
  version, so a trial finished under other code is another trial (sweeps resume by it);
- :func:`machine_tags`: host, CPUs, memory, Python, Ray address;
- :func:`overrides_text`: the ``carbonshift.overrides`` tag (``--set`` values);
- :func:`data_tag`: the :data:`DATA_TAG` value for the data files a run read;
- :func:`forecast_tags`: for ``forecast.source: table``, the table, its sha256 and the run that wrote it;
- :func:`logged_params`: the resolved config as logged params (the synthetic-forecast knobs left out of a
  ``forecast.source: table`` run).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from carbonshift.experiments.config import as_dict
from carbonshift.experiments.provenance import code_version, project_relative
from carbonshift.experiments.tracking import forecast_table_path

DATA_TAG = "carbonshift.data_sha256"
#: forecast keys that only shape the synthetic forecast; not logged as params of a ``forecast.source: table`` run
SYNTHETIC_FORECAST_KEYS: tuple[str, ...] = ("error_model", "accuracy", "k", "e", "correlation_h")
RUN_ID_LENGTH = 32   # MLflow run ids: 32 hex digits


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


def overrides_text(overrides: dict[str, Any]) -> str:
    """The ``carbonshift.overrides`` tag: ``key=<JSON value>`` pairs, space-separated, at most 5000 characters."""
    return " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in overrides.items())[:5000]


def data_tag(files: dict[str, str]) -> str:
    """Tag value for the data a run read: ``<file>:<first 12 hex of sha256>`` joined by spaces (MLflow caps tag
    length; the full digests are the ``data_files.json`` artifact)."""
    text = " ".join(f"{name}:{digest[:12]}" for name, digest in files.items())
    return text if len(text) <= 5000 else f"{text[:4990]} …"


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
    table_path = getattr(forecast, "table_path", None)
    if getattr(forecast, "source", None) != "table" or not table_path:
        return {}

    try:
        path = forecast_table_path(table_path).resolve()   # follows reports/<name>/latest
    except FileNotFoundError:
        return {}   # the kind reports the missing table as the run's error
    tags = {"carbonshift.forecast_table": project_relative(path),
            "carbonshift.forecast_table_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    run_dir = path.parent.name
    if len(run_dir) == RUN_ID_LENGTH and all(c in "0123456789abcdef" for c in run_dir):
        tags["carbonshift.forecast_run_id"] = run_dir
    return tags
