"""Learned duration margins in the risk-aware policy and the simulator's feedback loop into the estimator."""
import copy

import numpy as np
import pytest

from carbonshift.experiments.config import ConfigError, parse
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.duration import (JOBS_CATEGORICAL, JOBS_NUMERIC, JOBS_TIME_COLS, DurationEstimator, EstimatorMargins,
                                jobs_history, planning_margin, prior_history)
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.base import ClusterState
from carbonshift.scheduler.policies.cooperative import RiskAware
from carbonshift.scheduler.signals import PolicyView, controlled_error
from carbonshift.scheduler.simulator import DONE, simulate
from carbonshift.scheduler.workloads import make_jobs


def underestimated_jobs(n: int, regions: int, seed: int):
    """Jobs whose profiled estimate is 80 % of the true duration (every one overruns its estimate)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(5, 30, n).astype(float)
    return make_jobs(type_=rng.integers(0, 4, n), submit_h=np.sort(rng.integers(0, 96, n)),
                     gpus=rng.integers(4, 32, n), duration_h=true, flex=np.full(n, 0.6),
                     ckpt_interval_h=np.full(n, 0.5), data_gb=np.full(n, 10.0), home=rng.integers(0, regions, n),
                     rng=rng, gpu_kw=0.7, est_duration_h=np.maximum(np.rint(true * 0.8), 1).astype(np.int64))


def test_per_job_margins_set_the_reserved_hours(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = generate(GeneratorSpec(n_jobs=30, span_h=48, flexibility=0.6), dc.n, seed=3)
    margins = np.where(np.arange(30) % 2 == 0, 0.0, 0.4)
    view = PolicyView(carbon, controlled_error(carbon, "perfect"), 0)
    state = ClusterState(dc.gpus.copy(), np.zeros((dc.n, carbon.n_hours), np.int64))
    dec = RiskAware(dc, duration_margin=margins).plan(jobs, np.arange(30), 0, state, view)
    est = jobs.est_duration_h[dec.job]
    want = np.ceil(est * (1 + margins[dec.job]) - 1e-9)
    assert (dec.region >= 0).all() and np.array_equal(dec.hours, want)
    assert (dec.start + dec.hours <= jobs.deadline_h[dec.job]).all()    # padded runs still end by the deadline
    scalar = RiskAware(dc, duration_margin=0.4).plan(jobs, np.arange(30), 0, state, view)
    padded = margins[dec.job] > 0
    assert np.array_equal(dec.hours[padded], scalar.hours[padded])      # same rule as the fixed margin
    with pytest.raises(ValueError, match="margins"):
        RiskAware(dc, duration_margin=-margins).plan(jobs, np.arange(30), 0, state, view)


def test_margin_covering_the_overrun_keeps_every_deadline(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = underestimated_jobs(40, dc.n, seed=4)
    fc = controlled_error(carbon, "perfect")
    exact = jobs.duration_h / jobs.est_duration_h - 1.0             # a larger predicted quantile → larger margin
    safe = simulate(jobs, carbon, fc, dc, RiskAware(dc, duration_margin=exact))
    blind = simulate(jobs, carbon, fc, dc, RiskAware(dc, duration_margin=np.zeros(40)))
    assert (safe.status == DONE).all() and safe.on_time.all()
    assert blind.on_time.sum() < 40                                 # planning only the estimate runs late
    # the padded job is placed earlier (or at the same hour) than the unpadded one
    assert (safe.start <= blind.start).mean() > 0.5


@pytest.fixture(scope="module")
def prior():
    past = prior_history(generate(GeneratorSpec(n_jobs=200, span_h=200), 3, seed=11))
    return past


def make_estimator(prior):
    return DurationEstimator(numeric=JOBS_NUMERIC, categorical=JOBS_CATEGORICAL, quantiles=(0.5, 0.9), max_iter=40,
                             learning_rate=0.2,
                             time_cols=JOBS_TIME_COLS).fit(prior)


def test_prior_history_ends_before_the_simulation(prior):
    assert (prior["finish_h"] <= 0).all() and (prior["submit_h"] < prior["finish_h"]).all()
    assert prior["finish_h"].max() == 0


def test_feedback_changes_later_predictions(prior):
    rng = np.random.default_rng(5)
    jobs = generate(GeneratorSpec(n_jobs=300, span_h=100), 3, seed=12)
    spread = make_jobs(type_=jobs.type, submit_h=jobs.submit_h, gpus=jobs.gpus,
                       duration_h=jobs.est_duration_h * rng.uniform(1.0, 3.0, len(jobs)), flex=jobs.flex,
                       ckpt_interval_h=jobs.ckpt_interval_h, data_gb=jobs.data_gb, home=jobs.home, rng=rng,
                       gpu_kw=0.7, est_duration_h=jobs.est_duration_h)     # true durations 1–3 × the estimate
    later = np.arange(200, 300)
    static = EstimatorMargins(make_estimator(prior), spread, 0.9, feedback="none")
    loop = EstimatorMargins(make_estimator(prior), spread, 0.9, feedback="update", update_every=150)
    before = loop.margins(later).copy()
    np.testing.assert_array_equal(before, static.margins(later))
    for src in (static, loop):
        src.finished(np.arange(0, 100), 50)
        src.finished(np.arange(100, 200), 90)
    after = loop.margins(later)
    assert loop.n_observed == 200 and loop.n_refits == 1 and static.n_observed == 0
    np.testing.assert_array_equal(static.margins(later), before)    # no feedback: nothing changes
    assert after.mean() > before.mean() + 0.05                      # it learnt the wider spread of finished jobs
    assert len(loop.estimator.history) == len(prior) + 200


def test_observe_feeds_the_online_profile_without_refit(prior):
    jobs = generate(GeneratorSpec(n_jobs=60, span_h=100), 3, seed=13)
    src = EstimatorMargins(make_estimator(prior), jobs, 0.9, feedback="observe")
    models = dict(src.estimator._models)
    src.finished(np.arange(20), 30)
    src.margins(np.arange(20, 60))
    assert src.n_observed == 20 and src.n_refits == 0 and src.estimator._models == models
    recent = src.estimator.recent_log_median(jobs_history(jobs).iloc[[59]])
    assert np.isfinite(recent).all()
    src.finished(np.arange(20, 40), 70)                             # cached rows submitted earlier are kept
    cached = src.margins(np.arange(60))                             # folds the second batch in first
    np.testing.assert_allclose(cached, planning_margin(src.estimator.predict(jobs_history(jobs)), 0.9))
    with pytest.raises(ValueError, match="time_cols"):
        EstimatorMargins(DurationEstimator(numeric=JOBS_NUMERIC, categorical=JOBS_CATEGORICAL).fit(prior), jobs)


TINY = {"kind": "simulate", "name": "tiny_loop", "seed": 2,
        "data": {"zones": ["US-CAL-CISO", "DE"], "start": "2023-05-01", "span_days": 3, "tail_days": 8},
        "workload": {"n_jobs": 30}, "datacenters": {"gpus_per_region": 512},
        "policies": ["performance_first", "risk_aware"], "oracle": {"enabled": False},
        "duration": {"model": "estimator", "feedback": "update", "update_every": 10, "history_jobs": 100,
                     "max_iter": 20}}


def test_simulate_kind_with_estimator_feedback(tmp_path):
    result = get("simulate").run(parse(TINY, SimulateConfig), Context(seed=2, out_dir=tmp_path))
    m = result.metrics
    done = 30 - m["risk_aware.n_unfinished"] - m["risk_aware.n_rejected"]
    assert m["duration.n_observed"] == done and m["duration.n_refits"] >= 1
    assert 0 < m["duration.margin_mean"] and 0 <= m["duration.covered_pct"] <= 100
    assert "estimator q0.9 margins, feedback update" in result.summary["risk_aware durations"]
    fixed = get("simulate").run(parse({**TINY, "duration": {}}, SimulateConfig), Context(seed=2, out_dir=tmp_path))
    assert fixed.metrics["duration.margin_mean"] == 0.25 and "duration.n_observed" not in fixed.metrics
    bad = copy.deepcopy(TINY)
    bad["workload"]["source"] = "alibaba"
    with pytest.raises(ConfigError, match="duration.model"):
        parse(bad, SimulateConfig)


def test_pad_to_fit_keeps_the_padding_the_window_allows(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    rng = np.random.default_rng(6)
    jobs = make_jobs(type_=np.zeros(1, np.int64), submit_h=np.array([0]), gpus=np.array([8]),
                     duration_h=np.array([20.0]), flex=np.array([0.3]), ckpt_interval_h=np.array([0.5]),
                     data_gb=np.array([1.0]), home=np.array([0]), rng=rng, gpu_kw=0.7,
                     est_duration_h=np.array([20]))                 # deadline 26 h: a 1.5 × 20 h run cannot fit
    view = PolicyView(carbon, controlled_error(carbon, "perfect"), 0)
    state = ClusterState(dc.gpus.copy(), np.zeros((dc.n, carbon.n_hours), np.int64))
    plain = RiskAware(dc, duration_margin=0.5).plan(jobs, np.arange(1), 0, state, view)
    fit = RiskAware(dc, duration_margin=0.5, pad_to_fit=True).plan(jobs, np.arange(1), 0, state, view)
    assert plain.hours[0] == 20                                        # falls back to the bare estimate
    assert fit.hours[0] == 26 and fit.start[0] == 0                    # keeps 6 h of padding, starts at once
