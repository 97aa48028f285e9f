"""Oracle bounds on small tight instances: the exact contiguous oracle equals brute force, every feasible
on-time schedule costs at least the bound, the preemptive bound is below the contiguous one (and equals
brute force on tiny instances), LP rounding never crashes and stays capacity-feasible, the time limit is
a total, and oracle_share compares a policy only with the bound of its own constraint set."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.metrics import constraint_set, oracle_comparison, policy_metrics
from carbonshift.scheduler.policies.base import ClusterState, JobsView
from carbonshift.scheduler.policies.oracle import (CONTIGUOUS, DUAL_BOUND, EXACT_FREE, EXACT_MILP, INFEASIBLE, LP_BOUND, Oracle,
                                       OracleBound)
from carbonshift.scheduler.policies.oracle_bounds import instance_bounds, slack_finish
from carbonshift.scheduler.policies.oracle_preemptive import preemptive_bound
from carbonshift.scheduler.signals import CarbonSignal, OracleView
from carbonshift.scheduler.simulator import simulate
from carbonshift.scheduler.workloads import Jobs, deadlines

T = 48
LIMIT_S = 20.0          # every oracle call passes an explicit total time limit


def _carbon(rng: np.random.Generator, R: int) -> CarbonSignal:
    """Synthetic hourly intensity (gCO2eq/kWh): a daily wave with a random phase per region plus noise."""
    hours = np.arange(T)
    phase = rng.uniform(0, 24, R)[:, None]
    ci = 300 + 150 * np.sin(2 * np.pi * (hours[None, :] + phase) / 24) + rng.uniform(-40, 40, (R, T))
    times = pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC")
    return CarbonSignal(ci, np.full((R, T), 30.0), times, [f"R{r}" for r in range(R)])


def _jobs(rng: np.random.Generator, n: int, R: int, est_err: bool = False) -> Jobs:
    """``n`` jobs of 2–6 h on 2–4 GPUs, submitted in the first 14 h, windows of duration + 0–5 h."""
    d = rng.integers(2, 7, n)
    est = np.maximum(d + (rng.integers(-1, 2, n) if est_err else 0), 1)
    flex = rng.integers(0, 6, n) / est
    submit = rng.integers(0, 14, n)
    z = np.zeros(n)
    return Jobs(id=np.arange(n), type=np.zeros(n, np.int8), submit_h=submit, gpus=rng.integers(2, 5, n),
                duration_h=d, est_duration_h=est, flex=flex, deadline_h=deadlines(submit, est, flex),
                ckpt_interval_h=np.ones(n), ckpt_overhead_h=z + 0.05, gpu_kw=z + 0.7,
                data_gb=rng.choice([0.0, 200.0, 600.0], n), home=rng.integers(0, R, n))


def _instance(seed: int):
    rng = np.random.default_rng(seed)
    R = int(rng.integers(2, 4))
    n = int(rng.integers(4, 7))
    carbon = _carbon(rng, R)
    jobs = _jobs(rng, n, R)
    dc = DataCenters.uniform(carbon.regions, gpus=int(rng.integers(4, 6)), pue=1.2, wan_gbps=0.5)
    return carbon, jobs, dc


def _candidates(carbon: CarbonSignal, jobs: Jobs, dc: DataCenters, i: int) -> list[tuple[float, int, int]]:
    """Every on-time contiguous (kgCO2e, region, start) of job ``i``, written out independently."""
    out = []
    tr_h = dc.transfer_hours(jobs.data_gb)
    d = int(jobs.duration_h[i])
    for r in range(dc.n):
        if jobs.gpus[i] > dc.gpus[r]:
            continue
        a = int(jobs.submit_h[i]) + (int(tr_h[i]) if r != jobs.home[i] else 0)
        for s in range(a, min(int(jobs.deadline_h[i]), T) - d + 1):
            op = sum(jobs.gpus[i] * jobs.gpu_kw[i] * dc.pue[r] * carbon.ci[r, t] / 1000.0 for t in range(s, s + d))
            tr = 0.0 if r == jobs.home[i] else (jobs.data_gb[i] * dc.network_kwh_per_gb
                                                * (carbon.ci[jobs.home[i], s] + carbon.ci[r, s]) / 2000.0)
            out.append((op + tr, r, s))
    return out


def _brute_contiguous(carbon: CarbonSignal, jobs: Jobs, dc: DataCenters) -> float:
    """Minimum carbon over all capacity-feasible on-time contiguous schedules (inf if none): exhaustive
    depth-first enumeration, pruned only by cost (an exact search)."""
    cands = [sorted(_candidates(carbon, jobs, dc, i)) for i in range(len(jobs))]
    if any(not c for c in cands):
        return float("inf")
    rest = np.append(np.cumsum([c[0][0] for c in cands][::-1])[::-1], 0.0)
    use = np.zeros((dc.n, T), np.int64)
    best = [float("inf")]

    def go(k: int, cost: float) -> None:
        if cost + rest[k] >= best[0] - 1e-9:
            return
        if k == len(jobs):
            best[0] = cost
            return
        d, g = int(jobs.duration_h[k]), int(jobs.gpus[k])
        for c, r, s in cands[k]:
            if (use[r, s:s + d] + g <= dc.gpus[r]).all():
                use[r, s:s + d] += g
                go(k + 1, cost + c)
                use[r, s:s + d] -= g

    go(0, 0.0)
    return best[0]


def _plan(oracle: Oracle, carbon: CarbonSignal, jobs: Jobs, dc: DataCenters):
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, T), np.int64))
    return oracle.plan(jobs, np.arange(len(jobs)), 0, state, OracleView(carbon, 0))


def _usage(dec, jobs: Jobs, dc: DataCenters) -> np.ndarray:
    use = np.zeros((dc.n, T), np.int64)
    for i, r, s, h in zip(dec.job, dec.region, dec.start, dec.hours):
        if r >= 0:
            use[r, s:s + h] += jobs.gpus[i]
    return use


SEEDS = list(range(16))


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_oracle_equals_brute_force_and_bounds_every_schedule(seed):
    carbon, jobs, dc = _instance(seed)
    brute = _brute_contiguous(carbon, jobs, dc)
    oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S, mip_rel_gap=0.0)
    dec = _plan(oracle, carbon, jobs, dc)
    b = oracle.bound
    assert b.constraint_set == CONTIGUOUS and b.covered.all()
    if not np.isfinite(brute):
        assert not np.isfinite(b.kg) and b.kind.startswith("infeasible")
        return
    assert b.kind in (EXACT_MILP, EXACT_FREE)
    assert b.kg == pytest.approx(brute, rel=1e-7)
    assert b.schedule_kg == pytest.approx(brute, rel=1e-7) and b.n_repaired == 0
    assert (_usage(dec, jobs, dc) <= dc.gpus[:, None]).all()
    # every feasible on-time schedule (a sample of random ones) costs at least the bound
    rng = np.random.default_rng(seed)
    cands = [_candidates(carbon, jobs, dc, i) for i in range(len(jobs))]
    checked = 0
    for _ in range(300):
        pick = [c[rng.integers(len(c))] for c in cands]
        use = np.zeros((dc.n, T), np.int64)
        for (_, r, s), d, g in zip(pick, jobs.duration_h, jobs.gpus):
            use[r, s:s + d] += g
        if (use <= dc.gpus[:, None]).all():
            assert sum(p[0] for p in pick) >= b.kg - 1e-9
            checked += 1
    assert checked >= 1 or b.kind == EXACT_MILP


def test_oracle_plans_only_on_the_true_jobs():
    carbon, jobs, dc = _instance(0)
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, T), np.int64))
    with pytest.raises(TypeError, match="true Jobs"):
        Oracle(dc, time_limit_s=LIMIT_S).plan(JobsView(jobs, T), np.arange(len(jobs)), 0, state, OracleView(carbon, 0))


def test_instances_are_tight():
    """Most of the random instances really need the capacity rows (the MILP, not the relaxed optimum)."""
    kinds = []
    for seed in SEEDS:
        carbon, jobs, dc = _instance(seed)
        oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S)
        _plan(oracle, carbon, jobs, dc)
        kinds.append(oracle.bound.kind)
    assert sum(k == EXACT_MILP for k in kinds) >= 8, kinds


def _brute_preemptive(carbon: CarbonSignal, jobs: Jobs, dc: DataCenters) -> float:
    """Minimum carbon over all capacity-feasible on-time suspend/resume schedules without resume overhead
    (each job: one region, any ``d`` hours of its window): exhaustive enumeration (jobs without data)."""
    assert (jobs.data_gb == 0).all()
    opts = []
    for i in range(len(jobs)):
        d, o = int(jobs.duration_h[i]), []
        for r in range(dc.n):
            hours = range(int(jobs.submit_h[i]), min(int(jobs.deadline_h[i]), T))
            for sel in itertools.combinations(hours, d):
                kwh = jobs.gpus[i] * jobs.gpu_kw[i] * dc.pue[r]
                o.append((sum(kwh * carbon.ci[r, t] / 1000.0 for t in sel), r, list(sel)))
        opts.append(sorted(o, key=lambda v: v[0]))
    rest = np.append(np.cumsum([o[0][0] for o in opts][::-1])[::-1], 0.0)
    use = np.zeros((dc.n, T), np.int64)
    best = [float("inf")]

    def go(k: int, cost: float) -> None:
        if cost + rest[k] >= best[0] - 1e-9:
            return
        if k == len(jobs):
            best[0] = cost
            return
        g = int(jobs.gpus[k])
        for c, r, sel in opts[k]:
            if (use[r, sel] + g <= dc.gpus[r]).all():
                use[r, sel] += g
                go(k + 1, cost + c)
                use[r, sel] -= g

    go(0, 0.0)
    return best[0]


@pytest.mark.parametrize("seed", range(6))
def test_preemptive_bound_equals_brute_force_on_tiny_instances(seed):
    rng = np.random.default_rng(100 + seed)
    carbon = _carbon(rng, 2)
    n = 4
    d = rng.integers(2, 4, n)
    flex = rng.integers(1, 4, n) / d
    submit = rng.integers(0, 5, n)
    z = np.zeros(n)
    jobs = Jobs(id=np.arange(n), type=np.zeros(n, np.int8), submit_h=submit, gpus=rng.integers(2, 4, n),
                duration_h=d, est_duration_h=d, flex=flex, deadline_h=deadlines(submit, d, flex),
                ckpt_interval_h=np.ones(n), ckpt_overhead_h=z, gpu_kw=z + 0.7, data_gb=z, home=rng.integers(0, 2, n))
    dc = DataCenters.uniform(carbon.regions, gpus=4, pue=1.2)
    pre = preemptive_bound(jobs, carbon.ci, dc, max_jobs_milp=100, time_limit_s=LIMIT_S, mip_rel_gap=0.0)
    brute = _brute_preemptive(carbon, jobs, dc)
    if not np.isfinite(brute):
        assert not np.isfinite(pre.kg)
        return
    assert pre.kind in (EXACT_MILP, EXACT_FREE)
    assert pre.kg == pytest.approx(brute, rel=1e-7)
    assert pre.kg <= _brute_contiguous(carbon, jobs, dc) + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_preemptive_bound_is_below_the_contiguous_bound(seed):
    carbon, jobs, dc = _instance(seed)
    oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S)
    _plan(oracle, carbon, jobs, dc)
    for milp in (100, 0):              # exact MILP, and the LP relaxation
        pre = preemptive_bound(jobs, carbon.ci, dc, max_jobs_milp=milp, time_limit_s=LIMIT_S)
        assert pre.constraint_set == "preemptive" and pre.kind in (EXACT_MILP, EXACT_FREE, LP_BOUND, INFEASIBLE)
        assert (pre.covered == oracle.bound.covered).all()
        assert (pre.latest_finish == oracle.bound.latest_finish).all()
        if np.isfinite(pre.kg):
            assert pre.kg <= oracle.bound.kg * (1 + 1e-4) + 1e-9
        else:
            assert not np.isfinite(oracle.bound.kg)


def test_lp_rounding_never_crashes_and_fits_capacity():
    repaired = 0
    for seed in SEEDS:
        carbon, jobs, dc = _instance(seed)
        exact = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S)
        _plan(exact, carbon, jobs, dc)
        lp = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, search=False)
        dec = _plan(lp, carbon, jobs, dc)
        b = lp.bound
        assert b.kind in (LP_BOUND, EXACT_FREE, INFEASIBLE)
        assert (_usage(dec, jobs, dc) <= dc.gpus[:, None]).all()
        assert (dec.region >= 0).sum() + len(dec.reasons) == len(jobs)
        assert b.kg <= exact.bound.kg + 1e-6                       # LP ≤ MILP (inf when no schedule)
        if b.n_repaired == 0:                                      # an on-time schedule: ≥ both bounds
            assert b.schedule_kg >= max(b.kg, exact.bound.kg) - 1e-6
            assert b.schedule_kg <= 1.5 * exact.bound.kg                # rounding + local moves stay near
            assert np.isfinite(b.gap_pct) and b.gap_pct >= -1e-6
        repaired += b.n_repaired
        out = simulate(jobs, carbon, None, dc, Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, search=False))
        assert (out.usage <= dc.gpus[:, None]).all()
    assert repaired >= 1                 # the repair path was exercised (instances without on-time schedule)


@pytest.mark.slow
def test_time_limit_is_total_across_rounds(carbon):
    """A tight 120-job MILP needs many capacity rounds; the whole solve stays near one time limit and
    reports a valid bound with its kind."""
    from carbonshift.scheduler.generators import GeneratorSpec, generate

    dc = DataCenters.uniform(carbon.regions, gpus=400)      # unlimited, HiGHS needs > 30 s on this one
    jobs = generate(GeneratorSpec(n_jobs=120, span_h=96, profiling_error=0.0), dc.n, seed=2)
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, carbon.n_hours), np.int64))
    oracle = Oracle(dc, max_jobs_milp=1000, time_limit_s=1.0, max_rounds=200)
    t0 = time.perf_counter()
    oracle.plan(jobs, np.arange(len(jobs)), 0, state, OracleView(carbon, 0))
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0 + 3.0, elapsed                 # the limit plus model building and rounding
    b = oracle.bound
    assert b.kind == DUAL_BOUND and "time limit" in oracle.solve_kind
    assert np.isfinite(b.kg) and b.kg <= b.schedule_kg + 1e-6 and b.gap_pct >= 0


@pytest.mark.slow
def test_oracle_share_only_against_the_bound_of_the_same_set():
    """Every policy that is comparable captures ≤ 100 % of the saving of its own set's bound; a late job
    or a missing bound makes the share NaN with the reason, until the bound is solved again with the
    policy's own lateness as slack; suspended jobs select the preemptive bound."""
    from dataclasses import replace

    from carbonshift.scheduler.policies.registry import NAMES, make_policy
    from carbonshift.scheduler.signals import controlled_error

    compared = {"contiguous": 0, "preemptive": 0, "slack": 0}
    for seed in SEEDS:
        carbon, jobs, dc = _instance(seed)
        jobs = replace(jobs, ckpt_overhead_h=np.zeros(len(jobs)))
        oracle = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S)
        best = simulate(jobs, carbon, None, dc, oracle)
        bounds = {"contiguous": oracle.bound,
                  "preemptive": preemptive_bound(jobs, carbon.ci, dc, 100, LIMIT_S)}
        fc = controlled_error(carbon, "perfect")
        pf = simulate(jobs, carbon, fc, dc, make_policy("performance_first", dc))
        pf_kg = float(pf.carbon_op_kg.sum() + pf.carbon_tr_kg.sum())
        for name in NAMES:
            out = simulate(jobs, carbon, fc, dc, make_policy(name, dc, seed=seed))
            bound, why = oracle_comparison(out, bounds)
            m = policy_metrics(out, pf_kg, bounds)
            if bound is None:
                assert why.startswith("not comparable") and np.isnan(m["oracle_share"])
                assert np.isnan(m["oracle_bound_kg"])
                slack = slack_finish(out, bounds[constraint_set(out)])
                if slack is None:                   # a covered job never finished: no slack helps
                    assert "unfinished or rejected" in why or not np.isfinite(bounds[constraint_set(out)].kg)
                    continue
                own = instance_bounds(jobs, carbon, dc, 100, LIMIT_S, slack[0], f"slack-matched: {slack[1]} late jobs")
                assert own[CONTIGUOUS].kg <= oracle.bound.kg + 1e-6             # wider windows, lower bound
                bound, why = oracle_comparison(out, own)
                if bound is None:                   # infeasible even with the policy's slack? impossible:
                    pytest.fail(f"{name}: its own schedule is in the slack-matched set ({why})")
                assert why.endswith(f"slack-matched: {slack[1]} late jobs")
                m = policy_metrics(out, pf_kg, own)
                assert m["oracle_bound_slack_matched"] == 1.0
                compared["slack"] += 1
            assert bound.constraint_set == ("preemptive" if (out.suspensions > 0).any() else "contiguous")
            assert why.startswith(bound.constraint_set) and m["oracle_bound_kg"] == bound.kg
            assert m["carbon_kg"] >= bound.kg - 1e-6, (seed, name)
            if pf_kg > bound.kg:
                assert m["oracle_share"] <= 100.0 + 1e-6
            compared[bound.constraint_set] += 1
        if np.isfinite(oracle.bound.kg):
            late = replace(best, finish=np.where(np.arange(len(jobs)) == 0, oracle.bound.latest_finish[0] + 1,
                                                 best.finish))
            assert oracle_comparison(late, bounds) == (None, "not comparable: 1 late jobs (the contiguous bound "
                                                             "has none)")
            split = replace(best, suspensions=np.ones(len(jobs), np.int64))
            assert oracle_comparison(split, bounds)[0] is bounds["preemptive"]
            assert oracle_comparison(split, {"contiguous": oracle.bound}) == (
                None, "not comparable: no preemptive bound")
    assert compared["contiguous"] >= 10 and compared["preemptive"] >= 1 and compared["slack"] >= 3, compared


