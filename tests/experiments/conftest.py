"""Fixtures of the experiments-layer tests: an isolated MLflow store + Ray temp dir, the tiny kind
(``tiny_kind.py``, importable by Ray workers and CLI subprocesses through PYTHONPATH), and one small
sweep shared by the sweep/report/results tests."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from carbonshift.forecast.version import code_version

HERE = Path(__file__).resolve().parent


@dataclass
class Store:
    root: Path
    uri: str
    env: dict[str, str]          # environment for CLI subprocesses

    def write_config(self, doc: dict, name: str = "tiny.yaml") -> Path:
        path = self.root / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path


def _isolate(root: Path, mp: pytest.MonkeyPatch) -> Store:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    ray_tmp = tempfile.mkdtemp(prefix="csray", dir="/tmp")  # short: Ray's socket paths must be < 107 bytes
    pythonpath = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))
    env = {"MLFLOW_TRACKING_URI": uri, "CARBONSHIFT_RAY_TMP": ray_tmp, "CARBONSHIFT_KINDS": "tiny_kind",
           "PYTHONPATH": pythonpath, "CARBONSHIFT_RUNS_DIR": str(root / "mlruns")}
    for key, value in env.items():
        mp.setenv(key, value)
    mp.setattr("carbonshift.experiments.tracking.RUNS_DIR", root / "mlruns")
    # the code version is part of a trial's identity; pin this process's to one snapshot so commits landing in
    # the shared work tree mid-test do not make a resume look like other code (test_provenance_* patches it)
    snapshot = code_version()
    for where in ("carbonshift.experiments.runner.code_version", "carbonshift.experiments.sweep.code_version"):
        mp.setattr(where, lambda: snapshot)
    return Store(root, uri, {**os.environ, **env})


@pytest.fixture
def store(tmp_path: Path):
    with pytest.MonkeyPatch.context() as mp:
        s = _isolate(tmp_path, mp)
        yield s
        shutil.rmtree(s.env["CARBONSHIFT_RAY_TMP"], ignore_errors=True)


TINY_SWEEP = {"kind": "tiny", "name": "tiny_sweep", "forecast": {"error_model": "gaussian"},
              "sweep": {"forecast.accuracy": [0.6, 1.0], "seed": {"start": 0, "stop": 1}}}


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray instance for the in-process sweeps of the session (Ray takes seconds to start);
    ``run_sweep`` reuses it and leaves it running."""
    import ray

    from carbonshift.experiments.ray_setup import init_ray

    with pytest.MonkeyPatch.context() as mp:
        s = _isolate(tmp_path_factory.mktemp("ray"), mp)
        assert init_ray(2)
        yield
        ray.shutdown()
        shutil.rmtree(s.env["CARBONSHIFT_RAY_TMP"], ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory, ray_local):
    """One 4-trial sweep (accuracy 0.6/1.0 × seeds 0/1) of the tiny kind on local Ray."""
    from carbonshift.experiments.sweep import run_sweep

    with pytest.MonkeyPatch.context() as mp:
        s = _isolate(tmp_path_factory.mktemp("sweep"), mp)
        record = run_sweep(s.write_config(TINY_SWEEP), reports_dir=s.root / "reports", progress=False)
        yield s, record
        shutil.rmtree(s.env["CARBONSHIFT_RAY_TMP"], ignore_errors=True)
