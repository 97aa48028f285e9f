"""Simulator invariants, capacity, oracle optimality, failures, policy errors."""
import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.metrics import hour_of_day_table, policy_metrics, region_table
from carbonshift.scheduler.policies.base import Decisions
from carbonshift.scheduler.policies.oracle import Oracle, OracleBound
from carbonshift.scheduler.policies.registry import NAMES, make_policy
from carbonshift.scheduler.signals import controlled_error
from carbonshift.scheduler.simulator import DONE, PolicyError, SimConfig, check_invariants, simulate


def _total(out):
    return float(out.carbon_op_kg.sum() + out.carbon_tr_kg.sum())


@pytest.fixture(scope="module")
def tight(carbon):
    """Capacity well below peak demand: 80 jobs on 3 × 192 GPUs."""
    dc = DataCenters.uniform(carbon.regions, gpus=192)
    jobs = generate(GeneratorSpec(n_jobs=80, span_h=120), dc.n, seed=5)
    return dc, jobs


@pytest.mark.parametrize("name", NAMES)
def test_capacity_never_exceeded_and_no_job_lost(carbon, tight, name):
    dc, jobs = tight
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=1)
    out = simulate(jobs, carbon, fc, dc, make_policy(name, dc, seed=1), SimConfig(failure_rate_per_h=0.01, seed=2))
    assert (out.usage <= dc.gpus[:, None]).all()
    assert out.usage.max() > 0.6 * dc.gpus.min()                   # the instance really is tight
    fate = (out.status == DONE) | np.isin(np.arange(len(jobs)), list(out.reasons))
    assert fate.all()
    late = (out.status == DONE) & (out.finish > jobs.deadline_h)
    assert all(out.reasons[i].startswith("late") for i in np.flatnonzero(late))
    done = out.status == DONE
    assert (out.finish[done] - out.start[done] >= jobs.duration_h[done]).all()   # ran at least its duration
    pf = simulate(jobs, carbon, fc, dc, make_policy("performance_first", dc, seed=1),
                  SimConfig(failure_rate_per_h=0.01, seed=2))
    kg, pf_kg = _total(out), _total(pf)
    half = {s: OracleBound(s, "exact MILP", 0.5 * pf_kg, np.zeros(len(jobs), bool), np.full(len(jobs), -1))
            for s in ("contiguous", "preemptive")}       # a bound covering no job: every outcome compares
    m = policy_metrics(out, pf_kg, half)
    assert m["carbon_kg"] == pytest.approx(kg)
    assert m["reduction_vs_perf_first"] == pytest.approx((pf_kg - kg) / pf_kg * 100.0)
    assert m["oracle_share"] == pytest.approx((pf_kg - kg) / (0.5 * pf_kg) * 100.0)
    if name == "performance_first":                 # same seeds → the very same run
        assert m["reduction_vs_perf_first"] == pytest.approx(0.0, abs=1e-9)
    elif name not in ("random", "round_robin"):     # carbon-aware: less carbon than Performance-First
        assert m["reduction_vs_perf_first"] > 0
    assert 0 <= m["deadline_rate"] <= 100 and m["failures"] > 0
    assert len(region_table(out)) == dc.n and len(hour_of_day_table(out)) == 24


@pytest.mark.slow   # MILP
@pytest.mark.parametrize("seed,gpus", [(0, 4096), (1, 256), (2, 256)])
def test_oracle_is_at_most_every_policy(carbon, seed, gpus):
    dc = DataCenters.uniform(carbon.regions, gpus=gpus)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=96, profiling_error=0.0), dc.n, seed=seed)
    fc = controlled_error(carbon, "accuracy", accuracy=0.9, seed=seed)
    oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=60)
    best = simulate(jobs, carbon, None, dc, oracle)
    assert oracle.bound.schedule_kg == pytest.approx(_total(best), rel=1e-6)     # the plan is what ran
    assert oracle.bound_kg == pytest.approx(_total(best), rel=oracle.mip_rel_gap)  # dual bound within the gap
    assert oracle.bound_kg <= _total(best) + 1e-6
    compared = 0
    assert oracle.bound.kind == ("exact MILP" if gpus < 1000 else "exact, capacity not binding")
    for name in NAMES:
        if name == "cooperative_suspend":   # the oracle optimises contiguous runs only
            continue
        out = simulate(jobs, carbon, fc, dc, make_policy(name, dc, seed=seed))
        if out.on_time.all():       # the oracle optimises over on-time schedules
            assert _total(best) <= _total(out) + 1e-6, name
            compared += 1
    assert compared >= 1


