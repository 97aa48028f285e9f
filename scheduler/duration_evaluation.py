"""Time-honest evaluation of job-duration estimates on a task history (the ``duration`` kind): a model only sees
jobs that had *finished* before the moment it predicts. Pure scheduling (no MLflow, no Ray); the estimator:
:class:`scheduler.duration.DurationEstimator`; the error measures: :func:`scheduler.duration.error_metrics`.

1. **time split** — train on tasks created and finished before the ``train_frac`` quantile of creation time,
   test on every task created after it; global median, per-kind median, online per-kind median of the recently
   finished jobs, k-NN, quantile GBM and the hybrid estimate, on all test tasks, tasks ≥ 1 h, GPU tasks and tasks
   of kinds unseen in training.
2. **unseen kinds** — a random ``unseen_kind_frac`` of kinds removed from training; tested on those kinds.
3. **feedback loop** — the test period in ``feedback_chunks`` chunks; a frozen estimator vs one that refits
   with every job finished before each chunk.

Durations in the history's unit (seconds for the Alibaba trace); errors in %.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from carbonshift.scheduler.duration import DurationEstimator, error_metrics

#: (point, interval low or None, interval high or None) estimates of one method, one per test task
Estimate = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
#: a fresh, unfitted estimator (the study's hyperparameters)
EstimatorFactory = Callable[[], DurationEstimator]


class StudySettings(Protocol):
    """What :func:`evaluate` reads (the kind's ``duration`` section)."""

    @property
    def train_frac(self) -> float: ...           # share of tasks (by creation time) in the training period

    @property
    def quantiles(self) -> Sequence[float]: ...  # the estimator's quantile levels, increasing, with 0.5

    @property
    def unseen_kind_frac(self) -> float: ...     # kinds held out in evaluation 2

    @property
    def feedback_chunks(self) -> int: ...        # chunks of the test period in evaluation 3


def time_split(hist: pd.DataFrame, train_frac: float) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Train = created *and finished* before the split time (s); test = created at/after it."""
    split_s = float(np.quantile(hist["creation_s"], train_frac))
    train = hist[(hist["creation_s"] < split_s) & (hist["finish_s"] <= split_s)]
    return train, hist[hist["creation_s"] >= split_s], split_s


def baseline_estimates(train: pd.DataFrame, test: pd.DataFrame, est: DurationEstimator) -> dict[str, np.ndarray]:
    """Global median, per-kind median of the training jobs, and the online per-kind median of the last
    ``recent_window`` jobs finished before each test job was created (all fall back to the global median
    for kinds never seen)."""
    glob = float(train["duration"].median())
    per_kind = test["kind"].map(train.groupby("kind")["duration"].median()).fillna(glob).to_numpy()
    recent = np.exp(est.recent_log_median(test))
    return {"global_median": np.full(len(test), glob), "kind_median": per_kind,
            "recent_kind_median": np.where(np.isnan(recent), glob, recent)}


def error_rows(true: np.ndarray, ests: Mapping[str, Estimate], subsets: Mapping[str, np.ndarray],
               evaluation: str) -> list[dict[str, object]]:
    """One row per method × non-empty subset (boolean mask over the test tasks) with its error metrics."""
    rows: list[dict[str, object]] = []
    for method, (point, lo, hi) in ests.items():
        for subset, mask in subsets.items():
            if mask.sum() == 0:
                continue
            m = error_metrics(true[mask], point[mask], None if lo is None else lo[mask],
                              None if hi is None else hi[mask])
            rows.append({"evaluation": evaluation, "method": method, "subset": subset, **m})
    return rows


def _columns(pred: np.ndarray, quantiles: Sequence[float]) -> Estimate:
    """(median, lowest, highest quantile) columns of a [tasks × quantiles] prediction."""
    return pred[:, list(quantiles).index(0.5)], pred[:, 0], pred[:, len(quantiles) - 1]


def _time_split_rows(hist: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, s: StudySettings,
                     make: EstimatorFactory) -> list[dict[str, object]]:
    """Evaluation 1: models fitted on the training period only; the online profile sees every job once it has
    finished (the feature only uses jobs finished strictly before each test job's creation — no look-ahead)."""
    lo_q, hi_q = f"q{s.quantiles[0]:g}", f"q{s.quantiles[-1]:g}"
    est = make().fit(train).observe(hist[~hist["name"].isin(train["name"])])
    true = test["duration"].to_numpy()
    hybrid = est.predict(test)
    model = est.predict_model(test)
    knn = est.predict_knn(test)
    base = baseline_estimates(train, test, est)
    ests: dict[str, Estimate] = {
        "global_median": (base["global_median"], None, None), "kind_median": (base["kind_median"], None, None),
        "recent_kind_median": (base["recent_kind_median"], None, None),
        "knn": _columns(knn, s.quantiles), "quantile_gbm": _columns(model, s.quantiles),
        "hybrid": (hybrid["estimate"].to_numpy(), hybrid[lo_q].to_numpy(), hybrid[hi_q].to_numpy())}
    subsets = {"all": np.ones(len(test), bool), "ge_1h": true >= 3600,
               "gpu": test["num_gpu"].to_numpy() > 0,
               "unseen_kind": ~test["kind"].isin(train["kind"]).to_numpy()}
    return error_rows(true, ests, subsets, "time_split")


def _unseen_kind_rows(train_h: pd.DataFrame, test_h: pd.DataFrame, s: StudySettings,
                      make: EstimatorFactory) -> list[dict[str, object]]:
    """Evaluation 2: ``test_h`` holds only kinds that ``train_h`` lacks."""
    if not len(test_h):
        return []
    est_h = make().fit(train_h)
    knn_h, model_h = est_h.predict_knn(test_h), est_h.predict_model(test_h)
    base_h = baseline_estimates(train_h, test_h, est_h)
    ests_h: dict[str, Estimate] = {"global_median": (base_h["global_median"], None, None),
                                   "knn": _columns(knn_h, s.quantiles), "quantile_gbm": _columns(model_h, s.quantiles)}
    return error_rows(test_h["duration"].to_numpy(), ests_h, {"held_out_kinds": np.ones(len(test_h), bool)},
                      "unseen_kinds")


def _feedback_rows(hist: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, s: StudySettings,
                   make: EstimatorFactory) -> list[dict[str, object]]:
    """Evaluation 3: a static estimator vs one updated before each chunk with every job finished by then."""
    lo_q, hi_q = f"q{s.quantiles[0]:g}", f"q{s.quantiles[-1]:g}"
    edges = np.quantile(test["creation_s"], np.linspace(0, 1, s.feedback_chunks + 1))
    static, live = make().fit(train), make().fit(train)
    fb: list[dict[str, object]] = []
    known = set(train["name"])
    for c in range(s.feedback_chunks):
        start, end = edges[c], edges[c + 1]
        chunk = test[(test["creation_s"] >= start) & ((test["creation_s"] < end) | (c == s.feedback_chunks - 1))]
        if c > 0:
            newly = hist[(hist["finish_s"] <= start) & ~hist["name"].isin(known)]
            if len(newly):
                live = live.update(newly)
                known |= set(newly["name"])
        t = chunk["duration"].to_numpy()
        for label, e in (("static", static), ("feedback", live)):
            p = e.predict(chunk)
            fb.append({"chunk": c, "estimator": label, "history_jobs": len(e.history),
                       **error_metrics(t, p["estimate"].to_numpy(), p[lo_q].to_numpy(), p[hi_q].to_numpy())})
    return fb


def evaluate(hist: pd.DataFrame, s: StudySettings, make: EstimatorFactory,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Run the three evaluations with fresh estimators from ``make``; ``seed`` draws the held-out kinds.
    Returns (error table, feedback table, info: task and kind counts, split time s)."""
    train, test, split_s = time_split(hist, s.train_frac)
    rows = _time_split_rows(hist, train, test, s, make)
    rng = np.random.default_rng(seed)
    kinds = np.sort(hist["kind"].unique())
    held = set(rng.choice(kinds, size=max(1, int(round(s.unseen_kind_frac * len(kinds)))), replace=False))
    test_h = test[test["kind"].isin(held)]
    rows += _unseen_kind_rows(train[~train["kind"].isin(held)], test_h, s, make)
    fb = _feedback_rows(hist, train, test, s, make)
    info = {"tasks": len(hist), "train_tasks": len(train), "test_tasks": len(test), "split_s": split_s,
            "kinds": len(kinds), "held_out_kinds": len(held), "held_out_test_tasks": len(test_h)}
    return pd.DataFrame(rows), pd.DataFrame(fb), info


def evaluation_metrics(errors: pd.DataFrame, feedback: pd.DataFrame) -> dict[str, float]:
    """``<evaluation>.<method>.<subset>.<metric>`` (within_20pct, mape_pct, median_ape_pct, coverage_pct where
    defined) and ``feedback.<estimator>.chunk<c>.median_ape_pct`` / ``within_20pct``."""
    metrics = {f"{r.evaluation}.{r.method}.{r.subset}.{m}": float(getattr(r, m))
               for r in errors.itertuples(index=False)
               for m in ("within_20pct", "mape_pct", "median_ape_pct", "coverage_pct")
               if m in errors.columns and pd.notna(getattr(r, m))}
    for r in feedback.itertuples(index=False):
        metrics[f"feedback.{r.estimator}.chunk{r.chunk}.median_ape_pct"] = float(r.median_ape_pct)
        metrics[f"feedback.{r.estimator}.chunk{r.chunk}.within_20pct"] = float(r.within_20pct)
    return metrics
