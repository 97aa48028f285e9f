"""Regional schedulers as Ray actors (local loopback Ray): an actor killed mid-run is restarted by Ray,
restored from the coordinator's last synced state, and the schedule is the in-process one."""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.regional import Regional
from carbonshift.scheduler.signals import controlled_error
from carbonshift.scheduler.simulator import SimConfig, simulate

pytestmark = pytest.mark.slow      # starts a local Ray instance


def test_killed_actor_is_restored_and_keeps_the_schedule(carbon, monkeypatch):
    pytest.importorskip("ray")
    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")       # Ray's socket paths must stay < 108 bytes
    monkeypatch.setenv("CARBONSHIFT_RAY_TMP", short)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    from carbonshift.experiments.regional_ray import RayTransport

    dc = DataCenters.uniform(carbon.regions, gpus=192)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=72), dc.n, seed=5)
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=1)
    cfg = SimConfig(failure_rate_per_h=0.01, seed=2)
    clean = simulate(jobs, carbon, fc, dc, Regional(dc), cfg)

    class Killing(RayTransport):
        k = 0

        def step_many(self, requests):
            if self.k in (4, 30):
                self.kill(1 if self.k == 4 else 0)
            self.k += 1
            return super().step_many(requests)

    made: list[Killing] = []

    def make(dc_: DataCenters, n_hours: int) -> Killing:
        made.append(Killing(dc_, n_hours))
        return made[-1]

    policy = Regional(dc, make)
    try:
        out = simulate(jobs, carbon, fc, dc, policy, cfg)
    finally:
        policy.close()
        shutil.rmtree(short, ignore_errors=True)
    m = policy.sync_metrics(carbon.n_hours)
    assert m["restarts"] >= 2
    assert (out.region == clean.region).all() and (out.start == clean.start).all()
    assert (out.usage <= dc.gpus[:, None]).all()
    assert np.isfinite(m["decision_ms_mean"]) and m["bytes_per_h_delta"] < m["bytes_per_h_full"]
