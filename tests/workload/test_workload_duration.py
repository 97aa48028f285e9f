"""Duration estimator on a real slice of the Alibaba GPU trace + synthetic edge cases."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.kinds.duration import DurationStudySection, estimator_factory
from carbonshift.scheduler.duration import (ALIBABA_CATEGORICAL, ALIBABA_NUMERIC, DurationEstimator, error_metrics,
                                jobs_history, load_alibaba_history)
from carbonshift.scheduler.duration_evaluation import evaluate, time_split


@pytest.fixture(scope="module")
def hist():
    return load_alibaba_history()


def small(**kw):
    return DurationEstimator(numeric=ALIBABA_NUMERIC, categorical=ALIBABA_CATEGORICAL, max_iter=20, **kw)


@pytest.fixture(scope="module")
def split(hist):
    return time_split(hist.iloc[:2500], 0.7)[:2]


@pytest.fixture(scope="module")
def fitted(split):
    return small(k=5).fit(split[0])


def test_trace_history_is_clean_and_time_ordered(hist):
    assert len(hist) == 7221  # 7 255 scheduled − 34 still running at the trace end (censored)
    assert (hist["duration"] > 0).all() and hist["creation_s"].is_monotonic_increasing
    assert (hist["finish_s"] < 12_902_960).all() and hist["kind"].nunique() > 100
    assert "pod_phase" not in hist.columns  # outcome column must not leak into the features


def test_time_split_only_trains_on_finished_jobs(hist):
    train, test, split_s = time_split(hist, 0.7)
    assert (train["finish_s"] <= split_s).all() and (test["creation_s"] >= split_s).all()
    assert set(train["name"]).isdisjoint(test["name"])


def test_quantiles_ordered_and_beat_global_median(split, fitted):
    train, test = split
    pred = fitted.predict(test)
    assert (pred["q0.1"] <= pred["q0.5"]).all() and (pred["q0.5"] <= pred["q0.9"]).all()
    true = test["duration"].to_numpy()
    learned = error_metrics(true, pred["estimate"].to_numpy())["median_ape_pct"]
    naive = error_metrics(true, np.full(len(test), train["duration"].median()))["median_ape_pct"]
    assert learned < naive


def test_unseen_kind_uses_similarity(split, fitted):
    train, est = split[0], fitted
    job = train.iloc[[0]].assign(kind="never-seen", cpu_milli=train["cpu_milli"].iloc[0] + 1)
    out = est.predict(job)
    assert out["method"].iloc[0] == "knn"
    # the similarity estimate is a quantile of real neighbours' durations
    assert train["duration"].min() <= out["estimate"].iloc[0] <= train["duration"].max()
    assert est.predict(train.iloc[:50])["method"].eq("model").mean() > 0.5


def test_knn_recovers_a_synthetic_law():
    rng = np.random.default_rng(0)
    n = 400
    gpus = rng.integers(1, 9, n).astype(float)
    frame = pd.DataFrame({"gpus": gpus, "requested_h": rng.uniform(1, 50, n), "type": rng.choice(["a", "b"], n)})
    frame["duration"] = frame["requested_h"] * np.where(frame["type"] == "a", 1.0, 2.0)
    frame["kind"] = frame["type"]
    est = DurationEstimator(numeric=("gpus", "requested_h"), categorical=("type",), k=5, max_iter=60).fit(frame)
    probe = pd.DataFrame({"gpus": [4.0, 4.0], "requested_h": [10.0, 10.0], "type": ["a", "b"], "kind": ["x", "y"]})
    knn = est.predict(probe)["estimate"].to_numpy()  # kinds x/y unseen → k-NN
    assert knn[0] == pytest.approx(10, rel=0.35) and knn[1] == pytest.approx(20, rel=0.35)
    model = est.predict_model(probe)[:, 1]
    assert model[0] == pytest.approx(10, rel=0.25) and model[1] == pytest.approx(20, rel=0.25)


def test_update_extends_history_and_changes_estimates(hist):
    est = small().fit(hist.iloc[:800])
    before = est.predict(hist.iloc[2000:2100])["estimate"].to_numpy()
    est.update(hist.iloc[800:1600])
    assert len(est.history) == 1600
    assert not np.allclose(before, est.predict(hist.iloc[2000:2100])["estimate"].to_numpy())


def test_bad_input_is_named():
    est = DurationEstimator(numeric=("gpus",), categorical=())
    with pytest.raises(ValueError, match="lacks columns"):
        est.fit(pd.DataFrame({"gpus": [1.0] * 20, "duration": [1.0] * 20}))
    with pytest.raises(ValueError, match="> 0"):
        est.fit(pd.DataFrame({"gpus": [1.0] * 20, "kind": ["a"] * 20, "duration": [0.0] * 20}))
    with pytest.raises(ValueError, match="contain 0.5"):
        DurationEstimator(numeric=("gpus",), categorical=(), quantiles=(0.1, 0.9))


def test_error_metrics_by_hand():
    m = error_metrics(np.array([10.0, 10.0, 10.0, 10.0]), np.array([11.0, 13.0, 10.0, 5.0]),
                      np.array([9.0, 9.0, 11.0, 1.0]), np.array([12.0, 12.0, 12.0, 20.0]))
    assert m["within_20pct"] == 50.0 and m["mape_pct"] == pytest.approx(22.5)
    assert m["median_ape_pct"] == pytest.approx(20.0) and m["coverage_pct"] == 75.0


def test_evaluate_small_slice(hist):
    cfg = DurationStudySection(max_iter=10, feedback_chunks=2)
    errors, feedback, info = evaluate(hist.iloc[:2000], cfg, estimator_factory(cfg, 0), seed=0)
    assert {"global_median", "kind_median", "knn", "quantile_gbm", "hybrid"} <= set(errors["method"])
    assert set(errors["evaluation"]) == {"time_split", "unseen_kinds"}
    assert errors["within_20pct"].between(0, 100).all()
    fb = feedback.set_index(["chunk", "estimator"])["history_jobs"]
    assert fb[(1, "feedback")] > fb[(1, "static")]  # the loop added finished jobs


def test_jobs_history_adapter():
    from carbonshift.scheduler.workloads import make_jobs

    rng = np.random.default_rng(1)
    jobs = make_jobs(type_=np.array([0, 1, 2]), submit_h=np.array([0, 1, 2]), gpus=np.array([32, 8, 16]),
                     duration_h=np.array([50.0, 20.0, 100.0]), flex=np.array([0.3, 0.3, 0.5]),
                     ckpt_interval_h=np.array([0.5, 0.5, 1.0]), data_gb=np.array([1.0, 1.0, 1.0]),
                     home=np.array([0, 0, 0]), rng=rng, gpu_kw=0.4)
    frame = jobs_history(jobs)
    assert list(frame["type"]) == ["lm", "cv", "rl"] and list(frame["duration"]) == [50.0, 20.0, 100.0]


def test_feedback_on_scheduler_jobs_and_planning_margin():
    from carbonshift.scheduler.duration import JOBS_CATEGORICAL, JOBS_NUMERIC, planning_margin
    from carbonshift.scheduler.generators import GeneratorSpec, generate

    past = jobs_history(generate(GeneratorSpec(n_jobs=400), 3, seed=1))
    new = jobs_history(generate(GeneratorSpec(n_jobs=200), 3, seed=2))
    est = DurationEstimator(numeric=JOBS_NUMERIC, categorical=JOBS_CATEGORICAL, max_iter=40, min_kind_count=5)
    est.fit(past.iloc[:200]).update(past.iloc[200:])  # finished jobs flow back into the estimator
    pred = est.predict(new)
    m = error_metrics(new["duration"].to_numpy(), pred["estimate"].to_numpy())
    naive = error_metrics(new["duration"].to_numpy(), np.full(len(new), past["duration"].median()))
    assert m["within_20pct"] > 70 > naive["within_20pct"]  # the profiled request carries the signal
    margin = planning_margin(pred, 0.9)
    assert (margin >= 0).all() and margin.mean() > 0
    with pytest.raises(ValueError, match="q0.95"):
        planning_margin(pred, 0.95)
