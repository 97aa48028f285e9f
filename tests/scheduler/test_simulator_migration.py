"""Migration inside the simulator: Decisions.moves, transfer pause and carbon, capacity, feasible_migration."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.metrics import oracle_comparison, policy_metrics
from carbonshift.scheduler.policies.base import Decisions
from carbonshift.scheduler.policies.migration import FeasibleMigration, move_size_gb
from carbonshift.scheduler.policies.oracle import OracleBound
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import CarbonSignal, controlled_error
from carbonshift.scheduler.simulator import DONE, REJECTED, PolicyError, SimConfig, simulate
from carbonshift.scheduler.workloads import make_jobs

T = 40
GPU_KW, PUE = 0.7, 1.1


def _carbon() -> CarbonSignal:
    """R0 clean (50 gCO2eq/kWh) for hours 0–9, then 400; R1 dirty (600) for hours 0–9, then 50."""
    times = pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC")
    ci = np.array([[50.0] * 10 + [400.0] * (T - 10), [600.0] * 10 + [50.0] * (T - 10)])
    return CarbonSignal(ci, np.full((2, T), 30.0), times, ["R0", "R1"])


def _jobs(n_extra: int = 0, ckpt_h: float = 0.5):
    """Job 0: 8 GPUs, 20 h (estimate exact), home R0, deadline hour 23; ``n_extra`` jobs of 8 GPUs, 4 h, home
    R1, submitted at hour 6 (deadline hour 12)."""
    n = 1 + n_extra
    return make_jobs(type_=np.zeros(n, np.int8), submit_h=np.array([0] + [6] * n_extra), gpus=np.full(n, 8),
                     duration_h=np.array([20] + [4] * n_extra), flex=np.array([0.15] + [0.5] * n_extra),
                     ckpt_interval_h=np.array([ckpt_h] + [0.5] * n_extra), data_gb=np.zeros(n),
                     home=np.array([0] + [1] * n_extra), rng=np.random.default_rng(0), gpu_kw=GPU_KW,
                     est_duration_h=np.array([20] + [4] * n_extra))


class Scripted:
    """Places job 0 in R0 from hour 0 (20 h) and every other job in R1 at its submit hour (4 h); at hour
    ``at`` (any adapt call: a tick, or an arrival if ``at`` is an arrival hour) returns ``move``."""

    name = "scripted"
    clairvoyant = False
    wants_ticks = True

    def __init__(self, at: int, move: dict):
        self.at, self.move, self.events = at, move, []

    def plan(self, jobs, idx, now, state, view):
        idx = np.asarray(idx, np.int64)
        first = jobs.submit_h[idx] == 0
        return Decisions(idx, np.where(first, 0, 1), np.where(first, 0, jobs.submit_h[idx]),
                         np.where(first, 20, 4))

    def adapt(self, event, jobs, now, state, view):
        self.events.append((event.kind, now))
        dec = self.plan(jobs, event.jobs, now, state, view) if event.kind == "arrival" else Decisions.empty()
        if now == self.at:
            dec.moves.update(self.move)
        return dec


def _run(policy, jobs, dc=None):
    carbon = _carbon()
    dc = dc or DataCenters.uniform(["R0", "R1"], gpus=8, pue=PUE)
    return simulate(jobs, carbon, controlled_error(carbon, "perfect"), dc, policy), carbon, dc


def test_move_charges_exact_transfer_kg_and_pause():
    jobs = _jobs()
    out, carbon, dc = _run(Scripted(10, {0: (1, 10, 11)}), jobs)
    size = 5.0 * 8                                          # checkpoint only (5 GB/GPU): no data set
    assert float(move_size_gb(8, 0.0, 0, 1)) == size and dc.transfer_hours(np.array([size]))[0] == 1
    kg = dc.transfer_kwh(size) * (carbon.ci[0, 10] + carbon.ci[1, 10]) / 2000.0   # both ends in the move hour
    assert out.migrations[0] == 1 and out.migration_gb[0] == size
    assert out.migration_kg[0] == pytest.approx(kg) and out.carbon_tr_kg[0] == pytest.approx(kg)
    # R0 for hours 0–9, paused in hour 10 (1 h transfer), R1 from hour 11; one restore overhead (< 1 h)
    # costs one more hour: 10 + 11 = 21 compute hours, done at hour 22 ≤ deadline 23
    assert out.usage[0, :10].tolist() == [8] * 10 and out.usage[:, 10].tolist() == [0, 0]
    assert out.usage[1, 11:22].tolist() == [8] * 11 and out.usage[:, 22:].sum() == 0
    assert out.status[0] == DONE and out.finish[0] == 22 and out.region[0] == 1 and out.on_time[0]
    e = 8 * GPU_KW * PUE
    assert out.carbon_op_kg[0] == pytest.approx(e * (10 * 50.0 + 11 * 50.0) / 1000.0)
    assert out.suspensions[0] == 0                          # a move is not a suspension
    m = policy_metrics(out)
    assert (m["n_migrations"], m["migration_gb"]) == (1.0, size) and m["migration_kg"] == pytest.approx(kg)
    stay, _, _ = _run(Scripted(-1, {}), jobs)                # same plan, no move
    assert stay.carbon_op_kg[0] == pytest.approx(e * (10 * 50.0 + 10 * 400.0) / 1000.0)
    assert out.carbon_op_kg[0] + out.carbon_tr_kg[0] < stay.carbon_op_kg[0]


def test_move_rolls_back_to_the_checkpoint():
    """Checkpoint every 0.75 h: at hour 10 the last checkpoint is at 9.75 h, so 0.25 h of work is redone."""
    jobs = _jobs(ckpt_h=0.75)
    out, _, _ = _run(Scripted(10, {0: (1, 10, 11)}), jobs)
    # progress 9.75 − restore overhead (2–5 min) → 10.25 h left → 11 compute hours from hour 11
    assert out.finish[0] == 22 and out.usage[1, 11:22].tolist() == [8] * 11


@pytest.mark.parametrize("move,why", [
    ({0: (1, 9, 11)}, "checkpoint boundary"),           # at_hour is not the decision hour
    ({1: (0, 6, 4)}, "not running"),                     # job 1 just arrived: queued, not running
    ({0: (0, 6, 11)}, "another of the"),                 # its own region
    ({7: (1, 6, 11)}, "outside"),                        # unknown job
])
def test_invalid_moves_raise(move, why):
    with pytest.raises(PolicyError, match=why):
        _run(Scripted(6, move), _jobs(n_extra=1))


def test_move_at_a_non_boundary_hour_raises():
    """Checkpoint every 4 h: at hour 6 the job wrote its last checkpoint at 4 h, not during the last hour."""
    with pytest.raises(PolicyError, match="checkpoint boundary"):
        _run(Scripted(6, {0: (1, 6, 14)}), _jobs(n_extra=1, ckpt_h=4.0))


def test_move_into_a_full_region_raises():
    """Job 1 holds all 8 GPUs of R1 in hours 6–9: a move of job 0 into R1 at hour 6 has no capacity."""
    with pytest.raises(PolicyError, match="lacks 8 free GPUs"):
        _run(Scripted(6, {0: (1, 6, 14)}), _jobs(n_extra=1))
    out, _, _ = _run(Scripted(10, {0: (1, 10, 11)}), _jobs(n_extra=1))   # R1 is free again at hour 10
    assert out.migrations.tolist() == [1, 0] and (out.status == DONE).all()


def test_feasible_migration_moves_when_it_pays_and_beats_cooperative():
    """Perfect forecast. Cooperative keeps job 0 in R0 (4500 vs 6500 g·h/kWh summed over the run);
    feasible_migration moves it to R1 at hour 9: the move pays from hour 3 on, but waiting is forecast to be
    cheaper until the last hour before R0 turns dirty (pause in hour 9, R1 clean from hour 10)."""
    jobs = _jobs()
    dc = DataCenters.uniform(["R0", "R1"], gpus=8, pue=PUE)
    coop, _, _ = _run(make_policy("cooperative", dc), jobs, dc)
    mig, _, _ = _run(FeasibleMigration(dc), jobs, dc)
    assert coop.region[0] == 0 and coop.migrations.sum() == 0
    assert mig.migrations[0] == 1 and mig.region[0] == 1 and mig.on_time[0]
    assert mig.usage[0, :9].tolist() == [8] * 9 and mig.usage[:, 9].tolist() == [0, 0]
    assert mig.usage[1, 10:22].tolist() == [8] * 12                  # 11 h left + restore overhead
    total = lambda o: float(o.carbon_op_kg.sum() + o.carbon_tr_kg.sum())  # noqa: E731
    e = 8 * GPU_KW * PUE
    assert total(mig) == pytest.approx(e * 21 * 50.0 / 1000.0 + dc.transfer_kwh(40.0) * (50.0 + 600.0) / 2000.0)
    assert total(coop) == pytest.approx(e * (10 * 50.0 + 10 * 400.0) / 1000.0) and total(mig) < total(coop)
    # a tight time share (pause + restore must fit in 1 % of the remaining run) forbids every move
    assert _run(FeasibleMigration(dc, max_move_share=0.01), jobs, dc)[0].migrations.sum() == 0


def test_ticks_reach_only_policies_that_ask():
    jobs = _jobs()
    asks = Scripted(-1, {})
    _run(asks, jobs)
    assert ("tick", 1) in asks.events and ("tick", 0) not in asks.events   # not running before hour 0 ends
    silent = Scripted(-1, {})
    silent.wants_ticks = False
    _run(silent, jobs)
    assert silent.events == [("arrival", 0)]


def test_migrated_schedule_is_not_compared_with_a_bound():
    out, _, _ = _run(Scripted(10, {0: (1, 10, 11)}), _jobs())
    b = {s: OracleBound(s, "exact MILP", 1.0, np.zeros(1, bool), np.full(1, -1)) for s in ("contiguous", "preemptive")}
    bound, label = oracle_comparison(out, b)
    assert bound is None and label.startswith("not comparable: 1 migrated jobs")
    assert np.isnan(policy_metrics(out, 100.0, b)["oracle_share"])


@pytest.mark.parametrize("gpus", [192, 4096])
def test_real_instance_invariants(carbon, gpus):
    """Three real regions, 80 jobs, tight (192 GPUs) or ample capacity: moves happen; capacity holds, every job
    is done, late or rejected with a reason, and every job runs in one place at a time (GPU-hours used = Σ
    jobs' GPU-hours)."""
    dc = DataCenters.uniform(carbon.regions, gpus=gpus)
    jobs = generate(GeneratorSpec(n_jobs=80, span_h=120), dc.n, seed=0)
    # forecast seed 3: since the synthetic error is defined on the day-ahead horizons (6654a77) the seed-1 draw
    # leaves the tight instance with no move worth its transfer, and this test needs moves to check invariants
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=3)
    out = simulate(jobs, carbon, fc, dc, make_policy("feasible_migration", dc),
                   SimConfig(failure_rate_per_h=0.01, seed=2))
    assert out.migrations.sum() > 0
    assert (out.usage <= dc.gpus[:, None]).all()
    fate = (out.status == DONE) | (out.status == REJECTED) | np.isin(np.arange(len(jobs)), list(out.reasons))
    assert fate.all() and (out.status == DONE).sum() > 0.8 * len(jobs)
    hours = out.energy_kwh / (jobs.power_kw * dc.pue[0])
    assert np.allclose(hours, np.rint(hours)) and (jobs.gpus * np.rint(hours)).sum() == out.usage.sum()
    done = out.status == DONE
    assert (out.finish[done] - out.start[done] >= jobs.duration_h[done]).all()
    assert out.migration_kg.sum() <= out.carbon_tr_kg.sum() + 1e-9


