"""ConformalMargins.coverage is calibrated on average: the miss probabilities chance_constrained spends its risk
budget with match the rate at which jobs of the same duration law actually run longer (issue 22)."""
import numpy as np
import pytest

from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.risk_aware import ConformalMargins
from carbonshift.scheduler.workloads import make_jobs


def _generator(seed: int):
    jobs = generate(GeneratorSpec(n_jobs=4000), 6, seed)
    return jobs.est_duration_h, jobs.duration_h


def _lognormal(seed: int):
    rng = np.random.default_rng(seed)
    est = rng.integers(2, 81, 4000)
    return est, np.maximum(np.rint(est * np.exp(rng.normal(0.0, 0.12, 4000))), 1).astype(np.int64)


@pytest.mark.parametrize("law", [_generator, _lognormal])
@pytest.mark.parametrize("stretch", [1.1, 1.2])
def test_mean_miss_probability_matches_the_measured_rate(law, stretch):
    hist_est, hist_true = law(11)
    est, true = law(12)
    rng = np.random.default_rng(0)
    n = len(est)
    jobs = make_jobs(type_=np.zeros(n, np.int8), submit_h=np.zeros(n, np.int64), gpus=np.ones(n), duration_h=true,
                     flex=np.full(n, 0.5), ckpt_interval_h=np.ones(n), data_gb=np.ones(n),
                     home=np.zeros(n, np.int64), rng=rng, gpu_kw=0.7, est_duration_h=est)
    src = ConformalMargins(hist_est, hist_true, jobs, 0.99)
    hours = np.ceil(est * stretch).astype(np.int64)
    planned = 1.0 - src.coverage(np.arange(n), hours).mean()
    measured = np.mean(true > hours)
    # the old threshold hours / (E + 0.5) planned 3.4 × the measured rate for generator jobs at 1.2 E (4.4 vs
    # 1.3 %); a whole hour plans 0.68 × (0.9 %), which would spend the risk budget on misses that happen
    assert 0.8 * measured <= planned <= 1.7 * measured
