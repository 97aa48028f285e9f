"""Jobs input checks: a bad field is a ValueError naming the field and the job (id, row), never an
AssertionError, IndexError, divide-by-zero or a negative carbon figure further down."""
from dataclasses import fields, replace

import numpy as np
import pytest

from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.workloads import Jobs, deadlines, make_jobs


def _jobs(n: int = 4) -> Jobs:
    return make_jobs(type_=np.zeros(n), submit_h=np.arange(n), gpus=np.full(n, 8), duration_h=np.full(n, 10.0),
                     flex=np.full(n, 0.3), ckpt_interval_h=np.full(n, 0.5), data_gb=np.full(n, 100.0),
                     home=np.zeros(n), rng=np.random.default_rng(0), gpu_kw=0.7)


def _with(jobs: Jobs, name: str, row: int, value: float) -> Jobs:
    """``jobs`` with ``name[row] = value`` (deadline recomputed so only ``name`` is wrong)."""
    arr = getattr(jobs, name).astype(np.float64 if isinstance(value, float) else getattr(jobs, name).dtype)
    arr[row] = value
    out = {f.name: getattr(jobs, f.name) for f in fields(jobs)} | {name: arr}
    if name in ("submit_h", "est_duration_h", "flex"):
        out["deadline_h"] = deadlines(out["submit_h"], out["est_duration_h"], out["flex"])
    return Jobs(**out)


@pytest.mark.parametrize(("name", "value"), [
    ("submit_h", -1), ("data_gb", -5.0), ("gpu_kw", 0.0), ("gpu_kw", -0.7), ("ckpt_interval_h", 0.0),
    ("ckpt_interval_h", -0.5), ("flex", -0.1), ("duration_h", 0), ("est_duration_h", 0), ("gpus", 0),
    ("data_gb", float("nan")), ("flex", float("inf")), ("ckpt_overhead_h", -0.1), ("home", -1), ("type", 7),
])
def test_bad_field_names_field_and_job(name, value):
    jobs = _jobs()
    with pytest.raises(ValueError, match=rf"Jobs\.{name}: .*id 2 \(row 2\)"):
        _with(jobs, name, 2, value)


def test_deadline_before_submit_is_rejected():
    jobs = _jobs()
    with pytest.raises(ValueError, match=r"Jobs\.deadline_h: deadline must be ≥ submit_h.*id 1 \(row 1\)"):
        replace(jobs, deadline_h=np.where(np.arange(4) == 1, 0, jobs.deadline_h))


def test_offender_count_and_ids_are_reported():
    jobs = _jobs(8)
    bad = jobs.data_gb.copy()
    bad[[3, 6]] = -1.0
    with pytest.raises(ValueError, match=r"Jobs\.data_gb: .*2 job\(s\) fail, e\.g\. id 3 \(row 3\).*id 6 \(row 6\)"):
        replace(jobs, data_gb=bad)


def test_take_and_valid_jobs_pass():
    jobs = generate(GeneratorSpec(n_jobs=200, mode="table1"), 3, seed=0)
    sub = jobs.take(np.array([5, 1, 9]))
    assert sub.id.tolist() == [5, 1, 9]


def test_make_jobs_rejects_non_finite_and_non_positive_duration():
    n = 3
    args = dict(type_=np.zeros(n), submit_h=np.arange(n), gpus=np.full(n, 8), flex=np.full(n, 0.3),
                ckpt_interval_h=np.full(n, 0.5), data_gb=np.full(n, 1.0), home=np.zeros(n),
                rng=np.random.default_rng(0), gpu_kw=0.7)
    with pytest.raises(ValueError, match=r"make_jobs\.duration_h: 1 job\(s\) not finite, e\.g\. rows \[1\]"):
        make_jobs(duration_h=np.array([5.0, np.nan, 5.0]), **args)
    with pytest.raises(ValueError, match=r"make_jobs\.duration_h: must be > 0 h.*rows \[2\]"):
        make_jobs(duration_h=np.array([5.0, 5.0, -3.0]), **args)
    with pytest.raises(ValueError, match=r"make_jobs\.submit_h: .*rows \[0\]"):
        make_jobs(duration_h=np.full(n, 5.0), **(args | {"submit_h": np.array([np.nan, 1, 2])}))


def test_generator_zero_power_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Jobs\.gpu_kw: power per GPU must be > 0 kW"):
        generate(GeneratorSpec(n_jobs=10, gpu_kw=0.0), 2, seed=0)