# Recorded at HEAD 6123cb0 (before migration existed) on the ``tight`` instance of test_scheduler_simulator:
# carbon_kg and Σ finish hours per policy; a policy without ``wants_ticks`` must run exactly as before.
# The forecast-driven rows were re-recorded at a6b0355: the synthetic forecast changed there (6654a77: error
# defined on the day-ahead horizons, 168 h ahead; dcad146: risk_aware prices the mean forecast by default),
# not the simulator; performance_first and greedy_carbon, which read no future forecast, kept 6123cb0's values.
BEFORE = {"performance_first": (14362.42214993094, 6706), "greedy_carbon": (13468.20296811304, 6759),
          "cooperative": (13214.856702530551, 7142), "cooperative_suspend": (13858.780224168866, 7305),
          "risk_aware": (13750.388259624, 7095)}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_existing_policies_unchanged(carbon, name):
    dc = DataCenters.uniform(carbon.regions, gpus=192)
    jobs = generate(GeneratorSpec(n_jobs=80, span_h=120), dc.n, seed=5)
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=1)
    out = simulate(jobs, carbon, fc, dc, make_policy(name, dc, seed=1), SimConfig(failure_rate_per_h=0.01, seed=2))
    kg, finish_sum = BEFORE[name]
    assert policy_metrics(out)["carbon_kg"] == pytest.approx(kg, rel=1e-12)
    assert int(out.finish.sum()) == finish_sum and out.migrations.sum() == 0


