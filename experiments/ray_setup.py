"""Starting Ray for this project: the sweeps (:mod:`experiments.sweep`), tuning (``kind: tune``), the Ray-hosted
regional schedulers (:mod:`experiments.regional_ray`) and the Flower simulation's session folder.

A local instance (``num_cpus`` CPUs) listens on 127.0.0.1 only (:mod:`scheduler.federated.loopback`) unless
``RAY_ADDRESS`` names a cluster; its temp dir is ``<runs dir>/ray`` (``CARBONSHIFT_RAY_TMP`` overrides — Unix
socket paths must stay < 107 bytes); usage stats, dashboard and worker log forwarding are off. On a cluster
the workers get the package from a source checkout with secret-looking files left out
(:data:`SECRET_EXCLUDES`) and the environment of :data:`FORWARDED_ENV`. Ray itself is imported only when
:func:`init_ray` runs.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from carbonshift.experiments import tracking
from carbonshift.forecast.version import PROJECT_ROOT
from carbonshift.scheduler.federated import loopback

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_DEDUP_LOGS": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}

#: environment a trial needs on a cluster's workers (data folder, plugin modules, how MLflow/Ray are reached)
FORWARDED_ENV: tuple[str, ...] = ("CARBONSHIFT_DATA_DIR", "CARBONSHIFT_KINDS", "CARBONSHIFT_POLICIES", "CARBONSHIFT_FORECASTERS",
                                  "PYTHONPATH")
#: files that look like secrets (gitignore patterns, any depth): never shipped to a cluster
SECRET_EXCLUDES: list[str] = [".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks",
                              "*.keystore", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".ssh", ".aws", ".gnupg",
                              ".netrc", ".pgpass", ".git-credentials", ".pypirc", ".docker", ".kube", "credentials",
                              "credentials.*", "*credentials*.json", "*secret*", "*token*.json", "*.kdbx",
                              "service-account*.json"]
#: what never travels to a cluster with the package
SHIP_EXCLUDES: list[str] = [".venv", ".git", "mlruns", "reports", "lightning_logs", "checkpoints", "**/__pycache__",
                            *SECRET_EXCLUDES]


def cluster_runtime_env() -> dict[str, Any]:
    """``runtime_env`` for a sweep on an existing Ray cluster (``RAY_ADDRESS``): the environment variables of
    :data:`FORWARDED_ENV` that are set here, and, from a source checkout, the project folder as the workers'
    ``working_dir`` (the package travels with the job, :data:`SHIP_EXCLUDES` left out — secret-looking files
    such as ``.env``, credentials files and keys among them, :data:`SECRET_EXCLUDES`). The data folder is
    not shipped: ``CARBONSHIFT_DATA_DIR`` / ``--data-dir`` must name a path the workers can read."""
    env: dict[str, Any] = {"env_vars": {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}}
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        env.update(working_dir=str(PROJECT_ROOT), excludes=list(SHIP_EXCLUDES))
    return env


def ray_temp_dir() -> Path:
    return Path(os.environ.get("CARBONSHIFT_RAY_TMP") or tracking.RUNS_DIR / "ray").resolve()


def init_ray(num_cpus: int = 2) -> bool:
    """Start (or connect to, with ``RAY_ADDRESS``) Ray quietly; returns True if this call started it."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    address = os.environ.get("RAY_ADDRESS")
    if address:   # trial errors come back as results and are logged on the driver; worker logs stay there
        ray.init(address=address, runtime_env=cluster_runtime_env(), **quiet)
    else:
        tmp = ray_temp_dir()
        tmp.mkdir(parents=True, exist_ok=True)
        loopback.prepare()  # a local instance listens on 127.0.0.1 only (scheduler.federated.loopback)
        ray.init(num_cpus=num_cpus, _temp_dir=str(tmp), _node_ip_address="127.0.0.1", **quiet)
        loopback.verify()
    return True
