"""Data residency (``DataCenters.residency``): every policy and the oracle run each job in its home region."""
import numpy as np
import pytest

from carbonshift.scheduler.datacenters import RESIDENT_TRANSFER_H, DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.base import Decisions
from carbonshift.scheduler.policies.oracle import Oracle
from carbonshift.scheduler.policies.registry import NAMES, make_policy
from carbonshift.scheduler.signals import controlled_error
from carbonshift.scheduler.simulator import DONE, PolicyError, simulate


@pytest.fixture(scope="module")
def pinned(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=1024, residency=True)
    jobs = generate(GeneratorSpec(n_jobs=60, span_h=96), dc.n, seed=3)
    return dc, jobs


def test_residency_transfer_is_never(pinned):
    dc, jobs = pinned
    assert (dc.transfer_hours(jobs.data_gb) == RESIDENT_TRANSFER_H).all()
    assert (DataCenters.uniform(dc.regions).transfer_hours(jobs.data_gb) < 10).all()


@pytest.mark.parametrize("name", NAMES)
def test_every_policy_keeps_jobs_home(carbon, pinned, name):
    dc, jobs = pinned
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, seed=0)
    out = simulate(jobs, carbon, fc, dc, make_policy(name, dc, seed=0))
    ran = out.start >= 0
    assert ran.any() and (out.region[ran] == jobs.home[ran]).all()
    assert out.carbon_tr_kg.sum() == 0.0


def test_oracle_keeps_jobs_home(carbon, pinned):
    dc, jobs = pinned
    out = simulate(jobs, carbon, None, dc, Oracle(dc, max_jobs_milp=0))
    assert (out.status == DONE).all() and (out.region == jobs.home).all()


class _Away:
    """A broken policy that starts every job in the next region."""

    name, clairvoyant = "away", False

    def __init__(self, dc):
        self.dc = dc

    def plan(self, jobs, idx, now, state, view):
        return self.adapt(None, jobs, now, state, view)

    def adapt(self, event, jobs, now, state, view):
        idx = np.asarray(event.jobs)
        start = np.maximum(jobs.submit_h[idx], now) + 1
        return Decisions(idx, (jobs.home[idx] + 1) % self.dc.n, start, jobs.est_duration_h[idx])


def test_simulator_rejects_a_remote_start(carbon, pinned):
    dc, jobs = pinned
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, seed=0)
    with pytest.raises(PolicyError, match="earliest allowed"):
        simulate(jobs, carbon, fc, dc, _Away(dc))
