"""chance_constrained: the risk budget is spent where it buys the most carbon per expected missed deadline."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState
from carbonshift.scheduler.policies.risk_aware import ROUNDING_H, ChanceConstrained, ConformalMargins
from carbonshift.scheduler.signals import CarbonSignal, PolicyView, controlled_error
from carbonshift.scheduler.workloads import make_jobs

TARGET = 0.99


def _history(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Estimates 2–80 h, true = estimate × log-normal(0, 0.12) ratio, whole hours."""
    rng = np.random.default_rng(seed)
    est = rng.integers(2, 81, n)
    return est, np.maximum(np.rint(est * np.exp(rng.normal(0.0, 0.12, n))), 1).astype(np.int64)


def _two_jobs():
    """Job 0 (1 GPU) and job 1 (256 GPUs): both estimated 10 h, submitted at hour 0, deadline hour 13 —
    the q0.99 reservation (≈ 14 h) does not fit, so starting at hour 0 is the safest cell."""
    rng = np.random.default_rng(0)
    return make_jobs(type_=np.zeros(2, np.int8), submit_h=np.zeros(2, np.int64), gpus=np.array([1, 256]),
                     duration_h=np.full(2, 10), flex=np.full(2, 0.3), ckpt_interval_h=np.full(2, 0.5),
                     data_gb=np.full(2, 10.0), home=np.zeros(2, np.int64), rng=rng, gpu_kw=0.7,
                     est_duration_h=np.full(2, 10))


def _plan(miss_price_kg: float):
    """Plan both jobs at hour 0 on a perfect forecast whose first hour is dirty (1000 gCO2eq/kWh, then 100),
    after ``n_prior`` placed jobs that took no optional risk: the budget has room for one job, not both, to
    start one hour later (cheaper, slightly riskier)."""
    hours = 48
    ci = np.full((1, hours), 100.0)
    ci[0, 0] = 1000.0
    carbon = CarbonSignal(ci, np.full_like(ci, 40.0), pd.date_range("2023-03-01", periods=hours, freq="h", tz="UTC"),
                          ["R0"])
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = _two_jobs()
    src = ConformalMargins(*_history(), jobs, TARGET)
    e1 = float(src.coverage(np.array([0]), np.array([13]))[0] - src.coverage(np.array([0]), np.array([12]))[0])
    n_prior = int(np.ceil(e1 / (1 - TARGET) - 1e-9))           # budget after both: (n_prior + 2) % < 2 × e1
    assert 0.02 < e1 and (n_prior + 1) * (1 - TARGET) >= e1 > (n_prior + 2) * (1 - TARGET) / 2
    policy = ChanceConstrained(dc, src, TARGET, carbon_risk="mean", miss_price_kg=miss_price_kg)
    policy.extra = {1000 + k: 0.0 for k in range(n_prior)}
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((1, hours), np.int64))
    view = PolicyView(carbon, controlled_error(carbon, "perfect", seed=0), 0)
    dec = policy.plan(jobs, np.arange(2), 0, state, view)
    return policy, dict(zip(dec.job.tolist(), dec.start.tolist())), dict(zip(dec.job.tolist(), dec.hours.tolist()))


def test_priced_budget_goes_to_the_job_that_saves_the_most_carbon():
    """First come, first served (price 0): the 1-GPU job, planned first, spends the budget on a ~0.6 kg
    saving and the 256-GPU job must start in the dirty hour. Priced at 200 kgCO2e per expected miss, the
    small job keeps its safest start and the large one saves ~160 kg with the same risk."""
    free, start_free, _ = _plan(0.0)
    assert start_free == {0: 1, 1: 0}
    priced, start, res = _plan(200.0)
    assert start == {0: 0, 1: 1}
    assert all(s + res[j] <= 13 for j, s in start.items())                 # reservations end by the deadline
    for p in (free, priced):                                               # both within the same budget
        assert p.extra_sum <= (1 - TARGET) * len(p.extra) + 1e-9
        assert p.extra[0] + p.extra[1] == pytest.approx(max(p.extra[0], p.extra[1]))   # one job took the risk


def test_vectorised_coverage_counts_the_bin_scores_below_the_ratio():
    hist_est, hist_true = _history()
    jobs = _two_jobs()
    jobs = jobs.take(np.zeros(40, np.int64))
    jobs.est_duration_h = np.random.default_rng(3).integers(1, 90, 40)
    src = ConformalMargins(hist_est, hist_true, jobs, TARGET)
    hours = np.random.default_rng(4).integers(1, 120, 40)
    got = src.coverage(np.arange(40), hours)
    bins = src.bin(jobs.est_duration_h.astype(float))
    for k in range(40):
        sc = src.scores if src._pooled[bins[k]] else src.scores[src.bin_of == bins[k]]   # a thin bin is pooled
        want = np.count_nonzero(sc < (hours[k] + ROUNDING_H) / (jobs.est_duration_h[k] + ROUNDING_H) - 1e-9) / (len(sc) + 1)
        assert got[k] == pytest.approx(want)
    with pytest.raises(ValueError, match="miss_price_kg"):
        ChanceConstrained(DataCenters.uniform(["R0"]), src, TARGET, miss_price_kg=-1.0)


def test_paper_main_runs_chance_constrained():
    from carbonshift.experiments.config import load
    from carbonshift.experiments.kinds.simulate import SimulateConfig

    cfg = load("experiments/configs/paper_main.yaml", SimulateConfig)
    assert "chance_constrained" in cfg.policies and cfg.policy_options.risk_deadline_target == 0.99


def test_the_miss_price_comes_from_policy_options():
    from carbonshift.scheduler.policies.registry import PolicyOptions, chance_constrained
    from carbonshift.scheduler.policies.risk_aware import MISS_PRICE_KG

    dc = DataCenters.uniform(["a", "b"], gpus=8)
    assert chance_constrained(dc, PolicyOptions(risk_miss_price_kg=35.0), 0.2).miss_price_kg == 35.0
    assert chance_constrained(dc, PolicyOptions(), 0.2).miss_price_kg == MISS_PRICE_KG == 600.0
    with pytest.raises(ValueError, match="risk_miss_price_kg"):
        PolicyOptions(risk_miss_price_kg=-1.0)
