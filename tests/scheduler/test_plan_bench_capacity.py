"""plan_bench with capacity that binds: ``binding_gpus`` sizes regions from the jobs' mean GPU demand, the
benchmarked plan then fills cells to capacity (``full_cells_pct`` > 0) without exceeding it, and bad
inputs fail with the parameter named."""
from __future__ import annotations

import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.plan_bench import _reserved, bench_plan, binding_gpus
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import controlled_error


def test_binding_gpus_is_factor_times_mean_demand_per_region():
    jobs = generate(GeneratorSpec(n_jobs=300, span_h=24, max_deadline_h=168), 3, seed=0)
    demand = float((jobs.gpus * jobs.duration_h).sum()) / (3 * 24)
    assert binding_gpus(jobs, 3, 24, 0.5) == int(np.ceil(0.5 * demand))
    assert binding_gpus(jobs, 3, 24, 1e-9) == int(jobs.gpus.max())        # every job still fits somewhere
    with pytest.raises(ValueError, match="factor"):
        binding_gpus(jobs, 3, 24, 0.0)


def test_bench_plan_under_binding_capacity_fills_cells_but_never_overfills(carbon):
    horizon = 168
    jobs = generate(GeneratorSpec(n_jobs=400, span_h=24, max_deadline_h=horizon), len(carbon.regions), seed=1)
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=horizon, seed=0)
    rows = {}
    for factor in (0.3, None):
        gpus = 100_000 if factor is None else binding_gpus(jobs, len(carbon.regions), 24, factor)
        dc = DataCenters.uniform(carbon.regions, gpus)
        rows[factor] = bench_plan(lambda dc=dc: make_policy("cooperative", dc), jobs, carbon, fc, dc, horizon,
                                  repeats=1, adapt_events=5, seed=0)
        dec = make_policy("cooperative", dc).plan(jobs, np.arange(len(jobs)), 0, _empty(dc, horizon),
                                                  _view(carbon, fc))
        assert (_reserved(dec, jobs, dc, horizon) <= dc.gpus[:, None]).all()
    assert rows[None]["full_cells_pct"] == 0.0
    assert rows[0.3]["full_cells_pct"] > 5.0 and rows[0.3]["gpus_per_region"] < 100_000
    assert rows[0.3]["planned_on_time"] < rows[None]["planned_on_time"]       # the capacity binds


def _empty(dc: DataCenters, horizon: int):
    from carbonshift.scheduler.policies.base import ClusterState

    return ClusterState(dc.gpus.copy(), np.zeros((dc.n, horizon), np.int64))


def _view(carbon, fc):
    from carbonshift.scheduler.signals import PolicyView

    return PolicyView(carbon, fc, 0)
