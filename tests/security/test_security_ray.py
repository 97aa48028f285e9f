"""A local sweep and the Flower simulation start Ray: every socket Ray listens on must be loopback.

A sampler thread lists the listening TCP sockets (and bound UDP sockets) of this process and all its
descendants (GCS, raylet, object manager, runtime-env agent, workers) while the sweep / simulation runs."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
import yaml

from carbonshift.scheduler.federated.loopback import is_loopback

TINY_KIND_DIR = Path(__file__).resolve().parents[1] / "experiments"


class SocketSampler:
    """Collects (ip, port, process name) of every listening/bound inet socket of the process tree."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s, self.seen = interval_s, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        tree = {p.pid: p for p in [me, *me.children(recursive=True)]}
        for conn in psutil.net_connections(kind="inet"):
            listening = conn.status == psutil.CONN_LISTEN or (conn.type == 2 and not conn.raddr)  # TCP / UDP
            if conn.pid in tree and listening and conn.laddr:
                try:
                    name = tree[conn.pid].name()
                except psutil.Error:
                    name = "?"
                self.seen.add((conn.laddr.ip, conn.laddr.port, name))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> SocketSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def exposed(self) -> list[tuple[str, int, str]]:
        return sorted(s for s in self.seen if not is_loopback(s[0]))


def test_is_loopback():
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.2", "::ffff:10.0.0.1"]))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Throw-away MLflow store and a short Ray temp dir; the tiny kind importable by Ray workers."""
    ray_tmp = tempfile.mkdtemp(prefix="csray", dir="/tmp")
    pythonpath = os.pathsep.join(filter(None, [str(TINY_KIND_DIR), os.environ.get("PYTHONPATH", "")]))
    for key, value in {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "CARBONSHIFT_RAY_TMP": ray_tmp,
                       "CARBONSHIFT_KINDS": "tiny_kind", "PYTHONPATH": pythonpath}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(TINY_KIND_DIR))
    monkeypatch.setattr("carbonshift.experiments.tracking.RUNS_DIR", tmp_path / "mlruns")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield tmp_path
    shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.slow
def test_local_sweep_listens_on_loopback_only(isolated):
    import ray

    from carbonshift.experiments.sweep import run_sweep

    if ray.is_initialized():
        ray.shutdown()  # this test must see the instance the sweep itself starts
    config = isolated / "tiny.yaml"
    config.write_text(yaml.safe_dump({"kind": "tiny", "name": "loopback_sweep", "sweep": {"seed": [0, 1]}}))
    with SocketSampler() as sampler:
        record = run_sweep(config, reports_dir=isolated / "reports", num_cpus=1, progress=False)
    assert record.n_run == 2 and record.n_failed == 0
    assert len(sampler.seen) >= 3, sampler.seen  # GCS, raylet, workers… were seen listening
    assert sampler.exposed() == []


@pytest.mark.slow
def test_flower_simulation_listens_on_loopback_only():
    pytest.importorskip("flwr")
    import numpy as np

    from carbonshift.scheduler.federated.corpus import stdlib_corpus
    from carbonshift.scheduler.federated.elastic import ElasticConfig, plan_rounds
    from carbonshift.scheduler.federated.flower_app import SimulationConfig, run_plan
    from carbonshift.scheduler.federated.lm import LMConfig

    lm = LMConfig(d_model=16, n_layers=1, n_heads=2, context=16, batch_size=4)
    windows = np.array([[1, 1], [1, 1]], dtype=bool)
    plan = plan_rounds(windows, ElasticConfig(total_steps=2, steps_per_hour=1))
    ray_tmp = tempfile.mkdtemp(prefix="csfl", dir="/tmp")
    try:
        with SocketSampler() as sampler:
            outcome = run_plan(stdlib_corpus(2, 5_000, 2_000), plan, lm,
                               SimulationConfig(ray_num_cpus=2, ray_temp_dir=ray_tmp))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert outcome.rounds is not None and len(sampler.seen) >= 3, sampler.seen
    assert sampler.exposed() == []
