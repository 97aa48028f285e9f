"""Ray Tune search over a neural forecaster's settings on a validation window, with an ASHA early-stopping
scheduler (``kind: tune``), into one table row per trial.

Each trial fits its model on the window's training hours (:mod:`forecast.validation_window`; early stopping on
the last 10 % of those training windows) and reports per epoch that early-stopping loss (``val_loss``: pinball
on standardised targets, before the validation window), on which ASHA stops the weakest trials at its rungs; a
trial that trains to the end reports ``val_mape``, the day-ahead MAPE (%) on the validation window averaged over
regions (and ``val_mape.<region>``). Trials stopped early (by ASHA, or an interrupt) have no ``val_mape``. With
``include_configured`` the first trial runs the configured settings.

Ray: local (loopback only, :func:`experiments.ray_setup.init_ray`) or the cluster named by ``RAY_ADDRESS`` (then
the storage must be reachable from every node). Trials never talk to MLflow.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.ray_setup import init_ray
from carbonshift.experiments.search_space import max_epochs_of, search_space
from carbonshift.forecast.bounds import bounded
from carbonshift.forecast.models.neural import MAX_EPOCHS
from carbonshift.forecast.models.registry import forecaster_class
from carbonshift.forecast.validation_window import Objective, ValidationWindow, score


@dataclass
class ASHASection:
    grace_period: int = bounded(1, le=MAX_EPOCHS)   # epochs every trial trains before ASHA may stop it
    reduction_factor: float = 2.0   # keep the best 1/reduction_factor of trials at each rung

    def __post_init__(self) -> None:
        check(self.grace_period >= 1, "asha.grace_period", "must be ≥ 1 epoch")
        check(self.reduction_factor > 1, "asha.reduction_factor", "must be > 1")


@dataclass(frozen=True)
class SearchSettings:
    """How every model's search runs: Ray Tune experiment ``<name>_<model>``, ``num_samples`` trials (the first
    one the configured settings when ``include_configured``), ASHA, resources per trial (CPUs also = torch
    threads), Lightning ``trainer`` settings and the seed of the sampler and the models."""

    name: str
    num_samples: int
    include_configured: bool
    asha: ASHASection
    cpus_per_trial: int
    gpus_per_trial: float
    trainer: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class ModelSearch:
    """One model's search: its registry name, settings section (a dataclass), configured settings ``base`` and
    search axes ``space`` (:mod:`experiments.search_space`), which replace the keys they sample."""

    model: str
    section: type
    base: dict[str, Any]
    space: dict[str, Any]


def _report_callback():  # noqa: ANN202 (a Lightning callback, built lazily)
    """Lightning callback reporting the epoch's early-stopping loss ``val_loss`` to Ray Tune (ASHA's signal)."""
    import lightning.pytorch as pl
    from ray import tune

    class ReportEpoch(pl.Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_validation_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001 (Lightning hook)
            if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
                return
            self.losses.append(float(trainer.callback_metrics["val_loss"]))
            tune.report({"val_loss": self.losses[-1], "epoch": len(self.losses)})

    return ReportEpoch()


def trial(sampled: dict[str, Any], *, search: ModelSearch, settings: SearchSettings, objective: Objective,
          panel: pd.DataFrame, window: ValidationWindow) -> None:
    """One Ray Tune trial: fit the model with ``base`` + ``sampled`` settings on the window's training hours
    (reporting ``val_loss`` per epoch), forecast the validation issues, report ``val_mape`` (%, mean over
    regions) and ``val_mape.<region>``."""
    import torch
    from ray import tune

    torch.set_num_threads(settings.cpus_per_trial)
    t0 = time.perf_counter()
    forecaster = forecaster_class(search.model)(objective.issue_hour, objective.horizon_h, seed=settings.seed,
                                                trainer=settings.trainer, **{**search.base, **sampled})
    reporter = _report_callback()
    scores = score(forecaster, panel, window, objective, callbacks=(reporter,))
    tune.report({"val_loss": min(reporter.losses), "epoch": len(reporter.losses),
                 "val_mape": float(np.mean(list(scores.values()))), "fit_predict_s": time.perf_counter() - t0,
                 **{f"val_mape.{r}": v for r, v in scores.items()}})


def trial_row(k: int, res: Any, search: ModelSearch, configured: list[dict[str, Any]]) -> dict[str, Any]:
    """Table row of trial ``k`` from its Ray Tune result (see :func:`run_search`)."""
    history = res.metrics_dataframe
    if history is not None and "val_mape" in history:
        history = history[history["val_mape"].isna()]   # per-epoch reports (the last one is the final)
    losses = [] if history is None or "val_loss" not in history else history["val_loss"].tolist()
    done = res.error is None and "val_mape" in (res.metrics or {})
    status = "error" if res.error is not None else "completed" if done else "stopped_early"
    sampled = res.config or {}
    row = {"model": search.model, "trial": k, "status": status,
           "settings": "configured" if configured and sampled == configured[0] else "sampled",
           **{key: sampled.get(key) for key in search.space},
           "epochs": len(losses), "val_loss": min(losses) if losses else float("nan"),
           "val_mape": res.metrics["val_mape"] if done else float("nan"), "val_loss_history": losses,
           "error": "" if res.error is None else f"{type(res.error).__name__}: {res.error}"[:500]}
    row.update({k2: v for k2, v in (res.metrics or {}).items() if k2.startswith("val_mape.")} if done else {})
    return row


def run_search(search: ModelSearch, settings: SearchSettings, objective: Objective, panel: pd.DataFrame,
               window: ValidationWindow, storage: str) -> pd.DataFrame:
    """Run the ASHA search for one model on a running Ray; one row per trial: settings, status, epochs,
    ``val_loss`` (best) and its history, ``val_mape`` (NaN unless completed), per-region MAPE, error."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    fn = tune.with_parameters(trial, search=search, settings=settings, objective=objective, panel=panel,
                              window=window)
    fn = tune.with_resources(fn, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    asha = ASHAScheduler(time_attr="training_iteration", max_t=max_epochs_of(search.base, search.space) + 1,
                         grace_period=settings.asha.grace_period, reduction_factor=settings.asha.reduction_factor)
    configured = [{k: search.base[k] for k in search.space}] if settings.include_configured else []
    sampler = BasicVariantGenerator(points_to_evaluate=configured, random_state=settings.seed)
    tuner = tune.Tuner(fn, param_space=search_space(search.section, search.space),
                       tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=asha,
                                                   num_samples=settings.num_samples, search_alg=sampler),
                       run_config=tune.RunConfig(name=f"{settings.name}_{search.model}", storage_path=storage,
                                                 verbose=0))
    grid = tuner.fit()
    return pd.DataFrame([trial_row(k, grid[k], search, configured) for k in range(len(grid))])


def run_searches(searches: list[ModelSearch], settings: SearchSettings, objective: Objective, panel: pd.DataFrame,
                 window: ValidationWindow, *, storage_path: str | None, num_cpus: int) -> pd.DataFrame:
    """Every model's search in turn on one Ray (started here on ``num_cpus`` CPUs unless one runs or
    ``RAY_ADDRESS`` names a cluster); the trials of all models in one table. Ray Tune keeps its results under
    ``storage_path`` (a folder or URL), else in a temporary folder removed afterwards."""
    import ray

    storage = storage_path or tempfile.mkdtemp(prefix="carbonshift_tune_")
    if "://" not in storage:
        storage = str(Path(storage).resolve())
    started = init_ray(num_cpus)
    try:
        return pd.concat([run_search(s, settings, objective, panel, window, storage) for s in searches],
                         ignore_index=True)
    finally:
        if started:
            ray.shutdown()
        if storage_path is None:
            shutil.rmtree(storage, ignore_errors=True)
