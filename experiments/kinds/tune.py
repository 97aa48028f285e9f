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
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.config import ConfigError, bounded, check
from carbonshift.experiments.kinds.backtest import TUNABLE, DataSection, LSTMSection, TFTSection, TrainerSection, model_params
from carbonshift.experiments.ray_setup import init_ray
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.backtest import extend_panel, issue_times
from carbonshift.forecast.data.panel import load_dacf_panel, load_panel as load_em
from carbonshift.forecast.data.schema import MAX_HORIZON_H, TARGETS
from carbonshift.forecast.metrics import mape
from carbonshift.forecast.models.naive import NaiveForecaster
from carbonshift.forecast.models.registry import forecaster_class

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
class ASHASection:
    grace_period: int = bounded(1, le=10_000)   # epochs every trial trains before ASHA may stop it
    reduction_factor: float = 2.0   # keep the best 1/reduction_factor of trials at each rung

    def __post_init__(self) -> None:
        check(self.grace_period >= 1, "asha.grace_period", "must be ≥ 1 epoch")
        check(self.reduction_factor > 1, "asha.reduction_factor", "must be > 1")


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
    num_cpus: int = bounded(2, le=1024)   # CPUs of a local Ray instance (ignored with RAY_ADDRESS)
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


def check_spec(section: type, where: str, key: str, spec: Any) -> None:
    """Config check of one search axis: a known numeric setting of ``section`` and a non-empty list of values
    of its type, or ``{low, high[, log]}`` with low < high (and low > 0 when log)."""
    fields = {f.name: f for f in dataclasses.fields(section) if f.name != "params_from"}
    check(key in fields, where, f"not a setting of this model (known: {sorted(fields)})")
    is_float = isinstance(fields[key].default, float)

    def ok(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and (is_float or isinstance(v, int))

    kind = "numbers" if is_float else "integers"
    if isinstance(spec, list):
        check(bool(spec) and all(ok(v) for v in spec), where, f"expected a non-empty list of {kind}, got {spec!r}")
        return
    check(isinstance(spec, dict) and set(spec) <= {"low", "high", "log"} and {"low", "high"} <= set(spec), where,
          f"expected a list of values or {{low, high, log}}, got {spec!r}")
    check(ok(spec["low"]) and ok(spec["high"]) and spec["low"] < spec["high"], where,
          f"low and high must be {kind} with low < high, got {spec!r}")
    check(isinstance(spec.get("log", False), bool) and (not spec.get("log") or spec["low"] > 0), where,
          "log must be true/false, and low > 0 for a log scale")


def search_space(section: type, space: dict[str, Any]) -> dict[str, Any]:
    """Ray Tune sampling domains: a list → ``choice``; ``{low, high}`` → ``uniform``/``loguniform`` for float
    settings, ``randint``/``lograndint`` (high inclusive) for integer ones."""
    from ray import tune

    floats = {f.name for f in dataclasses.fields(section) if isinstance(f.default, float)}
    out = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            out[key] = tune.choice(spec)
        elif key in floats:
            out[key] = (tune.loguniform if spec.get("log") else tune.uniform)(spec["low"], spec["high"])
        else:
            out[key] = (tune.lograndint if spec.get("log") else tune.randint)(spec["low"], spec["high"] + 1)
    return out


def max_epochs_of(base: dict[str, Any], space: dict[str, Any]) -> int:
    """The largest ``max_epochs`` a trial may train (ASHA's ``max_t`` is one more: the final report)."""
    spec = space.get("max_epochs", base["max_epochs"])
    return int(max(spec) if isinstance(spec, list) else spec["high"] if isinstance(spec, dict) else spec)


def build(model: str, params: dict[str, Any], issue_hour: int, horizon: int, seed: int, trainer: dict):  # noqa: ANN201
    """A fresh, unfitted LSTM/TFT forecaster with ``params`` (its section's settings)."""
    return forecaster_class(model)(issue_hour, horizon, seed=seed, trainer=trainer, **params)


def validation_mape(forecast: pd.DataFrame, panel: pd.DataFrame, target: str, day_ahead_h: int,
                    end: pd.Timestamp) -> dict[str, float]:
    """Day-ahead MAPE (%) per region of ``forecast`` against ``panel[target]`` on hours before ``end``."""
    rows = forecast[(forecast["horizon_h"] <= day_ahead_h) & (forecast["time"] < end)]
    actual = panel.set_index(["region", "time"])[target]
    y = actual.reindex(pd.MultiIndex.from_frame(rows[["region", "time"]])).to_numpy(float)
    return {str(r): mape(y[idx], rows["mean"].to_numpy(float)[idx])
            for r, idx in rows.groupby("region", sort=True).indices.items()}


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


def trial(sampled: dict[str, Any], *, model: str, base: dict[str, Any], panel: pd.DataFrame, target: str,
          fit_until: pd.Timestamp, val_issues: pd.DatetimeIndex, val_end: pd.Timestamp, issue_hour: int,
          horizon: int, day_ahead_h: int, seed: int, trainer: dict, threads: int) -> None:
    """One Ray Tune trial: fit ``model`` with ``base`` + ``sampled`` settings on hours before ``fit_until``
    (reporting ``val_loss`` per epoch), forecast the validation issues, report ``val_mape`` (%, mean over
    regions) and ``val_mape.<region>``."""
    import torch
    from ray import tune

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    forecaster = build(model, {**base, **sampled}, issue_hour, horizon, seed, trainer)
    reporter = _report_callback()
    forecaster.fit(panel, target, until=fit_until, callbacks=(reporter,))
    scores = validation_mape(forecaster.predict(panel, val_issues, horizon), panel, target, day_ahead_h, val_end)
    tune.report({"val_loss": min(reporter.losses), "epoch": len(reporter.losses),
                 "val_mape": float(np.mean(list(scores.values()))), "fit_predict_s": time.perf_counter() - t0,
                 **{f"val_mape.{r}": v for r, v in scores.items()}})


def run_search(config: TuneConfig, model: str, panel: pd.DataFrame, storage: str, windows: dict) -> pd.DataFrame:
    """Run the ASHA search for ``model``; one row per trial: settings, status, epochs, ``val_loss`` history,
    ``val_mape`` (NaN unless completed), per-region MAPE, error."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    base, space = config.base(model), config.search[model]
    fn = tune.with_parameters(trial, model=model, base=base, panel=panel, target=config.target,
                              issue_hour=config.issue_hour, horizon=config.horizon_h, day_ahead_h=config.day_ahead_h,
                              seed=config.seed, trainer=dataclasses.asdict(config.trainer),
                              threads=config.cpus_per_trial, **windows)
    fn = tune.with_resources(fn, {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial})
    asha = ASHAScheduler(time_attr="training_iteration", max_t=max_epochs_of(base, space) + 1,
                         grace_period=config.asha.grace_period, reduction_factor=config.asha.reduction_factor)
    configured = [{k: base[k] for k in space}] if config.include_configured else []
    search = BasicVariantGenerator(points_to_evaluate=configured, random_state=config.seed)
    tuner = tune.Tuner(fn, param_space=search_space(SECTIONS[model], space),
                       tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=asha,
                                                   num_samples=config.num_samples, search_alg=search),
                       run_config=tune.RunConfig(name=f"{config.name}_{model}", storage_path=storage, verbose=0))
    rows = []
    for k, res in enumerate(tuner.fit()):
        history = res.metrics_dataframe
        if history is not None and "val_mape" in history:
            history = history[history["val_mape"].isna()]   # per-epoch reports (the last one is the final)
        losses = [] if history is None or "val_loss" not in history else history["val_loss"].tolist()
        done = res.error is None and "val_mape" in (res.metrics or {})
        status = "error" if res.error is not None else "completed" if done else "stopped_early"
        sampled = res.config or {}
        row = {"model": model, "trial": k, "status": status,
               "settings": "configured" if configured and sampled == configured[0] else "sampled",
               **{key: sampled.get(key) for key in space},
               "epochs": len(losses), "val_loss": min(losses) if losses else float("nan"),
               "val_mape": res.metrics["val_mape"] if done else float("nan"), "val_loss_history": losses,
               "error": "" if res.error is None else f"{type(res.error).__name__}: {res.error}"[:500]}
        row.update({k2: v for k2, v in (res.metrics or {}).items() if k2.startswith("val_mape.")} if done else {})
        rows.append(row)
    return pd.DataFrame(rows)


def log_trials(trials: pd.DataFrame, space_keys: dict[str, list[str]]) -> int:
    """Log each trial as an MLflow child run of the active run; returns how many were logged (0 without one)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    parent = mlflow.active_run()
    if parent is None:
        return 0
    client, exp_id, now = mlflow.MlflowClient(), parent.info.experiment_id, int(time.time() * 1000)
    for _, t in trials.iterrows():
        run = client.create_run(exp_id, run_name=f"{t['model']} trial {t['trial']}", tags={
            "mlflow.parentRunId": parent.info.run_id, "carbonshift.role": "tune_trial",
            "carbonshift.tune_status": t["status"]})
        params = [Param("model", t["model"]), Param("settings", t["settings"]),
                  *(Param(k, str(t[k])) for k in space_keys[t["model"]])]
        metrics = [Metric("val_loss", float(v), now, i + 1) for i, v in enumerate(t["val_loss_history"])]
        metrics += [Metric(k, float(t[k]), now, 0) for k in t.index
                    if k.startswith("val_mape") and pd.notna(t[k])]
        tags = [RunTag("carbonshift.error", t["error"])] if t["error"] else []
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        client.set_terminated(run.info.run_id, status="FAILED" if t["status"] == "error" else "FINISHED")
    return len(trials)


def load_panel(config: TuneConfig, data_dir: str | None) -> pd.DataFrame:
    """The configured regions' panel (DACF, or Electricity Maps zones without weather inputs)."""
    if config.data.source == "dacf":
        return load_dacf_panel(config.data.regions, data_dir, config.data.exclude_columns)
    return load_em(config.data.regions, config.data.years or (2021, 2022, 2023), weather=False, data_dir=data_dir,
                   exclude=config.data.exclude_columns)


def tuning_panel(config: TuneConfig, panel: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The panel the trials see (training start … last validation hour, padded ``horizon_h`` empty hours so the
    last issues have forecast rows) and the trial window arguments."""
    w = config.windows
    val_end = pd.Timestamp(w.val_end, tz="UTC") + pd.Timedelta(days=1)
    keep = panel["time"] < val_end
    if w.train_start is not None:
        keep &= panel["time"] >= pd.Timestamp(w.train_start, tz="UTC")
    val_issues = issue_times(pd.Timestamp(w.val_start, tz="UTC"), pd.Timestamp(w.val_end, tz="UTC"),
                             config.issue_hour)
    fit_until = min(pd.Timestamp(w.train_end, tz="UTC") + pd.Timedelta(days=1), val_issues[0])
    data = extend_panel(panel[keep].reset_index(drop=True), config.horizon_h)
    return data, {"fit_until": fit_until, "val_issues": val_issues, "val_end": val_end}


def seasonal_reference(config: TuneConfig, data: pd.DataFrame, windows: dict) -> dict[str, float]:
    """Seasonal-naive 24 h day-ahead MAPE (%) per region on the same validation issues."""
    naive = NaiveForecaster("seasonal24", config.issue_hour, config.horizon_h).fit(data, config.target,
                                                                                 until=windows["fit_until"])
    fc = naive.predict(data, windows["val_issues"], config.horizon_h)
    return validation_mape(fc, data, config.target, config.day_ahead_h, windows["val_end"])


def validation_table(trials: pd.DataFrame, seasonal: dict[str, float]) -> pd.DataFrame:
    """Validation day-ahead MAPE (%) per region: seasonal24, and per model its configured and best trial."""
    rows = [{"model": "seasonal24", **seasonal}]
    cols = [f"val_mape.{r}" for r in seasonal]
    for model, group in trials[trials["status"] == "completed"].groupby("model", sort=False):
        picks = {f"{model} (configured)": group[group["settings"] == "configured"],
                 f"{model} (tuned best)": group.loc[[group["val_mape"].idxmin()]]}
        rows += [{"model": name, **dict(zip(seasonal, pick[cols].iloc[0]))} for name, pick in picks.items()
                 if not pick.empty]
    table = pd.DataFrame(rows)
    table["mean"] = table[list(seasonal)].mean(axis=1)
    return table


def best_settings(config: TuneConfig, trials: pd.DataFrame) -> dict[str, Any]:
    """``best_params.json`` content: per model its full settings from the completed trial with the lowest
    ``val_mape`` (None-valued settings left out), plus ``meta`` (objective, windows, regions, MAPE, and
    ``not_tuned``: models none of whose trials completed, e.g. after an interrupt — they get no entry, so a
    backtest naming them in ``params_from`` fails clearly). Raises ``ValueError`` when no trial completed."""
    out: dict[str, Any] = {"meta": {"objective": f"day-ahead (h ≤ {config.day_ahead_h}) MAPE % on the validation "
                                                 f"window, mean over regions", "regions": config.data.regions,
                                    "windows": dataclasses.asdict(config.windows), "target": config.target,
                                    "not_tuned": {}}}
    for model, group in trials.groupby("model", sort=False):
        done = group[group["status"] == "completed"]
        if done.empty:
            out["meta"]["not_tuned"][model] = (f"no trial completed ({group['status'].value_counts().to_dict()}; "
                                               f"first error: {group['error'].iloc[0] or 'none'})")
            continue
        best = done.loc[done["val_mape"].idxmin()]
        params = {**config.base(model), **{k: typed(SECTIONS[model], k, best[k]) for k in config.search[model]}}
        out[model] = {k: v for k, v in params.items() if v is not None}
        out["meta"][f"{model}_val_mape"] = float(best["val_mape"])
    if len(out) == 1:
        raise ValueError(f"tune: no trial completed: {out['meta']['not_tuned']}")
    return out


def typed(section: type, key: str, value: Any) -> int | float:
    """A sampled setting as its section field's type: the trials table holds integer settings as floats once
    models with different settings share it (NaN fills), but ``params_from`` accepts only integers for them."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(next(f for f in dataclasses.fields(section) if f.name == key).default, float):
        return float(value)
    if float(value) != int(value):
        raise ValueError(f"tune: {key} = {value!r} is not an integer")
    return int(value)


@experiment_kind("tune", TuneConfig)
def run(config: TuneConfig, ctx: Context) -> Result:
    """Ray Tune (ASHA) search over LSTM/TFT settings on the validation window; best settings as best_params.json."""
    t0 = time.perf_counter()
    if os.environ.get("RAY_ADDRESS") and config.storage_path is None:
        raise ConfigError("storage_path: tuning on a Ray cluster (RAY_ADDRESS) needs storage every node reaches "
                          "(a shared folder or s3://…)")
    data, windows = tuning_panel(config, load_panel(config, ctx.data_dir))
    storage = config.storage_path or tempfile.mkdtemp(prefix="carbonshift_tune_")
    if "://" not in storage:
        storage = str(Path(storage).resolve())
    import ray

    started = init_ray(config.num_cpus)
    try:
        trials = pd.concat([run_search(config, m, data, storage, windows) for m in config.search],
                           ignore_index=True)
    finally:
        if started:
            ray.shutdown()
        if config.storage_path is None:
            shutil.rmtree(storage, ignore_errors=True)
    logged = log_trials(trials, {m: list(s) for m, s in config.search.items()})
    best = best_settings(config, trials)
    seasonal = seasonal_reference(config, data, windows)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.out_dir / "best_params.json"
    path.write_text(json.dumps(best, indent=2))
    res = Result(files=[path])
    res.tables["trials"] = trials.drop(columns="val_loss_history")
    res.tables["validation_mape"] = validation_table(trials, seasonal)
    for region, v in seasonal.items():
        res.metrics[f"val_mape.seasonal24.{region}"] = v
    for model in config.search:
        group = trials[trials["model"] == model]
        for status in ("completed", "stopped_early", "error"):
            res.metrics[f"trials.{model}.{status}"] = float((group["status"] == status).sum())
        if model not in best:
            continue
        res.metrics[f"val_mape.{model}.best"] = best["meta"][f"{model}_val_mape"]
        winner = group.loc[group["val_mape"].idxmin()]
        res.metrics.update({f"val_mape.{model}.{r}": float(winner[f"val_mape.{r}"]) for r in seasonal})
    res.metrics["wall_s"] = time.perf_counter() - t0
    res.summary.update({"name": config.name, "best_params": {m: best[m] for m in config.search if m in best},
                        "not_tuned": best["meta"]["not_tuned"],
                        "best_params_file": f"reports/{config.name}/latest/best_params.json",
                        "trials_logged_to_mlflow": logged, "wall_s": round(res.metrics["wall_s"], 1)})
    return res
