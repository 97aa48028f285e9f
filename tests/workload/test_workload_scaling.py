"""Elastic scaling planner, fixed-size baselines, GPU-generation assignment, and kind ``scaling`` on real CI."""
import numpy as np
import pytest

from carbonshift.experiments.config import ConfigError, parse
from carbonshift.experiments.kinds.scaling import ScalingConfig, run
from carbonshift.experiments.registry import Context
from carbonshift.scheduler.scaling import (GpuGeneration, assign_generations, footprint, plan_elastic, plan_fixed_asap,
                               plan_fixed_shift, throughput, windows)

LEVELS = np.array([0.0, 0.5, 1.0, 1.5, 2.0])


def test_throughput_curve():
    s = np.linspace(0, 3, 31)
    for beta in (0.0, 0.2, 0.6):
        t = throughput(s, np.full_like(s, beta))
        assert t[0] == 0 and throughput(np.array([1.0]), np.array([beta]))[0] == pytest.approx(1.0)
        assert (np.diff(t) > 0).all() and (np.diff(t, 2) <= 1e-12).all()  # increasing, concave
    assert np.allclose(throughput(s, np.zeros_like(s)), s)  # β = 0: linear


def test_elastic_by_hand():
    ci = np.array([[100.0, 500.0, 100.0, 500.0, np.nan]])
    one = np.ones(1)
    plan = plan_elastic(ci, np.array([2.0]), np.array([8.0]), np.zeros(1), 0.7 * one, one, LEVELS)
    assert plan.gpus.tolist() == [[16, 0, 0, 0, 0]] and plan.done[0] and plan.finish_h[0] == 1
    pause = plan_elastic(ci, np.array([2.0]), np.array([8.0]), np.zeros(1), 0.7 * one, one, np.array([0.0, 1.0]))
    assert pause.gpus.tolist() == [[8, 0, 8, 0, 0]] and pause.rescale_events()[0] == 2
    shift = plan_fixed_shift(ci, np.array([1.5]), np.array([8.0]), one)
    assert shift.gpu_h.tolist() == [[8, 4, 0, 0, 0]]  # cleanest 2-hour start is hour 0, half of hour 1


def test_shrinking_is_preferred_when_scaling_is_sublinear():
    ci = np.full((1, 10), 300.0)
    one = np.ones(1)
    plan = plan_elastic(ci, np.array([3.0]), np.array([8.0]), np.array([0.3]), 0.7 * one, one, LEVELS)
    assert plan.done[0] and (plan.gpus[0][plan.gpus[0] > 0] == 4).all()  # half size: most work per GPU-hour
    assert plan.gpu_h.sum() < 3 * 8


@pytest.mark.parametrize("seed", range(5))
def test_planner_ordering_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    J, W = 40, 30
    win = rng.integers(8, W + 1, J)
    ci = np.where(np.arange(W)[None, :] < win[:, None], rng.uniform(50, 600, (J, W)), np.nan)
    work = np.floor(win / rng.uniform(1.2, 1.6, J))
    g0 = rng.integers(4, 64, J).astype(float)
    beta = rng.uniform(0, 0.5, J)
    kw, speed = np.full(J, 0.4), np.ones(J)
    plans = {"asap": plan_fixed_asap(W, work, g0, speed), "shift": plan_fixed_shift(ci, work, g0, speed),
             "pause": plan_elastic(ci, work, g0, beta, kw, speed, np.array([0.0, 1.0])),
             "elastic": plan_elastic(ci, work, g0, beta, kw, speed, LEVELS)}
    kg = {k: footprint(p, ci, kw, 1.1)["kg"] for k, p in plans.items()}
    assert all(p.done.all() for p in plans.values())
    assert (kg["elastic"] <= kg["pause"] + 1e-9).all() and (kg["pause"] <= kg["shift"] + 1e-9).all()
    assert (kg["shift"] <= kg["asap"] + 1e-9).all()
    # linear jobs: GPU-hours / g0 is exactly the work done
    lin = plan_elastic(ci, work, g0, np.zeros(J), kw, speed, LEVELS)
    assert np.allclose(lin.gpu_h.sum(axis=1) / g0, work)
    assert np.isnan(ci[lin.gpus > 0]).sum() == 0  # nothing scheduled outside the window


def test_faster_generation_needs_less_time():
    plan = plan_fixed_asap(20, np.array([9.0]), np.array([8.0]), np.array([3.0]))
    assert plan.finish_h[0] == 3 and plan.gpu_h.sum() == pytest.approx(24.0)


