"""Kind ``duration``: learn job-duration estimates on the Alibaba GPU trace and measure their error
against the seed's "within 20 %" claim (§3.3).

Tasks: :func:`scheduler.duration.load_alibaba_history`, i.e. the trace's one reader and censoring rule
(:mod:`forecast.data.traces`: never-scheduled tasks and tasks still running at the trace cut are dropped;
their counts are reported as ``dropped_pending_tasks`` / ``dropped_censored_tasks``).

Three evaluations (:mod:`scheduler.duration_evaluation`), all time-honest (a model only sees jobs that had
*finished* before the moment it predicts):

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

from carbonshift.experiments.config import check
from carbonshift.experiments.instances import MAX_JOBS
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.bounds import MAX_BOOSTING_ITER, bounded
from carbonshift.scheduler.duration import ALIBABA_CATEGORICAL, ALIBABA_NUMERIC, DurationEstimator, load_alibaba_history
from carbonshift.scheduler.duration_evaluation import EstimatorFactory, evaluate, evaluation_metrics


@dataclass
class DurationStudySection:
    """Section ``duration`` of this kind: the evaluation's splits and the :class:`scheduler.duration.DurationEstimator`
    hyperparameters (defaults: the estimator's). Not the ``duration`` section of ``simulate``
    (:class:`experiments.instances.DurationSection`, how ``risk_aware`` pads durations)."""

    train_frac: float = 0.7          # share of tasks (by creation time) in the training period
    quantiles: list[float] = field(default_factory=lambda: list(DurationEstimator.quantiles))
    k: int = bounded(DurationEstimator.k, le=MAX_JOBS)     # neighbours for the similarity estimate
    min_kind_count: int = bounded(DurationEstimator.min_kind_count, le=MAX_JOBS)   # fewer past jobs of a kind → similarity estimate
    max_iter: int = bounded(DurationEstimator.max_iter, le=MAX_BOOSTING_ITER)   # boosting iterations per quantile model
    learning_rate: float = DurationEstimator.learning_rate
    recent_window: int = bounded(DurationEstimator.recent_window, le=MAX_JOBS)   # online-profile feature: last N finished jobs of the same kind
    unseen_kind_frac: float = 0.25   # kinds held out in evaluation 2
    feedback_chunks: int = bounded(4, le=1000)   # chunks of the test period in evaluation 3 (one refit each)
    max_tasks: int = bounded(0, le=MAX_JOBS)     # 0 = all; else the first N tasks by creation time (tests)

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


def estimator_factory(cfg: DurationStudySection, seed: int) -> EstimatorFactory:
    """Fresh :class:`DurationEstimator` objects on the trace's columns with the study's hyperparameters."""
    def make() -> DurationEstimator:
        return DurationEstimator(numeric=ALIBABA_NUMERIC, categorical=ALIBABA_CATEGORICAL,
                                 quantiles=tuple(cfg.quantiles), k=cfg.k, min_kind_count=cfg.min_kind_count,
                                 max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, seed=seed,
                                 time_cols=("creation_s", "finish_s"), recent_window=cfg.recent_window)
    return make


@experiment_kind("duration", DurationConfig)
def run(config: DurationConfig, ctx: Context) -> Result:
    """Duration estimation on the Alibaba GPU trace: error vs the seed's ±20 % claim."""
    cfg = config.duration
    hist = load_alibaba_history(ctx.data_dir)
    dropped = {f"dropped_{k[2:]}_tasks": v for k, v in hist.attrs.items()}  # the trace's censoring rule
    if cfg.max_tasks:
        hist = hist.iloc[:cfg.max_tasks]
    errors, feedback, info = evaluate(hist, cfg, estimator_factory(cfg, config.seed), config.seed)
    metrics = evaluation_metrics(errors, feedback)
    info |= dropped
    metrics |= {k: float(v) for k, v in info.items()}
    return Result(metrics=metrics, tables={"duration_errors": errors, "duration_feedback": feedback},
                  summary={**info, "seed_claim": "estimates within 20 % (seed §3.3)"})
