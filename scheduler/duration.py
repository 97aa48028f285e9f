"""Workload characterization: job-duration estimates learned from job history, with uncertainty.

:class:`DurationEstimator` learns ``log(duration)`` from a history table (one row per finished job):

* a gradient-boosted **quantile** model per level (scikit-learn ``HistGradientBoostingRegressor`` with
  ``loss="quantile"``) for job kinds seen at least ``min_kind_count`` times in the history;
* optionally an **online-profile** feature: the log-median duration of the last ``recent_window`` jobs
  of the same kind that *finished before* the job was created (``time_cols`` = (creation, finish)
  column names) — how the estimator learns from recent execution, not only from static features;
* a **similarity** (k-nearest-neighbour) estimate for kinds never (or rarely) seen: the empirical
  quantiles of the ``k`` most similar past jobs' durations, similarity measured on standardised numeric
  features + one-hot categorical features.

The feedback loop: :meth:`DurationEstimator.observe` adds finished jobs to the online profile (cheap,
every time a job ends); :meth:`DurationEstimator.update` appends them to the history and refits.
:class:`EstimatorMargins` closes the loop with the scheduler: it turns the estimator's quantiles into the
risk-aware policy's per-job duration margins and takes the simulator's finished jobs back in. Durations
are in whatever unit the history uses (seconds for the Alibaba trace, hours for the scheduler's
:class:`scheduler.workloads.Jobs`), always > 0.

Data: :func:`load_alibaba_history` turns the Alibaba GPU trace (``alibaba_gpu_v2023``) into a history
table. Columns used (all known when a task is submitted): ``cpu_milli``, ``memory_mib``, ``num_gpu``,
``gpu_milli``, ``qos`` and ``creation_time`` (→ hour of day of the relative clock). Target:
``deletion_time − scheduled_time`` (s). ``pod_phase`` is *not* used (it is an outcome, known only after
the fact). The trace has **no** requested/declared duration, no job type or framework, no user or
group, no calendar date or time zone and no deadlines; "kind" is therefore the exact resource-request
signature ``qos|num_gpu|gpu_milli|cpu_milli|memory_mib``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from carbonshift.forecast.data.traces import alibaba_finished_tasks
from carbonshift.scheduler.workloads import TYPES, Jobs

log = logging.getLogger(__name__)
ALIBABA_NUMERIC: tuple[str, ...] = ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "hour_of_day")
ALIBABA_CATEGORICAL: tuple[str, ...] = ("qos",)


_CONTROLLER: ThreadpoolController | None = None


def _thread_limit(threads: int):
    """Context limiting OpenMP/BLAS threads; one cached controller (a fresh ``threadpool_limits`` rescans the
    loaded libraries, ~1.7 ms per call — too slow for per-event predictions)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=threads)


def load_alibaba_history(data_dir: str | None = None) -> pd.DataFrame:
    """Finished tasks of the Alibaba GPU trace with a runtime > 0 s, sorted by ``creation_s``.

    Rows: :func:`forecast.data.traces.alibaba_finished_tasks` (the one reader and censoring rule: never
    scheduled tasks and tasks still running at the trace cut are dropped). Columns: ``name``,
    ``creation_s``, ``finish_s`` (deletion time, s since trace start), the features
    :data:`ALIBABA_NUMERIC` + :data:`ALIBABA_CATEGORICAL`, ``kind`` and ``duration`` (s). ``attrs`` counts
    the tasks dropped: ``n_pending``, ``n_censored`` and ``n_zero_runtime``."""
    done = alibaba_finished_tasks(data_dir)
    zero = done["runtime_s"].to_numpy() <= 0
    if zero.any():  # log(duration) needs > 0; none in the shipped trace
        log.info("load_alibaba_history: dropped %d finished tasks with a zero runtime", int(zero.sum()))
    done = done[~zero]
    out = pd.DataFrame({
        "name": done["name"], "creation_s": done["creation_time"].astype(np.int64),
        "finish_s": done["deletion_time"].astype(np.int64),
        "cpu_milli": done["cpu_milli"], "memory_mib": done["memory_mib"], "num_gpu": done["num_gpu"],
        "gpu_milli": done["gpu_milli"], "hour_of_day": (done["creation_time"] % 86_400) // 3_600,
        "qos": done["qos"].astype(str), "duration": done["runtime_s"]})
    out["kind"] = (out["qos"] + "|" + out["num_gpu"].astype(str) + "|" + out["gpu_milli"].astype(str) + "|"
                   + out["cpu_milli"].astype(str) + "|" + out["memory_mib"].astype(str))
    out = out.sort_values("creation_s", kind="stable").reset_index(drop=True)
    out.attrs = {**done.attrs, "n_zero_runtime": int(zero.sum())}
    return out