def test_windows_slice_home_region_and_reject_overrun():
    ci = np.arange(20.0).reshape(2, 10)
    w = windows(ci, np.array([1, 0]), np.array([2, 0]), np.array([5, 2]))
    assert w.shape == (2, 3) and w[0].tolist() == [12, 13, 14] and w[1, :2].tolist() == [0, 1] and np.isnan(w[1, 2])
    with pytest.raises(ValueError, match="past the carbon signal"):
        windows(ci, np.array([0]), np.array([5]), np.array([12]))


def test_generation_assignment():
    gens = [GpuGeneration("fast_eff", 2.0, 0.5, 8), GpuGeneration("ref", 1.0, 0.4, 100),
            GpuGeneration("slow", 0.25, 0.3, 100)]
    submit = np.array([0, 0, 0])
    work, g0, window = np.array([10.0, 40.0, 10.0]), np.array([8.0, 8.0, 8.0]), np.array([20.0, 60.0, 20.0])
    gen, over = assign_generations(gens, submit, window, work, g0, 100, "long_to_efficient")
    assert gen[1] == 0 and set(gen[[0, 2]]) == {1} and not over.any()  # the long job gets the efficient GPU
    gen, _ = assign_generations(gens, submit, window, work, g0, 100, "arrival_fastest")
    assert gen[0] == 0  # first arrival takes the fastest
    assert 2 not in assign_generations(gens, submit, window, work, g0, 100, "blind", seed=3)[0]  # slow: infeasible
    tiny = [GpuGeneration("only", 1.0, 0.4, 4)]
    assert assign_generations(tiny, submit, window, work, g0, 100, "blind")[1].all()  # no room → overflow
    with pytest.raises(ValueError, match="unknown policy"):
        assign_generations(gens, submit, window, work, g0, 100, "nope")


def test_scaling_kind_on_real_2023_ci(tmp_path):
    cfg = parse({"kind": "scaling", "name": "t", "workload": {"n_jobs": 60, "span_h": 96}}, ScalingConfig)
    res = run(cfg, Context(out_dir=tmp_path))
    t = res.tables["scaling_comparison"].set_index(["fleet", "planner"])
    h = t.loc["homogeneous_A100"]
    assert (t["deadline_met_pct"] == 100).all()
    assert h.loc["elastic", "carbon_t"] <= h.loc["fixed_pause", "carbon_t"] <= h.loc["fixed_asap", "carbon_t"]
    assert h.loc["fixed_asap", "completion_mean_h"] <= h.loc["elastic", "completion_mean_h"]
    assert res.tables["gpu_assignment"]["jobs"].groupby(res.tables["gpu_assignment"]["fleet"]).sum().eq(60).all()
    assert np.isfinite(list(res.metrics.values())).all()


def test_scaling_config_rejects_bad_levels():
    with pytest.raises(ConfigError, match="scaling.levels"):
        parse({"kind": "scaling", "name": "t", "scaling": {"levels": [0.5, 1.0]}}, ScalingConfig)
    with pytest.raises(ConfigError, match="reference generation"):
        parse({"kind": "scaling", "name": "t", "scaling": {"generations": [
            {"name": "a", "speed": 2.0, "kw": 0.5, "count": 4}]}}, ScalingConfig)


def test_capacity_is_respected_in_arrival_order():
    from carbonshift.scheduler.scaling import plan_with_capacity

    J, W, T = 6, 6, 12
    ci = np.tile(np.array([100.0, 500, 500, 500, 500, 500]), (J, 1))  # everyone wants hour 0
    work, g0 = np.full(J, 2.0), np.full(J, 4.0)
    one = np.ones(J)
    submit = np.zeros(J, np.int64)

    def planner(j, cap):
        r = slice(j, j + 1)
        return plan_elastic(ci[r], work[r], g0[r], np.zeros(1), 0.4 * one[r], one[r], LEVELS, cap)

    free = plan_elastic(ci, work, g0, np.zeros(J), 0.4 * one, one, LEVELS)
    assert free.gpus[:, 0].sum() == J * 8  # unlimited: all pile into the clean hour
    plan, over = plan_with_capacity(planner, np.arange(J), np.zeros(J, np.int64), submit, np.full((1, T), 16.0), W)
    assert not over.any() and plan.done.all() and (plan.gpus.sum(axis=0) <= 16).all()
    assert plan.gpus[:2, 0].tolist() == [8, 8] and (plan.gpus[2:, 0] == 0).all()  # first come, first served
    kg_cap = footprint(plan, ci, 0.4 * one, 1.0)["kg"].sum()
    assert kg_cap > footprint(free, ci, 0.4 * one, 1.0)["kg"].sum()
    tight, over = plan_with_capacity(planner, np.arange(J), np.zeros(J, np.int64), submit, np.full((1, T), 4.0), W)
    assert over.sum() > 0 and tight.done.all()  # what cannot fit runs uncapped and is flagged