def test_simulate_kind_reports_migration_as_not_comparable(tmp_path):
    """feasible_migration through the simulate kind (paper_main's policy list mechanism): its row carries
    n_migrations and migration_kg, and oracle_bound says why no oracle_share is given."""
    from carbonshift.experiments.config import parse
    from carbonshift.experiments.kinds.simulate import SimulateConfig
    from carbonshift.experiments.registry import Context, get

    cfg = parse({"kind": "simulate", "name": "tiny", "seed": 1,
                 "data": {"zones": ["US-CAL-CISO", "DE", "GB"], "start": "2023-05-01", "span_days": 3, "tail_days": 8},
                 "workload": {"n_jobs": 30}, "datacenters": {"gpus_per_region": 2048},
                 "policies": ["performance_first", "cooperative", "feasible_migration"]}, SimulateConfig)
    result = get("simulate").run(cfg, Context(seed=1, out_dir=tmp_path))
    row = result.tables["policies"].set_index("policy").loc["feasible_migration"]
    assert row["n_migrations"] > 0 and row["migration_kg"] > 0
    assert row["oracle_bound"].startswith("not comparable: ") and "migrated jobs" in row["oracle_bound"]
    assert np.isnan(result.metrics["feasible_migration.oracle_share"])
    coop = result.tables["policies"].set_index("policy").loc["cooperative"]
    assert coop["n_migrations"] == 0 and not coop["oracle_bound"].startswith("not comparable")