def test_bound_labels_and_metrics():
    b = OracleBound(CONTIGUOUS, EXACT_MILP, 100.0, np.ones(3, bool), np.full(3, 10), schedule_kg=110.0)
    assert b.label == "oracle (exact MILP)" and b.gap_pct == pytest.approx(10.0)
    m = b.metrics("oracle")
    assert m["oracle.bound_kg"] == 100.0 and m["oracle.gap_pct"] == pytest.approx(10.0) and m["oracle.n_covered"] == 3
    p = OracleBound("preemptive", LP_BOUND, 90.0, np.ones(3, bool), np.full(3, 10))
    assert p.label == "oracle_preemptive (LP bound)" and np.isnan(p.gap_pct)
    with pytest.raises(ValueError, match="time_limit_s"):
        Oracle(DataCenters.uniform(["A"]), time_limit_s=0)


def test_preemptive_time_limit_is_total_and_still_bounds(carbon):
    """A 40-job preemptive MILP that HiGHS cannot close in 0.3 s: the call ends near the limit and reports
    max(dual, LP) — still below the exact contiguous bound."""
    from carbonshift.scheduler.generators import GeneratorSpec, generate

    dc = DataCenters.uniform(carbon.regions, gpus=256)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=96, profiling_error=0.0), dc.n, seed=1)
    t0 = time.perf_counter()
    pre = preemptive_bound(jobs, carbon.ci, dc, max_jobs_milp=1000, time_limit_s=0.3)
    assert time.perf_counter() - t0 < 0.3 + 2.0
    assert pre.kind in (DUAL_BOUND, LP_BOUND) and np.isfinite(pre.kg)
    oracle = Oracle(dc, max_jobs_milp=1000, time_limit_s=LIMIT_S)
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, carbon.n_hours), np.int64))
    oracle.plan(jobs, np.arange(len(jobs)), 0, state, OracleView(carbon, 0))
    assert oracle.bound.kind == EXACT_MILP and pre.kg <= oracle.bound.kg


