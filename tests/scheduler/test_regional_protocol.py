"""Regional schedulers coordinating by deltas (spec 000 §4.1): the same schedule as the centralised
cooperative policy, no job lost or double-booked when a scheduler dies or a delta is lost, duplicated or
late, diverged replicas repaired, and deltas far smaller than full-state sync."""
from __future__ import annotations

import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.base import ClusterState
from carbonshift.scheduler.policies.registry import PolicyOptions, make_policy
from carbonshift.scheduler.regional import Coordinator, InProcess, Regional, RegionState, Request
from carbonshift.scheduler.regional.messages import diff
from carbonshift.scheduler.regional.region import RegionalScheduler
from carbonshift.scheduler.signals import PolicyView, controlled_error
from carbonshift.scheduler.simulator import DONE, SimConfig, simulate


@pytest.fixture(scope="module")
def tight(carbon):
    """Capacity well below peak demand: 80 jobs on 3 × 192 GPUs, 80 % forecast accuracy."""
    dc = DataCenters.uniform(carbon.regions, gpus=192)
    jobs = generate(GeneratorSpec(n_jobs=80, span_h=120), dc.n, seed=5)
    return dc, jobs, controlled_error(carbon, "accuracy", accuracy=0.8, seed=1)


class Faulty(InProcess):
    """In-process transport that injects ``faults[k] = [(kind, region), …]`` before the k-th round."""

    def __init__(self, dc: DataCenters, n_hours: int, faults: dict[int, list[tuple[str, int]]]):
        super().__init__(dc.gpus, dc.pue, n_hours)
        self.faults, self.k = faults, 0

    def step_many(self, requests):
        for kind, r in self.faults.get(self.k, []):
            getattr(self, kind)(r)
        self.k += 1
        return super().step_many(requests)


def _run(carbon, tight, transport=None):
    dc, jobs, fc = tight
    policy = Regional(dc) if transport is None else Regional(dc, transport)
    out = simulate(jobs, carbon, fc, dc, policy, SimConfig(failure_rate_per_h=0.01, seed=2))
    return policy, out


def _assert_ledgers_consistent(policy: Regional, dc: DataCenters, transport: InProcess) -> None:
    """Every job is held by at most one region, and no region's ledger over-books its capacity."""
    seen: set[int] = set()
    for r, region in enumerate(transport.regions):
        ledger = region.state.ledger
        assert not seen & set(ledger), f"job booked in two regions: {seen & set(ledger)}"
        seen |= set(ledger)
        booked = np.zeros(policy.coordinator.T, np.int64)
        for start, hours, gpus in ledger.values():
            booked[start:start + hours] += gpus
        assert (booked <= dc.gpus[r]).all()
        assert region.state.digest() == policy.coordinator.replica[r].digest()     # replica in sync at the end


def test_regional_reproduces_centralised_cooperative(carbon, tight):
    """Fresh replicas: the regional schedulers place every job where Algorithm 1 does."""
    dc, jobs, fc = tight
    coop = simulate(jobs, carbon, fc, dc, make_policy("cooperative", dc), SimConfig(failure_rate_per_h=0.01, seed=2))
    policy, out = _run(carbon, tight)
    assert (out.region == coop.region).all() and (out.start == coop.start).all()
    assert out.carbon_op_kg.sum() == pytest.approx(coop.carbon_op_kg.sum())
    assert (out.usage <= dc.gpus[:, None]).all()
    m = policy.sync_metrics(carbon.n_hours)
    assert m["messages_per_h"] >= 2 * 4 * dc.n                # 4 rounds/h, a request and a delta per region
    assert m["bytes_per_h_delta"] < m["bytes_per_h_full"] / 5   # deltas ≪ full state
    assert m["resyncs"] == m["restarts"] == m["stale_discarded"] == 0
    assert m["decision_delay_min_mean"] == 15.0               # placed in the first routing round (:15)


@pytest.mark.parametrize("faults,counter", [
    ({3: [("kill", 0)], 40: [("kill", 2)], 41: [("kill", 1)]}, "restarts"),
    ({5: [("crash_after_next", 1)], 60: [("crash_after_next", 0)]}, "restarts"),
    ({5: [("drop_next", 0)], 30: [("drop_next", 2)], 31: [("drop_next", 1)]}, "gaps"),
    ({7: [("delay_next", 1)], 50: [("delay_next", 0)]}, "stale_discarded"),
    ({k: [(("kill", "drop_next", "delay_next", "crash_after_next")[k % 4], k % 3)] for k in range(2, 400, 5)},
     "silent"),                                                 # every kind, often, in every region
])
def test_faults_keep_every_job_once_and_the_schedule(carbon, tight, faults, counter):
    """A killed scheduler restarted from the last synced state, a reply lost with its scheduler, a lost
    delta and a late (out-of-order) delta: no job lost or double-booked, the schedule is the fault-free one
    (a silent region is probed within the round and routes that died with a scheduler are re-sent first)."""
    dc, jobs, _ = tight
    _, clean = _run(carbon, tight)
    transports: list[Faulty] = []

    def make(dc_: DataCenters, n_hours: int) -> Faulty:
        transports.append(Faulty(dc_, n_hours, faults))
        return transports[-1]

    policy, out = _run(carbon, tight, make)
    m = policy.sync_metrics(carbon.n_hours)
    assert m[counter] >= 1                                      # the fault really happened and was handled
    assert (out.region == clean.region).all() and (out.start == clean.start).all()
    assert ((out.status == DONE) | np.isin(np.arange(len(jobs)), list(out.reasons))).all()
    assert (out.usage <= dc.gpus[:, None]).all()
    _assert_ledgers_consistent(policy, dc, transports[0])