def test_region_table_splits_a_moved_job_by_where_it_ran():
    from carbonshift.scheduler.metrics import region_table

    out, carbon, dc = _run(Scripted(10, {0: (1, 10, 11)}), _jobs())
    table = region_table(out).set_index("region")
    e = 8 * GPU_KW * PUE
    assert table.loc["R0", "carbon_kg"] == pytest.approx(e * 10 * 50.0 / 1000.0)               # hours 0–9 in R0
    assert table.loc["R1", "carbon_kg"] == pytest.approx(e * 11 * 50.0 / 1000.0 + out.carbon_tr_kg[0])
    assert table.loc["R0", "energy_share_pct"] == pytest.approx(100.0 * 10 / 21)
    assert table["jobs"].tolist() == [0, 1]                                                    # ended in R1


def test_no_moves_under_data_residency():
    dc = DataCenters.uniform(["R0", "R1"], gpus=8, pue=PUE, residency=True)
    out, _, _ = _run(FeasibleMigration(dc), _jobs(), dc)
    assert out.migrations.sum() == 0 and out.region[0] == 0 and out.status[0] == DONE
    with pytest.raises(PolicyError, match="no data residency"):
        _run(Scripted(10, {0: (1, 10, 11)}), _jobs(), dc)


def test_a_move_that_makes_a_job_late_says_so():
    """A slow WAN (0.03 Gbps: 40 GB take ⌈2.96⌉ = 3 h) turns the hour-10 move into a 3-hour pause: the job ends
    at 10 + 3 + 11 = 24 > deadline 23, and its reason names the move."""
    dc = DataCenters.uniform(["R0", "R1"], gpus=8, pue=PUE, wan_gbps=0.03)
    out, _, _ = _run(Scripted(10, {0: (1, 10, 11)}), _jobs(), dc)
    assert out.usage[:, 10:13].sum() == 0 and out.finish[0] == 24 and not out.on_time[0]
    assert "1 move(s) to another region paused it" in out.reasons[0]