def jobs_history(jobs: Jobs, finish_h: np.ndarray | None = None) -> pd.DataFrame:
    """History table for the scheduler's :class:`scheduler.workloads.Jobs`: features ``type`` (name),
    ``gpus``, ``requested_h`` (the profiled estimate, h), kind = type, ``submit_h`` (creation hour), target
    ``duration`` (true h) and, given ``finish_h`` (hour each job ended, exclusive), ``finish_h``."""
    names = np.asarray(TYPES)[jobs.type]
    out = pd.DataFrame({"type": names, "gpus": jobs.gpus.astype(np.float64),
                        "requested_h": jobs.est_duration_h.astype(np.float64), "kind": names,
                        "submit_h": jobs.submit_h.astype(np.float64), "duration": jobs.duration_h.astype(np.float64)})
    if finish_h is not None:
        out["finish_h"] = np.asarray(finish_h, dtype=np.float64)
    return out


def prior_history(jobs) -> pd.DataFrame:  # noqa: ANN001 (scheduler.workloads.Jobs)
    """``jobs`` as a cluster's past: each ran its true duration right after submission, and the set is
    shifted so that the last one finished at hour 0 (every ``finish_h`` ≤ 0, ``submit_h`` < 0) — the
    prior history of a simulation that starts at hour 0 (no overlap with the simulated jobs' times)."""
    finish = (jobs.submit_h + jobs.duration_h).astype(np.float64)
    shift = finish.max()
    out = jobs_history(jobs, finish - shift)
    out["submit_h"] -= shift
    return out


JOBS_NUMERIC: tuple[str, ...] = ("gpus", "requested_h")
JOBS_CATEGORICAL: tuple[str, ...] = ("type",)
JOBS_TIME_COLS: tuple[str, str] = ("submit_h", "finish_h")