def _coordinator(carbon, tight):
    dc, jobs, fc = tight
    transport = InProcess(dc.gpus, dc.pue, carbon.n_hours)
    coord = Coordinator(dc, transport, carbon.n_hours)
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, carbon.n_hours), np.int64))
    return dc, jobs, fc, transport, coord, state


def test_sequence_gap_and_digest_mismatch_are_repaired(carbon, tight):
    dc, jobs, fc, transport, coord, state = _coordinator(carbon, tight)
    first = np.flatnonzero(jobs.submit_h == 0)
    dec = coord.decide(jobs, first, 0, state, PolicyView(carbon, fc, 0))
    assert (dec.region >= 0).all()
    for i, r, s, h in zip(dec.job, dec.region, dec.start, dec.hours):   # the simulator applies the decisions
        state.reserved[r, s:s + h] += jobs.gpus[i]
    coord.replica[1].reserved[-1] += 5                           # a diverged replica (a stale delta applied)
    transport.drop_next(2)                                       # region 2's next delta is lost
    coord.decide(jobs, np.zeros(0, np.int64), 1, state, PolicyView(carbon, fc, 1))
    assert coord.stats.digest_mismatches == 1
    coord.decide(jobs, np.zeros(0, np.int64), 2, state, PolicyView(carbon, fc, 2))
    assert coord.stats.gaps == 1 and coord.stats.bytes_repair > 0
    for r in range(dc.n):
        assert coord.replica[r].digest() == transport.regions[r].state.digest()


def test_duplicate_delta_is_discarded_and_state_stays(carbon, tight):
    dc, jobs, fc, transport, coord, state = _coordinator(carbon, tight)
    coord.decide(jobs, np.flatnonzero(jobs.submit_h == 0), 0, state, PolicyView(carbon, fc, 0))
    before = coord.replica[0].digest()
    old = diff(0, coord.replica[0].seq, RegionState.empty(0, 192, carbon.n_hours), coord.replica[0], ())
    coord._receive(0, old)                                      # a replayed delta: seq not newer
    assert coord.stats.stale == 1 and coord.replica[0].digest() == before


def test_delta_carries_only_changes(carbon):
    s = RegionState.empty(0, 100, carbon.n_hours)
    region = RegionalScheduler(s, 1.1)
    region.observe(0, 100, np.zeros(carbon.n_hours, np.int64), carbon.ci[0, :48])
    first = region.step(Request(0, 0))
    assert len(first.forecast_hours) == 48 and first.seq == 1
    reserved = np.zeros(carbon.n_hours, np.int64)
    reserved[10:13] = 8
    region.observe(1, 100, reserved, carbon.ci[0, 1:49])         # one new forecast hour, 3 hours reserved
    d = region.step(Request(1, 0))
    assert d.seq == 2 and d.reserved_hours.tolist() == [10, 11, 12] and d.forecast_hours.tolist() == [48]
    assert d.capacity is None and not d.added
    region.observe(2, 64, reserved, carbon.ci[0, 2:50])          # capacity change (e.g. a failed rack)
    c = region.step(Request(2, 0))
    assert c.capacity == 64 and len(c.reserved_hours) == 0
    replica = RegionState.empty(0, 100, carbon.n_hours)
    for delta in (first, d, c):
        replica.apply(delta)
        assert replica.digest() == delta.digest


def test_bad_inputs_name_the_problem(carbon, tight):
    dc, jobs, fc, transport, coord, state = _coordinator(carbon, tight)
    short = ClusterState(state.capacity, state.reserved[:, :10])
    with pytest.raises(ValueError, match="cluster state has shape"):
        coord.decide(jobs, np.zeros(0, np.int64), 0, short, PolicyView(carbon, fc, 0))
    with pytest.raises(ValueError, match="observed"):
        transport.regions[0].observe(0, 10, np.zeros(5, np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="regional_transport"):
        PolicyOptions(regional_transport="grpc")
    with pytest.raises(ValueError, match="carbonshift.experiments.regional_ray"):
        make_policy("regional", dc, options=PolicyOptions(regional_transport="ray"))


def test_delay_weight_matches_cooperative(carbon, tight):
    """A delay penalty (kgCO2e per hour) moves the regional placements exactly as Algorithm 1's."""
    from carbonshift.scheduler.policies.cooperative import Cooperative

    dc, jobs, fc = tight
    cfg = SimConfig(seed=2)
    coop = simulate(jobs, carbon, fc, dc, Cooperative(dc, delay_weight_kg_per_h=2.0), cfg)
    out = simulate(jobs, carbon, fc, dc, Regional(dc, delay_weight_kg_per_h=2.0), cfg)
    plain = simulate(jobs, carbon, fc, dc, Regional(dc), cfg)
    assert (out.start == coop.start).all() and (out.region == coop.region).all()
    assert (out.start != plain.start).any()                      # the weight really changes the schedule
    with pytest.raises(ValueError, match="delay_weight_kg_per_h"):
        Regional(dc, delay_weight_kg_per_h=-1.0)


def test_registry_passes_the_delay_weight(tight):
    dc = tight[0]
    assert make_policy("regional", dc, options=PolicyOptions(delay_weight_kg_per_h=1.5)).delay_weight == 1.5
