"""Experiment kind ``tune``: Ray Tune search over the neural members' settings (LSTM, TFT) on the validation
window, with an ASHA early-stopping scheduler; the best settings are written as ``best_params.json`` for a
backtest's ``models.<lstm|tft>.params_from``.

Information set: the panel handed to the trials ends at the last hour of the validation window (the test
window is not loaded into them at all). Each trial fits its model exactly as the backtest does for the
validation forecasts (hours before the first validation issue; early stopping on the last 10 % of those
training windows) and forecasts every validation day from ``issue_hour``. Per epoch it reports that
early-stopping loss (``val_loss``: pinball on standardised targets, before the validation window), on which
ASHA stops the weakest trials at its rungs; a trial that trains to the end reports ``val_mape``, the
day-ahead (horizons ≤ ``day_ahead_h``) MAPE (%) on the validation window averaged over regions — the
objective the best trial is chosen on. Trials stopped early (by ASHA, or an interrupt) have no ``val_mape`` and
are never chosen. With ``include_configured`` the first trial of each model runs the configured (hand-sized)
settings, and seasonal-naive 24 h is scored on the same validation issues (table ``validation_mape``), so the
search's gain and the goal "beat seasonal-naive" are read off the same window.

Ray: local (loopback only, :func:`experiments.ray_setup.init_ray`) or the cluster named by ``RAY_ADDRESS`` (then
``storage_path`` must be storage every node reaches). Only the driver talks to MLflow: after the search each
trial becomes a child run of this run (params = its settings, ``val_loss`` per epoch, ``val_mape``, tag
``carbonshift.tune_status`` = completed / stopped_early / error).

The kind wires the config to :mod:`forecast.validation_window` (window, objective, seasonal-naive reference),
:mod:`experiments.tune_search` (the search; axes read by :mod:`experiments.search_space`),
:mod:`experiments.tune_tracking` (child runs) and :mod:`experiments.tune_trials` (best settings, tables, metrics).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from carbonshift.experiments.config import ConfigError, check
from carbonshift.experiments.forecast_sections import TUNABLE, DataSection, LSTMSection, TFTSection, TrainerSection, model_params
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.experiments.search_space import check_spec
from carbonshift.experiments.tune_search import ASHASection, ModelSearch, SearchSettings, run_searches
from carbonshift.experiments.tune_tracking import log_trials
from carbonshift.experiments.tune_trials import best_settings, trial_metrics, validation_table
from carbonshift.forecast.bounds import MAX_CPUS, bounded
from carbonshift.forecast.data.schema import MAX_HORIZON_H, TARGETS
from carbonshift.forecast.validation_window import Objective, cut_validation, seasonal_naive_scores

SECTIONS: dict[str, type] = TUNABLE


@dataclass
class TuneWindows:
    """Inclusive UTC dates (YYYY-MM-DD) of the training and validation windows; there is no test window here."""

    train_end: str
    val_start: str
    val_end: str
    train_start: str | None = None

    def __post_init__(self) -> None:
        ts = {k: pd.Timestamp(v, tz="UTC") for k, v in dataclasses.asdict(self).items() if v is not None}
        ok = ts.get("train_start", ts["train_end"]) <= ts["train_end"] < ts["val_start"] <= ts["val_end"]
        check(ok, "windows", f"must be ordered train_start ≤ train_end < val_start ≤ val_end, got {dataclasses.asdict(self)}")


@dataclass
class TuneModels:
    """Base settings of the tuned models (the search replaces the keys it samples)."""

    lstm: LSTMSection | None = None
    tft: TFTSection | None = None


@dataclass
class TuneConfig:
    kind: str
    name: str
    data: DataSection
    windows: TuneWindows
    search: dict[str, dict[str, Any]]   # model -> setting -> list of values, or {low, high, log}
    target: str = "ci_direct"
    issue_hour: int = 23
    horizon_h: int = 48
    day_ahead_h: int = 24
    models: TuneModels = field(default_factory=TuneModels)
    num_samples: int = bounded(4, le=10_000)   # trials per model (the first one the configured settings when include_configured)
    include_configured: bool = True   # trial 0 of each model = models.<model> settings (the hand-sized reference)
    asha: ASHASection = field(default_factory=ASHASection)
    cpus_per_trial: int = 1
    gpus_per_trial: float = bounded(0.0, le=1024)   # > 0 on a GPU cluster (trainer.accelerator auto then trains on it)
    num_cpus: int = bounded(2, le=MAX_CPUS)   # CPUs of a local Ray instance (ignored with RAY_ADDRESS)
    storage_path: str | None = None   # Ray Tune results; default a temporary folder (give shared storage on a cluster)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.target in TARGETS, "target", f"unknown target {self.target!r}; known: {sorted(TARGETS)}")
        check(0 <= self.issue_hour <= 23, "issue_hour", "must be 0–23 (UTC)")
        check(1 <= self.horizon_h <= MAX_HORIZON_H, "horizon_h", f"must be 1–{MAX_HORIZON_H} h")
        check(1 <= self.day_ahead_h <= self.horizon_h, "day_ahead_h", "must be 1 … horizon_h")
        check(self.num_samples >= 1, "num_samples", "must be ≥ 1")
        check(self.cpus_per_trial >= 1 and self.num_cpus >= self.cpus_per_trial, "cpus_per_trial",
              "must be ≥ 1 and ≤ num_cpus")
        check(self.gpus_per_trial >= 0, "gpus_per_trial", "must be ≥ 0")
        check(bool(self.search), "search", f"name at least one model to tune ({sorted(SECTIONS)})")
        for model, space in self.search.items():
            check(model in SECTIONS, f"search.{model}", f"unknown model; tunable: {sorted(SECTIONS)}")
            check(isinstance(space, dict) and bool(space), f"search.{model}", "expected a non-empty mapping")
            for key, spec in space.items():
                check_spec(SECTIONS[model], f"search.{model}.{key}", key, spec)

    def base(self, model: str) -> dict[str, Any]:
        """The model's configured (or default) constructor settings, before sampling."""
        return model_params(getattr(self.models, model) or SECTIONS[model]())


