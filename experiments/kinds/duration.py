"""Kind ``duration``: learn job-duration estimates on the Alibaba GPU trace and measure their error
against the seed's "within 20 %" claim (§3.3).

Tasks: :func:`scheduler.duration.load_alibaba_history`, i.e. the trace's one reader and censoring rule
(:mod:`forecast.data.traces`: never-scheduled tasks and tasks still running at the trace cut are dropped;
their counts are reported as ``dropped_pending_tasks`` / ``dropped_censored_tasks``).

Three evaluations, all time-honest (a model only sees jobs that had *finished* before the moment it
predicts):

1. **time split** — train on tasks created and finished before the ``train_frac`` quantile of creation
   time, test on every task created after it. Methods: global median, per-kind median ("profile
   lookup"), online per-kind median of the recently finished jobs, k-NN similarity, quantile gradient
   boosting, and the hybrid :class:`~scheduler.duration.DurationEstimator` (model for seen kinds, k-NN
   for unseen). The models see only training jobs; the online-profile feature (recent same-kind
   durations) sees every job once it has finished (the cheap ``observe`` feedback path). Subsets: all
   test tasks, tasks ≥ 1 h, GPU tasks, tasks of kinds unseen in training.
2. **unseen kinds** — a random ``unseen_kind_frac`` of kinds is removed from training (and from the
   online profile); tested on those kinds in the test period (what similarity-based estimation is for).
3. **feedback loop** — the test period in ``feedback_chunks`` chunks; a frozen estimator (no feedback at
   all) vs one that :meth:`~scheduler.duration.DurationEstimator.update`\\ s (refits) with every job
   finished before each chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.scheduler.duration import (ALIBABA_CATEGORICAL, ALIBABA_NUMERIC, DurationEstimator, error_metrics,
                                load_alibaba_history)


@dataclass
class DurationStudySection:
    """Section ``duration`` of this kind: the evaluation's splits and the :class:`scheduler.duration.DurationEstimator`
    hyperparameters (defaults: the estimator's). Not the ``duration`` section of ``simulate``
    (:class:`experiments.instances.DurationSection`, how ``risk_aware`` pads durations)."""

    train_frac: float = 0.7          # share of tasks (by creation time) in the training period
    quantiles: list[float] = field(default_factory=lambda: list(DurationEstimator.quantiles))
    k: int = DurationEstimator.k     # neighbours for the similarity estimate
    min_kind_count: int = DurationEstimator.min_kind_count   # fewer past jobs of a kind → similarity estimate
    max_iter: int = DurationEstimator.max_iter   # boosting iterations per quantile model
    learning_rate: float = DurationEstimator.learning_rate
    recent_window: int = DurationEstimator.recent_window   # online-profile feature: last N finished jobs of the same kind
    unseen_kind_frac: float = 0.25   # kinds held out in evaluation 2
    feedback_chunks: int = 4         # chunks of the test period in evaluation 3
    max_tasks: int = 0               # 0 = all; else the first N tasks by creation time (tests)

    def __post_init__(self) -> None:
        check(0.1 <= self.train_frac <= 0.95, "duration.train_frac", "must be in [0.1, 0.95]")
        check(0.5 in self.quantiles and self.quantiles == sorted(self.quantiles)
              and all(0 < q < 1 for q in self.quantiles), "duration.quantiles", "increasing in (0, 1), with 0.5")
        check(self.k >= 1 and self.min_kind_count >= 1, "duration.k", "k and min_kind_count must be ≥ 1")
        check(self.recent_window >= 1, "duration.recent_window", "must be ≥ 1")
        check(self.max_iter >= 1 and 0 < self.learning_rate <= 1, "duration.max_iter", "positive iterations/rate")
        check(0 < self.unseen_kind_frac < 1, "duration.unseen_kind_frac", "must be in (0, 1)")
        check(self.feedback_chunks >= 1, "duration.feedback_chunks", "must be ≥ 1")
        check(self.max_tasks >= 0, "duration.max_tasks", "must be ≥ 0")


@dataclass
class DurationConfig:
    kind: str
    name: str
    seed: int = 0
    duration: DurationStudySection = field(default_factory=DurationStudySection)


def _estimator(cfg: DurationStudySection, seed: int) -> DurationEstimator:
    return DurationEstimator(numeric=ALIBABA_NUMERIC, categorical=ALIBABA_CATEGORICAL,
                             quantiles=tuple(cfg.quantiles), k=cfg.k, min_kind_count=cfg.min_kind_count,
                             max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, seed=seed,
                             time_cols=("creation_s", "finish_s"), recent_window=cfg.recent_window)


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


def _rows(true: np.ndarray, ests: dict[str, tuple], subsets: dict[str, np.ndarray], evaluation: str) -> list[dict]:
    rows = []
    for method, (point, lo, hi) in ests.items():
        for subset, mask in subsets.items():
            if mask.sum() == 0:
                continue
            m = error_metrics(true[mask], point[mask], None if lo is None else lo[mask],
                              None if hi is None else hi[mask])
            rows.append({"evaluation": evaluation, "method": method, "subset": subset, **m})
    return rows


def evaluate(hist: pd.DataFrame, cfg: DurationStudySection, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run the three evaluations; returns (error table, feedback table, info)."""
    lo_q, hi_q = f"q{cfg.quantiles[0]:g}", f"q{cfg.quantiles[-1]:g}"
    train, test, split_s = time_split(hist, cfg.train_frac)
    # models fitted on the training period only; the online profile sees every job once it has finished
    # (the feature only uses jobs finished strictly before each test job's creation — no look-ahead)
    est = _estimator(cfg, seed).fit(train).observe(hist[~hist["name"].isin(train["name"])])
    true = test["duration"].to_numpy()
    hybrid = est.predict(test)
    model = est.predict_model(test)
    knn = est.predict_knn(test)
    mid, lo_i, hi_i = cfg.quantiles.index(0.5), 0, len(cfg.quantiles) - 1
    base = baseline_estimates(train, test, est)
    ests = {"global_median": (base["global_median"], None, None), "kind_median": (base["kind_median"], None, None),
            "recent_kind_median": (base["recent_kind_median"], None, None),
            "knn": (knn[:, mid], knn[:, lo_i], knn[:, hi_i]),
            "quantile_gbm": (model[:, mid], model[:, lo_i], model[:, hi_i]),
            "hybrid": (hybrid["estimate"].to_numpy(), hybrid[lo_q].to_numpy(), hybrid[hi_q].to_numpy())}
    subsets = {"all": np.ones(len(test), bool), "ge_1h": true >= 3600,
               "gpu": test["num_gpu"].to_numpy() > 0,
               "unseen_kind": ~test["kind"].isin(train["kind"]).to_numpy()}
    rows = _rows(true, ests, subsets, "time_split")

    # 2. kinds held out of training entirely
    rng = np.random.default_rng(seed)
    kinds = np.sort(hist["kind"].unique())
    held = set(rng.choice(kinds, size=max(1, int(round(cfg.unseen_kind_frac * len(kinds)))), replace=False))
    train_h, test_h = train[~train["kind"].isin(held)], test[test["kind"].isin(held)]
    if len(test_h):
        est_h = _estimator(cfg, seed).fit(train_h)
        true_h = test_h["duration"].to_numpy()
        knn_h, model_h = est_h.predict_knn(test_h), est_h.predict_model(test_h)
        base_h = baseline_estimates(train_h, test_h, est_h)
        ests_h = {"global_median": (base_h["global_median"], None, None),
                  "knn": (knn_h[:, mid], knn_h[:, lo_i], knn_h[:, hi_i]),
                  "quantile_gbm": (model_h[:, mid], model_h[:, lo_i], model_h[:, hi_i])}
        rows += _rows(true_h, ests_h, {"held_out_kinds": np.ones(len(test_h), bool)}, "unseen_kinds")

    # 3. feedback loop over the test period
    edges = np.quantile(test["creation_s"], np.linspace(0, 1, cfg.feedback_chunks + 1))
    static, live, fb = _estimator(cfg, seed).fit(train), _estimator(cfg, seed).fit(train), []
    known = set(train["name"])
    for c in range(cfg.feedback_chunks):
        start, end = edges[c], edges[c + 1]
        chunk = test[(test["creation_s"] >= start) & ((test["creation_s"] < end) | (c == cfg.feedback_chunks - 1))]
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
    info = {"tasks": len(hist), "train_tasks": len(train), "test_tasks": len(test), "split_s": split_s,
            "kinds": len(kinds), "held_out_kinds": len(held), "held_out_test_tasks": len(test_h)}
    return pd.DataFrame(rows), pd.DataFrame(fb), info


@experiment_kind("duration", DurationConfig)
def run(config: DurationConfig, ctx: Context) -> Result:
    """Duration estimation on the Alibaba GPU trace: error vs the seed's ±20 % claim."""
    cfg = config.duration
    hist = load_alibaba_history(ctx.data_dir)
    dropped = {f"dropped_{k[2:]}_tasks": v for k, v in hist.attrs.items()}  # the trace's censoring rule
    if cfg.max_tasks:
        hist = hist.iloc[:cfg.max_tasks]
    errors, feedback, info = evaluate(hist, cfg, config.seed)
    metrics = {f"{r.evaluation}.{r.method}.{r.subset}.{m}": float(getattr(r, m))
               for r in errors.itertuples(index=False)
               for m in ("within_20pct", "mape_pct", "median_ape_pct", "coverage_pct")
               if m in errors.columns and pd.notna(getattr(r, m))}
    for r in feedback.itertuples(index=False):
        metrics[f"feedback.{r.estimator}.chunk{r.chunk}.median_ape_pct"] = float(r.median_ape_pct)
        metrics[f"feedback.{r.estimator}.chunk{r.chunk}.within_20pct"] = float(r.within_20pct)
    info |= dropped
    metrics |= {k: float(v) for k, v in info.items()}
    return Result(metrics=metrics, tables={"duration_errors": errors, "duration_feedback": feedback},
                  summary={**info, "seed_claim": "estimates within 20 % (seed §3.3)"})