def _schedule_of(dec, jobs: Jobs) -> tuple[np.ndarray, np.ndarray]:
    """(region, start) per job row of a plan (−1 where unplaced)."""
    region, start = np.full(len(jobs), -1, np.int64), np.full(len(jobs), -1, np.int64)
    region[dec.job], start[dec.job] = dec.region, dec.start
    return region, start


@pytest.mark.parametrize("seed", SEEDS)
def test_schedule_search_above_max_jobs_milp_bounds_and_never_worsens(seed):
    """Above max_jobs_milp the warm-started MILP search runs in the time the LP left: the bound stays ≤ the
    brute-force optimum, the schedule ≥ it (gap ≥ 0) and never worse than the LP rounding alone."""
    carbon, jobs, dc = _instance(seed)
    brute = _brute_contiguous(carbon, jobs, dc)
    lp = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, search=False)
    _plan(lp, carbon, jobs, dc)
    found = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, mip_rel_gap=0.0)
    dec = _plan(found, carbon, jobs, dc)
    b = found.bound
    if not np.isfinite(brute):
        assert not np.isfinite(b.kg)
        return
    assert b.kg <= brute + 1e-6 and b.kg >= lp.bound.kg - 1e-6
    assert (_usage(dec, jobs, dc) <= dc.gpus[:, None]).all()
    if b.n_repaired == 0 and lp.bound.n_repaired == 0:
        assert brute - 1e-6 <= b.schedule_kg <= lp.bound.schedule_kg + 1e-6
        assert b.gap_pct >= -1e-6
    if b.kind == EXACT_MILP:          # the search closed: the MILP optimum, labelled as found by the search
        assert b.kg == pytest.approx(brute, rel=1e-7) and "schedule search" in found.solve_kind
    if "fix-and-optimise" in found.solve_kind:     # the LP finished well within the limit: it guides the windows
        assert "fix-and-optimise (LP-guided: 8 least-reduced-cost candidates per job, doubled" in found.solve_kind


