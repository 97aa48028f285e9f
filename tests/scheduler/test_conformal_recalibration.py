"""ConformalMargins with feedback observe (issue 22, item 4): when the workload's durations are harder to
estimate than the history's, the observed jobs alone set the padding once they are enough for the target rank —
a stale history cannot outvote them; with feedback none, or before enough jobs finished, the history rules."""
from __future__ import annotations

import numpy as np

from carbonshift.scheduler.policies.risk_aware import ROUNDING_H, ConformalMargins
from carbonshift.scheduler.workloads import Jobs, deadlines


def _jobs(est: np.ndarray, true: np.ndarray) -> Jobs:
    n = len(est)
    z = np.zeros(n)
    submit = np.zeros(n, np.int64)
    return Jobs(id=np.arange(n), type=np.zeros(n, np.int8), submit_h=submit, gpus=np.ones(n, np.int64),
                duration_h=true, est_duration_h=est, flex=z + 1.0, deadline_h=deadlines(submit, est, z + 1.0),
                ckpt_interval_h=np.ones(n), ckpt_overhead_h=z, gpu_kw=z + 0.7, data_gb=z, home=np.zeros(n, np.int64))


def test_observed_jobs_set_the_padding_when_the_history_is_easier():
    rng = np.random.default_rng(0)
    hist_est = rng.integers(5, 40, 2000).astype(float)
    hist_true = np.round((hist_est + ROUNDING_H) * rng.uniform(0.9, 1.1, 2000), 3)     # history: ±10 %
    est = rng.integers(5, 40, 400)
    true = np.maximum(np.round(est * rng.uniform(1.2, 1.5, 400)), 1).astype(np.int64)  # workload: 20–50 % longer
    jobs = _jobs(est, true)
    observe = ConformalMargins(hist_est, hist_true, jobs, 0.9, "observe")
    none = ConformalMargins(hist_est, hist_true, jobs, 0.9, "none")
    before = observe.margins(np.arange(400))
    covered = lambda m: float(np.mean(true <= np.ceil(est * (1 + m) - 1e-9)))  # noqa: E731
    assert covered(before) < 0.2                                   # the history's q0.9 misses this workload
    observe.finished(np.arange(5), 10)        # too few observed jobs for the rank: they only join the history's pool
    assert np.abs(observe.margins(np.arange(400)) - before).max() < 0.01
    observe.finished(np.arange(5, 200), 20)                        # 200 observed: they set the padding
    none.finished(np.arange(200), 20)
    after = observe.margins(np.arange(200, 400))
    assert covered(np.r_[before[:200], after]) > covered(before) + 0.3
    assert float(np.mean(true[200:] <= np.ceil(est[200:] * (1 + after) - 1e-9))) >= 0.85
    assert np.allclose(none.margins(np.arange(400)), before)       # feedback none: the history only
    # the miss probability follows: coverage of the history's padding is now the observed jobs' (low) one
    hours = np.ceil(est[200:] * (1 + before[200:]) - 1e-9)
    assert observe.coverage(np.arange(200, 400), hours).mean() < 0.3 < none.coverage(np.arange(200, 400), hours).mean()
