"""The plan_bench kind (its own module after the simulate split): the table names what it measures, and the
vectorised reservation matrix equals the per-job definition."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from carbonshift.experiments.config import parse
from carbonshift.experiments.kinds.plan_bench import BenchConfig
from carbonshift.experiments.registry import Context, get
from carbonshift.scheduler.plan_bench import _reserved


def test_reserved_matches_the_per_job_definition():
    rng = np.random.default_rng(0)
    n = 60
    dec = SimpleNamespace(job=np.arange(n), region=rng.integers(-1, 3, n), start=rng.integers(0, 20, n),
                          hours=rng.integers(1, 5, n), slots={3: np.array([1, 4, 9]), 8: np.array([0, 2])})
    dec.region[[3, 8]] = [0, 2]
    jobs = SimpleNamespace(gpus=rng.integers(1, 8, n))
    want = np.zeros((3, 30), np.int64)
    for i in np.flatnonzero(dec.region >= 0):
        hours = dec.slots.get(int(i), np.arange(dec.start[i], dec.start[i] + dec.hours[i]))
        want[dec.region[i], hours] += jobs.gpus[i]
    assert np.array_equal(_reserved(dec, jobs, SimpleNamespace(n=3), 30), want)


def test_plan_bench_kind_reports_plan_and_process_memory_separately(tmp_path):
    cfg = parse({"kind": "plan_bench", "name": "b", "zones": ["DE", "GB"], "horizon_h": 48, "job_counts": [20],
                 "repeats": 1, "adapt_events": 5, "policies": ["cooperative", "performance_first"]}, BenchConfig)
    res = get("plan_bench").run(cfg, Context(out_dir=tmp_path))
    table = res.tables["scale"]
    assert list(table["policy"]) == ["cooperative", "performance_first"] and (table["placed"] == 20).all()
    assert (table["process_max_rss_mb"] > table["peak_mem_mb"]).all()     # process figure ≫ one plan call
    assert {"cooperative.n20.plan_seconds", "performance_first.n20.peak_mem_mb"} <= set(res.metrics)