@pytest.mark.slow   # MILP
def test_milp_beats_lp_rounding_and_lp_bounds_milp(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=256)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=96, profiling_error=0.0), dc.n, seed=1)
    milp = Oracle(dc, max_jobs_milp=100, time_limit_s=60)
    lp = Oracle(dc, max_jobs_milp=5, time_limit_s=60, search=False)     # LP bound + rounding only
    a, b = simulate(jobs, carbon, None, dc, milp), simulate(jobs, carbon, None, dc, lp)
    assert milp.bound.kind == "exact MILP" and lp.bound.kind == "LP bound"
    assert lp.bound_kg <= milp.bound_kg + 1e-6 <= _total(b) + 2e-6
    assert _total(a) <= _total(b) + 1e-6


def test_failures_roll_back_and_cost_carbon(carbon):
    dc = DataCenters.uniform(carbon.regions)
    jobs = generate(GeneratorSpec(n_jobs=60, span_h=96), dc.n, seed=3)
    fc = controlled_error(carbon, "perfect")
    clean = simulate(jobs, carbon, fc, dc, make_policy("performance_first", dc))
    failing = simulate(jobs, carbon, fc, dc, make_policy("performance_first", dc),
                       SimConfig(failure_rate_per_h=0.05, seed=1))
    hit = failing.failures > 0
    assert hit.sum() > 5
    assert (failing.energy_kwh[hit] > clean.energy_kwh[hit]).all()
    assert (failing.finish[hit] > clean.finish[hit]).all()
    assert (failing.status == DONE).all()


def test_over_capacity_decision_is_rejected(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=8)
    jobs = generate(GeneratorSpec(n_jobs=3, span_h=2), dc.n, seed=0)

    class Greedy:
        name, clairvoyant = "bad", False

        def plan(self, jobs, idx, now, state, view):
            idx = np.asarray(idx)
            return Decisions(idx, jobs.home[idx], np.maximum(jobs.submit_h[idx], now), jobs.est_duration_h[idx])

        def adapt(self, event, jobs, now, state, view):
            return self.plan(jobs, event.jobs, now, state, view)

    with pytest.raises(PolicyError, match="over capacity"):
        simulate(jobs, carbon, controlled_error(carbon, "perfect"), dc, Greedy())


def test_carbon_aware_policies_cut_carbon_on_real_data(carbon):
    dc = DataCenters.uniform(carbon.regions)
    jobs = generate(GeneratorSpec(n_jobs=150, span_h=200), dc.n, seed=7)
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, seed=7)
    pf = _total(simulate(jobs, carbon, fc, dc, make_policy("performance_first", dc)))
    coop = simulate(jobs, carbon, fc, dc, make_policy("cooperative", dc))
    assert _total(coop) < 0.9 * pf
    check_invariants(coop, dc)


def test_suspend_resume_charges_overhead_and_respects_capacity(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=512)
    jobs = generate(GeneratorSpec(n_jobs=60, span_h=120, profiling_error=0.0), dc.n, seed=4)
    fc = controlled_error(carbon, "perfect")
    out = simulate(jobs, carbon, fc, dc, make_policy("cooperative_suspend", dc))
    split = out.suspensions > 0
    assert split.sum() >= 5                                       # some jobs really were split
    assert (out.usage <= dc.gpus[:, None]).all()
    # a job suspended k times runs ≥ duration + 2·k·overhead hours of energy
    hours_run = out.energy_kwh / (jobs.power_kw * dc.pue[out.region])
    need = jobs.duration_h + 2 * out.suspensions * jobs.ckpt_overhead_h
    assert (hours_run[split] >= need[split] - 1e-6).all()
    assert (out.finish[split] - out.start[split] > hours_run[split] - 1e-6).all()   # gaps in between
    contiguous = simulate(jobs, carbon, fc, dc, make_policy("cooperative", dc))
    assert _total(out) < _total(contiguous)                       # with a perfect forecast, splitting pays


@pytest.mark.slow   # MILP
def test_oracle_bound_survives_repairs_after_failures(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=256)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=96), dc.n, seed=1)
    oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=60)
    out = simulate(jobs, carbon, None, dc, oracle, SimConfig(failure_rate_per_h=0.05, seed=3))
    assert len(out.adapt_ms) > 0                                  # failures forced re-placements
    clean = Oracle(dc, max_jobs_milp=100, time_limit_s=60)
    simulate(jobs, carbon, None, dc, clean)
    assert oracle.bound_kg == pytest.approx(clean.bound_kg, rel=1e-9)