@pytest.mark.parametrize("seed", SEEDS)
def test_incumbent_warm_start_never_makes_the_schedule_worse(seed):
    """An optimal schedule passed as incumbent to the LP-rounding oracle is kept (or bettered: never
    worse); a schedule off the candidates is refused with the reason, leaving the rounding alone."""
    carbon, jobs, dc = _instance(seed)
    exact = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S, mip_rel_gap=0.0)
    dec = _plan(exact, carbon, jobs, dc)
    if not np.isfinite(exact.bound.kg) or exact.bound.n_repaired:
        return
    plain = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S)
    _plan(plain, carbon, jobs, dc)
    for search in (True, False):
        warm = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, incumbent=_schedule_of(dec, jobs), search=search)
        _plan(warm, carbon, jobs, dc)
        if exact.bound.kind == EXACT_FREE:          # capacity does not bind: nothing to solve or warm-start
            assert warm.incumbent_note == "" and warm.bound.schedule_kg == pytest.approx(exact.bound.schedule_kg)
            return
        assert warm.incumbent_note.startswith("; incumbent ") and "not used" not in warm.incumbent_note
        assert warm.bound.schedule_kg <= exact.bound.schedule_kg + 1e-6       # = the optimum: kept
    assert warm.bound.schedule_kg <= min(plain.bound.schedule_kg, exact.bound.schedule_kg) + 1e-6
    assert warm.bound.kg <= exact.bound.kg + 1e-6
    region, start = _schedule_of(dec, jobs)
    late = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, incumbent=(region, start + T))
    _plan(late, carbon, jobs, dc)
    assert late.incumbent_note == f"; incumbent not used: {len(jobs)} job(s) off their on-time candidates"
    assert late.bound.schedule_kg == pytest.approx(plain.bound.schedule_kg)