@dataclass
class DurationEstimator:
    """Quantile duration model + k-NN similarity fallback; see the module docstring.

    ``quantiles`` must contain 0.5 (the point estimate). ``min_kind_count``: a kind with fewer past jobs
    than this is estimated by k-NN. ``numeric`` features are log1p-transformed for the k-NN distance."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    kind: str = "kind"
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    k: int = 15
    min_kind_count: int = 5
    max_iter: int = 200
    learning_rate: float = 0.05
    seed: int = 0
    threads: int = 1  # OpenMP threads for boosting; >1 only pays off on an idle machine
    time_cols: tuple[str, str] | None = None  # (creation, finish) columns for the online-profile feature
    recent_window: int = 20
    history: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __post_init__(self) -> None:
        if 0.5 not in self.quantiles or sorted(self.quantiles) != list(self.quantiles):
            raise ValueError(f"DurationEstimator.quantiles: must be increasing and contain 0.5, got {self.quantiles}")
        if self.k < 1 or self.min_kind_count < 1 or self.recent_window < 1:
            raise ValueError("DurationEstimator: k, min_kind_count and recent_window must be ≥ 1")

    # ---- features -------------------------------------------------------------------------------------
    def _check(self, frame: pd.DataFrame, target: bool) -> None:
        times = list(self.time_cols or ())[: 2 if target else 1]
        need = [*self.numeric, *self.categorical, self.kind, *times, *(["duration"] if target else [])]
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"DurationEstimator: history/jobs table lacks columns {missing}")
        if target and (not np.isfinite(frame["duration"]).all() or (frame["duration"] <= 0).any()):
            raise ValueError("DurationEstimator: every 'duration' must be finite and > 0")

    def _tree_x(self, frame: pd.DataFrame) -> np.ndarray:
        cats = [frame[c].map(self._codes[c]).fillna(-1).to_numpy(np.float64)[:, None] for c in self.categorical]
        cats = [np.where(c < 0, np.nan, c) for c in cats]  # unseen category → missing
        recent = [self.recent_log_median(frame)[:, None]] if self.time_cols else []
        return np.hstack([frame[list(self.numeric)].to_numpy(np.float64), *recent, *cats])

    def recent_log_median(self, frame: pd.DataFrame) -> np.ndarray:
        """Online-profile feature: log-median duration of the last ``recent_window`` history jobs of the
        same kind finished strictly before each row's creation time (NaN when there is none)."""
        if self.time_cols is None:
            raise ValueError("DurationEstimator.recent_log_median: needs time_cols (creation, finish)")
        t = frame[self.time_cols[0]].to_numpy(np.float64)
        kinds = frame[self.kind].astype(str).to_numpy()
        out = np.full(len(frame), np.nan)
        for kind, rows in pd.Series(kinds).groupby(kinds, sort=False).indices.items():   # loop over kinds only
            ref = self._recent_by_kind.get(kind)
            if ref is None:
                continue
            last = np.searchsorted(ref[0], t[rows], side="left") - 1       # last finish strictly before t
            ok = last >= 0
            out[rows[ok]] = ref[1][last[ok]]
        return out

    def _build_recent_ref(self, finished: pd.DataFrame) -> None:
        if self.time_cols is None:
            raise ValueError("DurationEstimator._build_recent_ref: needs time_cols (creation, finish)")
        ref = pd.DataFrame({"finish": finished[self.time_cols[1]].to_numpy(np.float64),
                            "kind": finished[self.kind].astype(str).to_numpy(),
                            "log_d": np.log(finished["duration"].to_numpy(np.float64))})
        ref = ref.sort_values("finish", kind="stable").reset_index(drop=True)
        ref["recent_log"] = ref.groupby("kind")["log_d"].transform(
            lambda x: x.rolling(self.recent_window, min_periods=1).median())
        self._profile_jobs = finished
        self._recent_by_kind = {k: (g["finish"].to_numpy(), g["recent_log"].to_numpy())
                                for k, g in ref.groupby("kind", sort=False)}

    def _knn_x(self, frame: pd.DataFrame) -> np.ndarray:
        num = (np.log1p(frame[list(self.numeric)].to_numpy(np.float64)) - self._mu) / self._sd
        onehot = [(frame[c].to_numpy()[:, None] == np.asarray(list(self._codes[c]))[None, :]).astype(np.float64)
                  for c in self.categorical]
        return np.hstack([num, *onehot])

    def observe(self, finished: pd.DataFrame) -> DurationEstimator:
        """Cheap feedback: add ``finished`` jobs to the online profile only (no refit of the models).
        A later :meth:`update`/:meth:`fit` rebuilds the profile from the fitted history."""
        if not self.time_cols:
            raise ValueError("DurationEstimator.observe: needs time_cols (creation, finish)")
        self._check(finished, target=True)
        cols = [self.time_cols[1], self.kind, "duration"]
        self._build_recent_ref(pd.concat([self._profile_jobs[cols], finished[cols]], ignore_index=True))
        return self

    # ---- fitting ----------------------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> DurationEstimator:
        """Fit on ``history`` (feature columns, ``kind``, ``duration`` > 0)."""
        self._check(history, target=True)
        if len(history) < max(self.k, 2):
            raise ValueError(f"DurationEstimator.fit: need ≥ {max(self.k, 2)} finished jobs, got {len(history)}")
        self.history = history.reset_index(drop=True)
        self._codes = {c: {v: i for i, v in enumerate(sorted(self.history[c].astype(str).unique()))}
                       for c in self.categorical}
        y = np.log(self.history["duration"].to_numpy(np.float64))
        if self.time_cols:
            self._build_recent_ref(self.history[[self.time_cols[1], self.kind, "duration"]])
        x = self._tree_x(self.history)
        n_num = len(self.numeric) + (1 if self.time_cols else 0)
        cat_mask = np.r_[np.zeros(n_num, bool), np.ones(len(self.categorical), bool)]
        # lazy: scikit-learn takes ~1 s to import; simulate configs import this module just to parse (issue 24)
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.neighbors import NearestNeighbors

        with _thread_limit(self.threads):
            self._models = {q: HistGradientBoostingRegressor(
                loss="quantile", quantile=q, max_iter=self.max_iter, learning_rate=self.learning_rate,
                categorical_features=cat_mask, random_state=self.seed).fit(x, y) for q in self.quantiles}
        logs = np.log1p(self.history[list(self.numeric)].to_numpy(np.float64))
        self._mu, self._sd = logs.mean(0), np.where(logs.std(0) > 0, logs.std(0), 1.0)
        self._nn = NearestNeighbors(n_neighbors=min(self.k, len(self.history))).fit(self._knn_x(self.history))
        self._y = y
        self._kind_counts = self.history[self.kind].value_counts()
        return self

    def update(self, finished: pd.DataFrame) -> DurationEstimator:
        """Feedback loop: append ``finished`` jobs (with their actual ``duration``) and refit."""
        self._check(finished, target=True)
        return self.fit(pd.concat([self.history, finished[self.history.columns.intersection(finished.columns)]],
                                  ignore_index=True))

    # ---- prediction -------------------------------------------------------------------------------------
    def predict_model(self, jobs: pd.DataFrame) -> np.ndarray:
        """Quantile-model estimates, shape (n_jobs, n_quantiles), non-decreasing along axis 1."""
        x = self._tree_x(jobs)
        with _thread_limit(self.threads):
            logq = np.column_stack([self._models[q].predict(x) for q in self.quantiles])
        return np.exp(np.sort(logq, axis=1))

    def predict_knn(self, jobs: pd.DataFrame) -> np.ndarray:
        """Similarity estimates: quantiles of the k nearest past jobs' durations, (n_jobs, n_quantiles)."""
        _, idx = self._nn.kneighbors(self._knn_x(jobs))
        return np.exp(np.quantile(self._y[idx], self.quantiles, axis=1).T)

    def predict(self, jobs: pd.DataFrame) -> pd.DataFrame:
        """Estimates per job: one column per quantile (``q0.1`` …, in duration units), ``estimate``
        (= median) and ``method`` (``model`` for kinds with ≥ ``min_kind_count`` past jobs, else ``knn``)."""
        self._check(jobs, target=False)
        seen = jobs[self.kind].map(self._kind_counts).fillna(0).to_numpy() >= self.min_kind_count
        est = np.empty((len(jobs), len(self.quantiles)))
        if seen.any():
            est[seen] = self.predict_model(jobs[seen])
        if not seen.all():
            est[~seen] = self.predict_knn(jobs[~seen])
        out = pd.DataFrame(est, columns=[f"q{q:g}" for q in self.quantiles], index=jobs.index)
        out["estimate"] = out["q0.5"]
        out["method"] = np.where(seen, "model", "knn")
        return out


