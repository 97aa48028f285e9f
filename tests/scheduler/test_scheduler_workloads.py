"""Jobs: deadlines, generator ranges, validation; Alibaba trace loader."""
import re

import numpy as np
import pytest

from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.traces import trace_jobs
from carbonshift.scheduler.workloads import TABLE1, TYPES, Jobs, deadlines


def test_deadline_is_submit_plus_padded_estimate():
    d = deadlines(np.array([0, 10, 5]), np.array([10, 7, 24]), np.array([0.3, 0.5, 0.2]))
    assert d.tolist() == [13, 10 + 11, 5 + 29]   # ceil(10.5)=11, ceil(28.8)=29


def test_fitted_generator_respects_seed_distributions():
    jobs = generate(GeneratorSpec(n_jobs=4000, span_h=720), 6, seed=1)
    assert jobs.gpus.min() >= 4 and jobs.gpus.max() <= 256
    assert jobs.duration_h.min() >= 2 and jobs.duration_h.max() <= 196
    assert 0.2 <= jobs.flex.min() and jobs.flex.max() <= 0.5
    assert abs(np.median(jobs.gpus) - np.exp(3.2)) < 4            # log-normal median e^μ ≈ 24.5
    assert 20 < jobs.duration_h.mean() < 28                        # exponential mean 24 h, clipped
    ratio = jobs.est_duration_h / jobs.duration_h
    assert ratio.min() >= 0.8 - 0.5 / 2 and ratio.max() <= 1.2 + 0.5 / 2
    np.testing.assert_array_equal(jobs.deadline_h, deadlines(jobs.submit_h, jobs.est_duration_h, jobs.flex))
    assert (2 / 60 <= jobs.ckpt_overhead_h).all() and (jobs.ckpt_overhead_h <= 5 / 60).all()
    assert np.all(np.diff(jobs.submit_h) >= 0) and jobs.submit_h.max() < 720


def test_table1_generator_uses_type_ranges():
    jobs = generate(GeneratorSpec(n_jobs=2000, mode="table1"), 3, seed=2)
    for code, name in enumerate(TYPES):
        sel = jobs.type == code
        spec = TABLE1[name]
        assert spec.gpus[0] <= jobs.gpus[sel].min() and jobs.gpus[sel].max() <= spec.gpus[1]
        assert spec.flex[0] <= jobs.flex[sel].min() and jobs.flex[sel].max() <= spec.flex[1]
        assert np.all((jobs.ckpt_interval_h[sel] * 60 >= spec.ckpt_min[0] - 1e-9)
                      & (jobs.ckpt_interval_h[sel] * 60 <= spec.ckpt_min[1] + 1e-9))


def test_inconsistent_deadline_is_rejected():
    jobs = generate(GeneratorSpec(n_jobs=5), 2, seed=0)
    fields = {k: getattr(jobs, k).copy() for k in jobs.__dataclass_fields__}
    fields["deadline_h"][0] += 1
    with pytest.raises(ValueError, match="deadline_h"):
        Jobs(**fields)


def test_alibaba_trace_jobs():
    jobs = trace_jobs(3, seed=0, span_h=240, max_jobs=500)
    assert 0 < len(jobs) <= 500
    assert jobs.submit_h.min() >= 0 and jobs.submit_h.max() < 240
    assert jobs.gpus.min() >= 1 and jobs.gpus.max() <= 8
    assert jobs.duration_h.min() >= 1


def test_fixed_flexibility_sets_every_deadline():
    jobs = generate(GeneratorSpec(n_jobs=200, flexibility=0.6), 3, seed=3)
    assert (jobs.flex == 0.6).all()
    np.testing.assert_array_equal(jobs.deadline_h - jobs.submit_h, np.ceil(jobs.est_duration_h * 1.6 - 1e-9))


def _make(**over):
    from carbonshift.scheduler.workloads import make_jobs

    args = dict(type_=np.zeros(3, np.int8), submit_h=np.array([0, 1, 2]), gpus=np.array([8, 8, 8]),
                duration_h=np.array([4.0, 4.0, 4.0]), flex=np.full(3, 0.5), ckpt_interval_h=np.full(3, 0.5),
                data_gb=np.full(3, 10.0), home=np.array([0, 1, 2]), rng=np.random.default_rng(0), gpu_kw=0.7)
    return make_jobs(**{**args, **over})


@pytest.mark.parametrize("over, message", [
    ({"home": np.array([0, 1, 99]), "n_regions": 3},
     "Jobs.home: region index must be < 3 (the number of regions); 1 job(s) fail, e.g. id 2 (row 2): 99"),
    ({"submit_h": np.array([0, 1.5, 2])}, "make_jobs.submit_h: must be whole numbers (never truncated); 1 job(s) "
                                          "fail, e.g. rows [1]: [1.5]"),
    ({"gpus": np.array([8, 8, 2.5])}, "make_jobs.gpus: must be whole numbers (never truncated); 1 job(s) fail, "
                                      "e.g. rows [2]: [2.5]"),
    ({"home": np.array([0, 0.5, 1])}, "make_jobs.home: must be whole numbers"),
    ({"type_": np.array([0, 1.2, 0])}, "make_jobs.type_: must be whole numbers"),
])
def test_make_jobs_rejects_bad_indices_and_fractions(over, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _make(**over)


def test_jobs_constructor_rejects_fractions_and_a_home_past_the_regions():
    jobs = _make(n_regions=3)
    fields = {k: getattr(jobs, k).copy() for k in jobs.__dataclass_fields__}
    fields["gpus"] = fields["gpus"].astype(float)
    fields["gpus"][1] = 7.5
    with pytest.raises(ValueError, match=re.escape("Jobs.gpus: must be a whole number (never truncated); 1 job(s) "
                                                   "fail, e.g. id 1 (row 1): 7.5")):
        Jobs(**fields)
    fields["gpus"][1] = 7.0  # whole numbers in a float array are fine
    assert Jobs(**fields).gpus[1] == 7
    with pytest.raises(ValueError, match=re.escape("Jobs.home: region index must be < 2 (the number of regions)")):
        jobs.validate(n_regions=2)


def test_simulate_names_a_home_region_the_data_centres_lack():
    import pandas as pd

    from carbonshift.scheduler.datacenters import DataCenters
    from carbonshift.scheduler.policies.registry import make_policy
    from carbonshift.scheduler.signals import CarbonSignal
    from carbonshift.scheduler.simulator import simulate

    times = pd.date_range("2023-01-01", periods=48, freq="h", tz="UTC")
    carbon = CarbonSignal(np.full((2, 48), 300.0), np.full((2, 48), 30.0), times, ["A", "B"])
    dc = DataCenters.uniform(["A", "B"], gpus=64)
    with pytest.raises(ValueError, match=re.escape("Jobs.home: region index must be < 2 (the number of regions); "
                                                   "1 job(s) fail, e.g. id 2 (row 2): 2")):
        simulate(_make(), carbon, None, dc, make_policy("performance_first", dc, seed=1))