@experiment_kind("tune", TuneConfig)
def run(config: TuneConfig, ctx: Context) -> Result:
    """Ray Tune (ASHA) search over LSTM/TFT settings on the validation window; best settings as best_params.json."""
    t0 = time.perf_counter()
    if os.environ.get("RAY_ADDRESS") and config.storage_path is None:
        raise ConfigError("storage_path: tuning on a Ray cluster (RAY_ADDRESS) needs storage every node reaches "
                          "(a shared folder or s3://…)")
    objective = Objective(config.target, config.issue_hour, config.horizon_h, config.day_ahead_h)
    data, window = cut_validation(config.data.load(ctx.data_dir), objective, **dataclasses.asdict(config.windows))
    settings = SearchSettings(config.name, config.num_samples, config.include_configured, config.asha,
                              config.cpus_per_trial, config.gpus_per_trial, dataclasses.asdict(config.trainer),
                              config.seed)
    searches = [ModelSearch(m, SECTIONS[m], config.base(m), space) for m, space in config.search.items()]
    trials = run_searches(searches, settings, objective, data, window, storage_path=config.storage_path,
                          num_cpus=config.num_cpus)
    logged = log_trials(trials, {m: list(s) for m, s in config.search.items()})
    best = best_settings(trials, bases={m: config.base(m) for m in config.search}, sections=SECTIONS,
                         search=config.search,
                         meta={"objective": f"day-ahead (h ≤ {config.day_ahead_h}) MAPE % on the validation "
                                            f"window, mean over regions", "regions": config.data.regions,
                               "windows": dataclasses.asdict(config.windows), "target": config.target})
    seasonal = seasonal_naive_scores(data, window, objective)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.out_dir / "best_params.json"
    path.write_text(json.dumps(best, indent=2))
    res = Result(files=[path])
    res.tables["trials"] = trials.drop(columns="val_loss_history")
    res.tables["validation_mape"] = validation_table(trials, seasonal)
    for region, v in seasonal.items():
        res.metrics[f"val_mape.seasonal24.{region}"] = v
    res.metrics.update(trial_metrics(trials, best, list(config.search), list(seasonal)))
    res.metrics["wall_s"] = time.perf_counter() - t0
    res.summary.update({"name": config.name, "best_params": {m: best[m] for m in config.search if m in best},
                        "not_tuned": best["meta"]["not_tuned"],
                        "best_params_file": f"reports/{config.name}/latest/best_params.json",
                        "trials_logged_to_mlflow": logged, "wall_s": round(res.metrics["wall_s"], 1)})
    return res
