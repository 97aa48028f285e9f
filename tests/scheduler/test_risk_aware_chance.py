"""chance_constrained: duration chance constraints from conformal quantiles, and the risk budget."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.cooperative import Cooperative
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained, ConformalMargins
from carbonshift.scheduler.signals import CarbonSignal, controlled_error
from carbonshift.scheduler.simulator import DONE, SimConfig, simulate
from carbonshift.scheduler.workloads import make_jobs

TARGET = 0.99


def _draw(n: int, seed: int):
    """Profiled estimates 2–80 h and true durations = estimate × a known ratio: log-normal(0, 0.12),
    so the true q0.99 of the ratio is exp(2.326 × 0.12) ≈ 1.32."""
    rng = np.random.default_rng(seed)
    est = rng.integers(2, 81, n)
    true = np.maximum(np.rint(est * np.exp(rng.normal(0.0, 0.12, n))), 1).astype(np.int64)
    return est, true


def _jobs(n: int, seed: int, submit_span_h: int, flex: float, n_regions: int):
    est, true = _draw(n, seed)
    rng = np.random.default_rng(seed + 100)
    return make_jobs(type_=np.zeros(n, np.int8), submit_h=np.sort(rng.integers(0, submit_span_h, n)),
                     gpus=np.full(n, 4), duration_h=true, flex=np.full(n, flex), ckpt_interval_h=np.full(n, 0.5),
                     data_gb=np.full(n, 10.0), home=rng.integers(0, n_regions, n), rng=rng, gpu_kw=0.7,
                     est_duration_h=est)


def _carbon(n_regions: int, hours: int) -> CarbonSignal:
    t = np.arange(hours)
    ci = np.stack([200 + 50 * r + 80 * np.sin(2 * np.pi * (t + 5 * r) / 24) for r in range(n_regions)])
    return CarbonSignal(ci, np.full_like(ci, 40.0), pd.date_range("2023-03-01", periods=hours, freq="h", tz="UTC"),
                        [f"R{r}" for r in range(n_regions)])


def test_conformal_reservations_cover_the_true_duration_at_the_target():
    hist_est, hist_true = _draw(4000, seed=1)             # ≥ 99 past jobs in every estimate bin
    jobs = _jobs(4000, seed=2, submit_span_h=100, flex=0.5, n_regions=2)
    src = ConformalMargins(hist_est, hist_true, jobs, TARGET)
    policy = ChanceConstrained(DataCenters.uniform(["R0", "R1"]), src, TARGET)
    reserved = policy.reserved_hours(jobs, np.arange(len(jobs)))
    covered = np.mean(jobs.duration_h <= reserved)
    # conformal: ≥ 0.99 in expectation; 4000 jobs → standard error 0.16 %
    assert covered >= TARGET - 3 * np.sqrt(TARGET * (1 - TARGET) / len(jobs))
    assert np.mean(jobs.duration_h <= jobs.est_duration_h) < 0.7          # the bare estimate is far off
    assert src.n_pooled_bins == 0 and ConformalMargins(hist_est[:1000], hist_true[:1000], jobs, TARGET).n_pooled_bins
    assert (src.ratios > 1.15).all() and (src.ratios < 1.6).all()
    p = src.coverage(np.arange(50), reserved[:50])
    assert (p >= TARGET - 0.01).all()                                     # reserved ≈ its q0.99
    assert (src.coverage(np.arange(50), jobs.est_duration_h[:50]) < 0.8).all()


def test_too_short_history_fails_clearly():
    jobs = _jobs(10, seed=2, submit_span_h=10, flex=0.5, n_regions=1)
    with pytest.raises(ValueError, match="too few"):
        ConformalMargins(np.full(20, 10.0), np.full(20, 11.0), jobs, TARGET)


def test_simulated_deadline_rate_meets_the_target_where_algorithm_1_does_not():
    """Known duration distribution, ample capacity: the chance-constrained policy keeps ≥ 99 % of deadlines
    (up to sampling error) and its planned miss probability stays within the 1 % budget; Algorithm 1,
    which books the bare estimate, misses far more."""
    n_regions, hours = 2, 24 * 12
    carbon = _carbon(n_regions, hours)
    fc = controlled_error(carbon, "accuracy", accuracy=0.9, seed=0)
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = _jobs(600, seed=3, submit_span_h=24 * 7, flex=0.5, n_regions=n_regions)
    hist_est, hist_true = _draw(2000, seed=1)
    policy = ChanceConstrained(dc, ConformalMargins(hist_est, hist_true, jobs, TARGET), TARGET)
    out = simulate(jobs, carbon, fc, dc, policy, SimConfig())
    rate = np.mean(out.on_time)
    assert (out.status == DONE).all()
    assert rate >= TARGET - 3 * np.sqrt(TARGET * (1 - TARGET) / len(jobs))
    extra = sum(policy.risk.values()) - sum(policy.forced.values())
    assert extra <= (1 - TARGET) * len(policy.risk) + 1e-9                     # the planned budget
    coop = simulate(jobs, carbon, fc, dc, Cooperative(dc), SimConfig())
    assert np.mean(coop.on_time) < TARGET - 0.05
    pf_like = simulate(jobs, carbon, fc, dc, ChanceConstrained(dc, 0.0, TARGET), SimConfig())
    assert np.mean(pf_like.on_time) < rate            # margins, not luck, keep the deadlines


def test_risk_budget_lets_cheaper_short_reservations_through_and_stays_within_it():
    """A tight window (flex 0.3 < the q0.99 margin): without a budget every job keeps the long
    reservation and starts at once; with one, some take a shorter, cheaper window — and the miss
    probability they add to their safest options' never exceeds (1 − target) × jobs."""
    n_regions, hours = 1, 24 * 6
    carbon = _carbon(n_regions, hours)
    fc = controlled_error(carbon, "perfect", seed=0)
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = _jobs(300, seed=4, submit_span_h=24 * 3, flex=0.3, n_regions=n_regions)
    hist_est, hist_true = _draw(2000, seed=1)
    src = ConformalMargins(hist_est, hist_true, jobs, TARGET)
    budget = ChanceConstrained(dc, src, TARGET, miss_price_kg=0.0)   # any saving may spend the budget (these
    # 4-GPU jobs save a few kg: at the default price per expected miss they keep their safest start)
    out = simulate(jobs, carbon, fc, dc, budget, SimConfig())
    fixed = ChanceConstrained(dc, src.margins(np.arange(len(jobs))), TARGET)   # same margins, no budget
    out_fixed = simulate(jobs, carbon, fc, dc, fixed, SimConfig())
    assert fixed.risk == {}
    extra = np.array([budget.risk[r] - budget.forced[r] for r in budget.risk])
    assert (extra > 0.02).any()                                   # some jobs took a shorter reservation
    assert extra.sum() <= (1 - TARGET) * len(extra) + 1e-9
    assert budget.extra_sum == pytest.approx(extra.sum())           # the running total the budget checks
    assert out.carbon_op_kg.sum() < out_fixed.carbon_op_kg.sum()


def test_margins_never_read_true_durations_of_unfinished_jobs():
    hist_est, hist_true = _draw(2000, seed=1)
    jobs = _jobs(300, seed=5, submit_span_h=50, flex=0.5, n_regions=1)
    other = jobs.take(np.arange(len(jobs)))
    other.duration_h = other.duration_h * 3                       # different truths, same estimates
    a = ConformalMargins(hist_est, hist_true, jobs, TARGET, feedback="observe")
    b = ConformalMargins(hist_est, hist_true, other, TARGET, feedback="observe")
    idx, hours = np.arange(len(jobs)), jobs.est_duration_h + 2
    assert np.array_equal(a.margins(idx), b.margins(idx)) and np.array_equal(a.coverage(idx, hours),
                                                                              b.coverage(idx, hours))
    a.finished(np.arange(100), hour=40)
    b.finished(np.arange(100), hour=40)
    assert not np.array_equal(a.margins(idx), b.margins(idx))     # finished jobs' truths do count