def error_metrics(true: np.ndarray, estimate: np.ndarray, lo: np.ndarray | None = None,
                  hi: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy of duration estimates: share within ±20 % of the true duration (the seed's claim, §3.3),
    MAPE and median APE (%), and — given an interval — its coverage (%) and median relative width."""
    true, estimate = np.asarray(true, np.float64), np.asarray(estimate, np.float64)
    ape = np.abs(estimate - true) / true
    out = {"n": float(len(true)), "within_20pct": float(100 * np.mean(ape <= 0.2)),
           "mape_pct": float(100 * ape.mean()), "median_ape_pct": float(100 * np.median(ape))}
    if lo is not None and hi is not None:
        out["coverage_pct"] = float(100 * np.mean((true >= lo) & (true <= hi)))
        out["median_rel_width"] = float(np.median((np.asarray(hi) - np.asarray(lo)) / true))
    return out


def planning_margin(pred: pd.DataFrame, level: float = 0.9) -> np.ndarray:
    """Per-job relative safety margin for deadline-safe planning: ``q_level / estimate − 1`` (≥ 0), e.g.
    to plan ``ceil(estimate × (1 + margin))`` hours in the risk-aware policy instead of one fixed margin."""
    col = f"q{level:g}"
    if col not in pred.columns:
        raise ValueError(f"planning_margin: no {col!r} column; estimator quantiles are {list(pred.columns)}")
    return np.maximum(pred[col].to_numpy() / pred["estimate"].to_numpy() - 1.0, 0.0)


FEEDBACK_MODES: tuple[str, ...] = ("none", "observe", "update")


class EstimatorMargins:
    """Per-job planning margins ``planning_margin(estimator.predict(jobs_history(jobs)), level)`` for the
    risk-aware policy (a :class:`scheduler.policies.cooperative.MarginSource`), kept current by the
    simulator's feedback loop (a :class:`scheduler.simulator.Feedback`).

    ``feedback``: ``none`` — margins of the fitted estimator only; ``observe`` — finished jobs enter the
    estimator's online profile (its recent-duration-of-the-same-kind feature), no refit; ``update`` — as
    ``observe``, and the models are refit (``estimator.update``) once ``update_every`` jobs have finished
    since the last refit. :meth:`finished` only buffers row indices; the buffer is folded into the
    estimator at the next :meth:`margins` call, which marks every cached margin stale and re-predicts just
    the rows asked for (one vectorised ``predict``). Without a refit only the rows submitted after the
    earliest newly observed finish are marked stale: the online-profile feature of a job only looks at jobs
    finished before its submission (a backward rolling median), so earlier-submitted rows keep their
    value. The observed duration is the job's true
    ``duration_h`` (work hours; failures' lost work and suspensions are not part of it).

    The estimator must use ``time_cols=JOBS_TIME_COLS`` (any feedback) and have ``level`` among its
    quantiles. Counters ``n_observed`` (jobs fed back) and ``n_refits`` report what the loop did."""

    def __init__(self, estimator: DurationEstimator, jobs, level: float = 0.9,  # noqa: ANN001 (Jobs)
                 feedback: str = "observe", update_every: int = 100):
        if feedback not in FEEDBACK_MODES:
            raise ValueError(f"EstimatorMargins.feedback: expected one of {FEEDBACK_MODES}, got {feedback!r}")
        if feedback != "none" and estimator.time_cols != JOBS_TIME_COLS:
            raise ValueError(f"EstimatorMargins: feedback needs an estimator with time_cols={JOBS_TIME_COLS}")
        if level not in estimator.quantiles:
            raise ValueError(f"EstimatorMargins.level: {level} is not among the estimator's quantiles "
                             f"{estimator.quantiles}")
        if update_every < 1:
            raise ValueError("EstimatorMargins.update_every: must be ≥ 1")
        self.estimator, self.level, self.feedback, self.update_every = estimator, level, feedback, update_every
        self._frame = jobs_history(jobs)
        self._cache = np.full(len(self._frame), np.nan)
        self._pending: list[tuple[np.ndarray, int]] = []
        self._since_refit: list[pd.DataFrame] = []
        self.n_observed = 0
        self.n_refits = 0

    def finished(self, idx: np.ndarray, hour: int) -> None:
        """Jobs ``idx`` (rows of ``jobs``) ended at ``hour`` (exclusive end); buffered, O(len(idx))."""
        if self.feedback != "none" and len(idx):
            self._pending.append((np.array(idx, dtype=np.int64), int(hour)))

    def _flush(self) -> None:
        idx = np.concatenate([i for i, _ in self._pending])
        hours = np.concatenate([np.full(len(i), h, dtype=np.float64) for i, h in self._pending])
        self._pending.clear()
        done = self._frame.iloc[idx].assign(finish_h=hours)
        self.n_observed += len(done)
        self._since_refit.append(done)
        if self.feedback == "update" and sum(map(len, self._since_refit)) >= self.update_every:
            self.estimator.update(pd.concat(self._since_refit, ignore_index=True))
            self._since_refit.clear()
            self.n_refits += 1
            self._cache[:] = np.nan
        else:
            self.estimator.observe(done)
            self._cache[self._frame["submit_h"].to_numpy() > hours.min()] = np.nan

    def margins(self, idx: np.ndarray) -> np.ndarray:
        """Relative margins (≥ 0) of rows ``idx``, predicted with everything fed back so far."""
        if self._pending:
            self._flush()
        idx = np.asarray(idx, dtype=np.int64)
        stale = np.unique(idx[np.isnan(self._cache[idx])])
        if len(stale):
            self._cache[stale] = planning_margin(self.estimator.predict(self._frame.iloc[stale]), self.level)
        return self._cache[idx]