def test_incumbent_over_capacity_is_refused():
    """An incumbent whose runs overfill a cell is not a schedule: refused, counted by cell."""
    for seed in SEEDS:                  # the first instance where capacity binds
        carbon, jobs, dc = _instance(seed)
        exact = Oracle(dc, max_jobs_milp=100, time_limit_s=LIMIT_S)
        _plan(exact, carbon, jobs, dc)
        if exact.bound.kind == EXACT_MILP:
            break
    assert exact.bound.kind == EXACT_MILP
    cheapest = [min(_candidates(carbon, jobs, dc, i)) for i in range(len(jobs))]   # capacity ignored
    region, start = np.array([c[1] for c in cheapest]), np.array([c[2] for c in cheapest])
    o = Oracle(dc, max_jobs_milp=0, time_limit_s=LIMIT_S, incumbent=(region, start))
    _plan(o, carbon, jobs, dc)
    assert o.incumbent_note.startswith("; incumbent not used:") and "cell(s) over capacity" in o.incumbent_note


def test_policy_incumbent_picks_the_cheapest_on_time_contiguous_outcome():
    from dataclasses import replace

    from carbonshift.scheduler.policies.oracle_bounds import policy_incumbent
    from carbonshift.scheduler.policies.registry import make_policy
    from carbonshift.scheduler.signals import controlled_error

    for seed in SEEDS:                  # the first instance where both are on time and differ
        carbon, jobs, dc = _instance(seed)
        fc = controlled_error(carbon, "perfect")
        outs = [simulate(jobs, carbon, fc, dc, make_policy(n, dc)) for n in ("performance_first", "greedy_carbon")]
        kg = [float(o.carbon_op_kg.sum() + o.carbon_tr_kg.sum()) for o in outs]
        if all(o.on_time.all() for o in outs) and kg[1] != kg[0]:
            break
    assert all(o.on_time.all() for o in outs) and kg[1] != kg[0]
    lo, hi = (outs[0], outs[1]) if kg[0] < kg[1] else (outs[1], outs[0])
    name, (region, start) = policy_incumbent(outs)
    assert name == lo.policy and (region == lo.region).all() and (start == lo.start).all()
    split = replace(lo, suspensions=np.ones(len(jobs), np.int64))
    assert policy_incumbent([hi, split])[0] == hi.policy
    late = replace(lo, finish=lo.finish + T)
    assert policy_incumbent([late]) is None


@pytest.mark.slow
def test_schedule_search_never_worsens_a_binding_120_job_instance(carbon):
    """120 jobs on 3 regions with 256 GPUs each (capacity binds; LP rounding alone repairs 2 jobs late and
    leaves a 15.9 % gap): the MILP search in the same total time keeps a bound ≥ the LP bound and a schedule
    no worse (fewer repaired jobs, then less carbon) — measured 10.6 % (0 repaired) and 15.1 % (2 repaired)
    on the loaded 2-core machine, so the improvement itself depends on the CPU the time limit buys."""
    from carbonshift.scheduler.generators import GeneratorSpec, generate

    dc = DataCenters.uniform(carbon.regions, gpus=256)
    jobs = generate(GeneratorSpec(n_jobs=120, span_h=96, profiling_error=0.0), dc.n, seed=2)
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, carbon.n_hours), np.int64))
    res = {}
    for search in (False, True):
        o = Oracle(dc, max_jobs_milp=0, time_limit_s=5.0, search=search)
        o.plan(jobs, np.arange(len(jobs)), 0, state, OracleView(carbon, 0))
        res[search] = o.bound
    assert res[False].kind == LP_BOUND and res[False].n_repaired > 0, "capacity must bind for this test to mean it"
    assert res[True].kind in (LP_BOUND, DUAL_BOUND, EXACT_MILP)
    assert res[True].kg >= res[False].kg - 1e-6
    assert res[True].n_repaired <= res[False].n_repaired
    if res[True].n_repaired == res[False].n_repaired == 0:
        assert res[True].schedule_kg <= res[False].schedule_kg + 1e-6
    assert res[True].gap_pct >= 0
