"""Parameter sweeps: expand a config's ``sweep:`` section into trials and run them on Ray, one MLflow
child run per trial nested under one parent run per sweep.

``sweep:`` is a grid over dotted config keys — each key takes a list of values or an inclusive range
``{start, stop, step}``; keys joined by commas move together (``"forecast.accuracy,forecast.e":
[[0.6, 1.6], [0.75, 1.0]]``) — or a list of such grids (their union; a trial that appears twice runs
once)::

    sweep:
      forecast.accuracy: [0.6, 0.75, 0.87]
      workload.flexibility: {start: 0.1, stop: 0.6, step: 0.1}
      seed: [0, 1, 2]

Every trial is parsed strictly before anything runs, so a bad key fails fast and names the trial. A sweep
has at most :data:`MAX_TRIALS` grid points (all grids together): each range's length and each grid's product
of axis lengths are counted before any list is built, so a huge grid is refused at once. A range's start,
stop and step are finite numbers, the step > 0.
Each trial's identity is its config hash (:func:`experiments.run_tags.config_hash`: kind, resolved config
and code version, so trials finished under other code are never reused); a sweep's identity is the hash
of its kind and trial hashes. ``resume=True`` reopens the latest parent run of the same
sweep, skips trials whose hash already FINISHED under it, marks half-logged children KILLED and runs
the rest — so a killed sweep completes with no duplicate and no lost trial.

Ray (:mod:`experiments.ray_setup`): a local instance (``num_cpus`` CPUs, default 2) unless ``RAY_ADDRESS``
names a cluster; its temp dir is ``<runs dir>/ray`` (``CARBONSHIFT_RAY_TMP`` overrides — Unix socket paths
must stay < 107 bytes); usage stats, dashboard and worker log forwarding are off. Each trial runs in a fresh
worker process (``max_calls=1``) so ``trial_peak_rss_mb`` is that trial's own peak memory. Only the driver
talks to MLflow.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import registry, tracking
from carbonshift.experiments.config import ConfigError, shown
from carbonshift.experiments.data_preflight import check_data
from carbonshift.experiments.profiles import FULL
from carbonshift.experiments.profiles import TAG as PROFILE_TAG
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import code_version
from carbonshift.experiments.config_doc import parse_doc, read_doc, set_dotted
from carbonshift.experiments.execution import Output, execute
from carbonshift.experiments.mlflow_output import log_output
from carbonshift.experiments.ray_setup import init_ray
from carbonshift.experiments.report_dirs import REPORTS_DIR, run_report_dir, write_reports
from carbonshift.experiments.run_tags import config_hash, forecast_tags, logged_params, machine_tags, overrides_text
from carbonshift.forecast.models.registry import forecaster_classes

log = logging.getLogger("carbonshift.sweep")

@dataclass
class Trial:
    """One grid point: its assignment ``{dotted key: value}``, resolved config and hash."""

    label: str
    assignment: dict[str, Any]
    config: Any
    config_hash: str


@dataclass
class SweepPlan:
    name: str
    source: str
    kind: registry.Kind
    spec: Any
    keys: list[str]
    trials: list[Trial]
    sweep_hash: str
    path: str = ""
    code_version: str = ""          # experiments.provenance.code_version() when the sweep was planned


@dataclass
class SweepRecord:
    """Outcome of :func:`run_sweep`: the parent run and one row per trial."""

    parent_run_id: str
    experiment: str
    name: str
    n_trials: int
    n_skipped: int
    n_run: int
    n_failed: int
    seconds: float
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    code_version: str = ""          # the code version every trial of this call ran under


#: most grid points one sweep may expand to, summed over its grids (before duplicates are dropped); a range or grid
#: that would be larger is refused before anything is built (each trial is parsed, then run, one at a time)
MAX_TRIALS = 10_000


def _integer_range(start: float, stop: float, step: float) -> bool:
    """Whether a range is counted exactly and yields ``int`` values (start, stop and step all integers)."""
    return all(isinstance(x, int) for x in (start, stop, step))


def _range_count(start: float, stop: float, step: float) -> float:
    """How many values the inclusive range has, counted without building it (``inf`` past a float's range): the one
    count of a range — :func:`_range_values` checks it against :data:`MAX_TRIALS` and builds exactly that many. A
    float range allows 1e-9 of a step for rounding at ``stop``."""
    try:
        if _integer_range(start, stop, step):
            return float((stop - start) // step + 1)
        return math.floor((stop - start) / step + 1e-9) + 1.0
    except OverflowError:       # an integer past a float's range, or an infinite quotient (step 1e-300)
        return math.inf


def _range_values(key: str, spec: dict, where: str) -> list:
    allowed = {"start", "stop", "step"}
    unknown = sorted(set(spec) - allowed)
    if unknown or not {"start", "stop"} <= set(spec):
        raise ConfigError(f"{where}: sweep.{key}: a range needs start, stop and optional step (got {sorted(spec)})")
    start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
    for part, value in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: sweep.{key}.{part}: expected a number, got {shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: sweep.{key}.{part}: expected a finite number, got {value}")
    if step <= 0:
        raise ConfigError(f"{where}: sweep.{key}.step: must be > 0, got {shown(step)}")
    if stop < start:
        raise ConfigError(f"{where}: sweep.{key}: stop {shown(stop)} is below start {shown(start)}")
    n = _range_count(start, stop, step)
    if n > MAX_TRIALS:
        count = f"{n:.3g}" if math.isfinite(n) else "more than 1e308"
        raise ConfigError(f"{where}: sweep.{key}: {shown(start)} to {shown(stop)} in steps of {shown(step)} is "
                          f"{count} values, more than a sweep's {MAX_TRIALS:,} trials (sweep.MAX_TRIALS)")
    values = [start + i * step for i in range(int(n))]
    return values if _integer_range(start, stop, step) else [round(v, 10) for v in values]


def axis_values(key: str, spec: Any, where: str = "<config>") -> list:
    """Values of one sweep axis: a non-empty list, or an inclusive ``{start, stop, step}`` range."""
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: sweep.{key}: empty list of values")
        return spec
    if isinstance(spec, dict):
        return _range_values(key, spec, where)
    raise ConfigError(f"{where}: sweep.{key}: expected a list of values or {{start, stop, step}}, got {spec!r}")


def expand(spec: Any, where: str = "<config>") -> list[dict[str, Any]]:
    """All assignments ``{dotted key: value}`` of a sweep section (a grid or a list of grids); more than
    :data:`MAX_TRIALS` of them is a :class:`ConfigError`, raised before any is built."""
    grids = spec if isinstance(spec, list) else [spec]
    if not grids:
        raise ConfigError(f"{where}: sweep: empty list of grids")
    axes_of_grids: list[list[list[dict[str, Any]]]] = []
    for i, grid in enumerate(grids):
        at = f"{where}: sweep" + (f"[{i}]" if isinstance(spec, list) else "")
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"{at}: expected a non-empty mapping of dotted key -> values, got {shown(grid)}")
        axes_of_grids.append([_zipped(k, axis_values(k, grid[k], where), where) for k in grid])
    n = sum(math.prod(len(axis) for axis in axes) for axes in axes_of_grids)
    if n > MAX_TRIALS:
        lengths = " + ".join(" × ".join(str(len(axis)) for axis in axes) for axes in axes_of_grids)
        lengths = lengths if len(lengths) <= 200 else f"{lengths[:200]}…"
        raise ConfigError(f"{where}: sweep: {lengths} = {n:,} trials, more than {MAX_TRIALS:,} "
                          f"(sweep.MAX_TRIALS); cut the axes or split the sweep")
    return [{k: v for part in combo for k, v in part.items()}
            for axes in axes_of_grids for combo in itertools.product(*axes)]


def _zipped(key: str, values: list, where: str) -> list[dict[str, Any]]:
    """Axis ``key`` as assignments; ``"a,b": [[1, 2], [3, 4]]`` moves keys a and b together."""
    names = [k.strip() for k in key.split(",")]
    if len(names) == 1:
        return [{key: v} for v in values]
    for v in values:
        if not isinstance(v, list) or len(v) != len(names):
            raise ConfigError(f"{where}: sweep.{key}: each value must be a list of {len(names)} "
                              f"(one per key), got {v!r}")
    return [dict(zip(names, v)) for v in values]


def axis_keys(spec: Any) -> list[str]:
    """The sweep's axes in order of appearance; of keys zipped together (``"a,b"``) only the first
    (``a``) is an axis, the others follow it."""
    grids = spec if isinstance(spec, list) else [spec]
    return list(dict.fromkeys(k.split(",")[0].strip() for grid in grids for k in grid))


def trial_label(assignment: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in assignment.items())


def plan(config: str | Path | dict, overrides: dict[str, Any] | None = None) -> SweepPlan:
    """Read a sweep config, expand its grid and parse every trial (raises :class:`ConfigError`)."""
    doc, source = read_doc(config, overrides)
    spec = doc.pop("sweep", None)
    if spec is None:
        raise ConfigError(f"{source}: sweep: required for a sweep (a grid of dotted keys -> values)")
    kind, trials, seen, version = None, [], set(), code_version()
    for assignment in expand(spec, source):
        trial_doc = copy.deepcopy(doc)
        for key, value in assignment.items():
            if key == "kind" or key.startswith("sweep"):
                raise ConfigError(f"{source}: sweep.{key}: cannot sweep over {key!r}")
            set_dotted(trial_doc, key, value, source)
        label = trial_label(assignment)
        try:
            kind, cfg = parse_doc(trial_doc, source)
        except ConfigError as exc:
            raise ConfigError(f"{exc} [sweep trial {label}]") from None
        chash = config_hash(kind.name, cfg, version)
        if chash not in seen:
            seen.add(chash)
            trials.append(Trial(label, assignment, cfg, chash))
    if kind is None:
        raise ConfigError(f"{source}: sweep: the grid expands to no trial")
    keys = axis_keys(spec)
    sweep_hash = hashlib.sha256(json.dumps([kind.name, [t.config_hash for t in trials]]).encode()).hexdigest()[:16]
    path = "" if isinstance(config, dict) else str(config)
    return SweepPlan(trials[0].config.name, source, kind, spec, keys, trials, sweep_hash, path, version)


def trains_neural(config: Any) -> bool:
    """Whether a trial config trains a forecaster with the ``gpu`` capability (a ``models.lstm`` or ``models.tft``
    section, or a plug-in's) on an accelerator (not ``trainer.accelerator: cpu``)."""
    models = getattr(config, "models", None)
    if models is None or getattr(getattr(config, "trainer", None), "accelerator", "auto") == "cpu":
        return False
    named = models if isinstance(models, dict) else {f.name: getattr(models, f.name)
                                                     for f in dataclasses.fields(models)}
    classes = forecaster_classes()
    return any(section is not None and name in classes and classes[name].capabilities.gpu
               for name, section in named.items())


def trial_resources(config: Any, gpus_per_trial: float | None, cluster_gpus: float) -> dict[str, float]:
    """Ray resources of one trial: one CPU and ``num_gpus``. ``gpus_per_trial`` when given (more than the
    cluster has is a :class:`ConfigError`); otherwise one GPU when the trial trains a neural model and the
    cluster has one, else none. Without a GPU request Ray may place a neural trial on a node without a GPU
    or hide the GPUs from its worker, and the model trains on CPU without saying so."""
    if gpus_per_trial is None:
        gpus = 1.0 if trains_neural(config) and cluster_gpus >= 1 else 0.0
    elif not 0 <= gpus_per_trial <= cluster_gpus:
        raise ConfigError(f"--gpus-per-trial {gpus_per_trial:g}: expected 0 to the Ray cluster's "
                          f"{cluster_gpus:g} GPUs")
    else:
        gpus = float(gpus_per_trial)
    return {"num_cpus": 1, "num_gpus": gpus}


def _find_parent(client: Any, exp_id: str, sweep_hash: str) -> Any | None:
    runs = client.search_runs([exp_id], filter_string=f"tags.`carbonshift.sweep_hash` = '{sweep_hash}' "
                              "and tags.`carbonshift.role` = 'sweep'", order_by=["attributes.start_time DESC"],
                              max_results=1)
    return runs[0] if runs else None


def child_runs(client: Any, exp_id: str, parent_run_id: str) -> list[Any]:
    """All child runs of a sweep's parent run (any status)."""
    out, token = [], None
    while True:
        page = client.search_runs([exp_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
                                  max_results=1000, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def _log_params(client: Any, run_id: str, config: dict) -> None:
    from mlflow.entities import Param

    params = [Param(k, v) for k, v in tracking.flatten(config).items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    client.log_dict(run_id, config, "config.json")


def _open_parent(client: Any, exp_id: str, sp: SweepPlan, resume: bool) -> tuple[str, set[str]]:
    """Parent run id and the config hashes already FINISHED under it (resume), else a new parent."""
    parent = _find_parent(client, exp_id, sp.sweep_hash) if resume else None
    if parent is None:
        tags = {"carbonshift.role": "sweep", "carbonshift.sweep_hash": sp.sweep_hash,
                "carbonshift.kind": sp.kind.name, "carbonshift.sweep_keys": json.dumps(sp.keys),
                "carbonshift.config_source": sp.source, "carbonshift.config_path": sp.path,
                CODE_VERSION_TAG: sp.code_version, **machine_tags()}
        run = client.create_run(exp_id, run_name=sp.name, tags=tags)
        pid = run.info.run_id
        client.log_param(pid, "n_trials", len(sp.trials))
        client.log_param(pid, "sweep", json.dumps(sp.spec)[:6000])
        client.log_dict(pid, {"spec": sp.spec, "keys": sp.keys, "trials": [
            {"label": t.label, "config_hash": t.config_hash, "assignment": t.assignment} for t in sp.trials]},
            "sweep.json")
        return pid, set()
    pid = parent.info.run_id
    done = set()
    for child in child_runs(client, exp_id, pid):
        chash = child.data.tags.get("carbonshift.config_hash")
        if child.info.status == "FINISHED":
            done.add(chash)
        elif child.info.status == "RUNNING":  # the driver died while logging it: incomplete
            client.set_terminated(child.info.run_id, status="KILLED")
    client.update_run(pid, status="RUNNING")
    return pid, done


def trial_dir(reports_dir: str | Path, name: str, parent_id: str, config_hash: str) -> Path:
    """``<reports_dir>/<sweep name>/<parent run id>/trials/<config hash>/`` (a resumed sweep keeps its folder)."""
    return run_report_dir(reports_dir, name, parent_id) / "trials" / config_hash


def trial_run_name(sweep_name: str, label: str) -> str:
    """MLflow run name of a trial: the config name and its swept values, e.g. ``sweep_accuracy
    forecast.accuracy=0.6 seed=1`` (readable in the MLflow UI's run list)."""
    return f"{sweep_name} {label}"


def _log_trial(client: Any, exp_id: str, parent_id: str, sp: SweepPlan, trial: Trial, output: Output,
               reports_dir: Path) -> str:
    tags = {"mlflow.parentRunId": parent_id, "carbonshift.role": "trial", "carbonshift.kind": sp.kind.name,
            "carbonshift.config_hash": trial.config_hash, "carbonshift.sweep_hash": sp.sweep_hash,
            "carbonshift.trial": trial.label, CODE_VERSION_TAG: sp.code_version, **forecast_tags(trial.config)}
    run = client.create_run(exp_id, run_name=trial_run_name(sp.name, trial.label), tags=tags)
    rid = run.info.run_id
    _log_params(client, rid, logged_params(trial.config))
    output.summary["code_version"] = sp.code_version
    log_output(client, rid, output)
    if output.figures or output.tables:
        write_reports(output, trial_dir(reports_dir, sp.name, parent_id, trial.config_hash))
    if output.error:
        client.set_tag(rid, "carbonshift.error", output.error[:4000])
    client.set_terminated(rid, status="FAILED" if output.error else "FINISHED")
    return rid


def check_trials_data(sp: SweepPlan, data_dir: str | None) -> None:
    """Every trial's zones have data and its windows lie inside its years (:func:`check_data`), before any runs."""
    for t in sp.trials:
        try:
            check_data(t.config, data_dir, sp.source)
        except ConfigError as exc:
            raise ConfigError(f"{exc} [sweep trial {t.label}]") from None


def run_sweep(config: str | Path | dict, overrides: dict[str, Any] | None = None, resume: bool = False,
              experiment: str | None = None, data_dir: str | None = None, reports_dir: Path = REPORTS_DIR,
              num_cpus: int = 2, progress: bool = True, gpus_per_trial: float | None = None,
              profile: str = FULL) -> SweepRecord:
    """Expand and run a sweep on Ray, logging a parent run (tagged with ``profile`` and the overrides) and one
    nested child run per trial. Each trial
    requests the resources of :func:`trial_resources` (``gpus_per_trial``: None = one GPU for neural trials
    when the cluster has GPUs)."""
    import mlflow
    import ray
    from tqdm import tqdm

    start = time.perf_counter()
    tracking.quiet_mlflow()
    sp = plan(config, overrides)
    check_trials_data(sp, data_dir)
    exp_name = experiment or sp.name
    exp_id = tracking.configure(exp_name)
    client = mlflow.MlflowClient()
    parent_id, done = _open_parent(client, exp_id, sp, resume)
    client.set_tag(parent_id, PROFILE_TAG, profile)
    if overrides:
        client.set_tag(parent_id, "carbonshift.overrides", overrides_text(overrides))
    todo = [t for t in sp.trials if t.config_hash not in done]
    rows = [{"trial": t.label, "config_hash": t.config_hash, "status": "SKIPPED"} for t in sp.trials
            if t.config_hash in done]
    log.info("sweep %s: %d trials, %d already finished, running %d", sp.name, len(sp.trials), len(done), len(todo))
    started = init_ray(num_cpus) if todo else False
    n_failed = 0
    try:
        pending: dict[Any, Trial] = {}      # Ray object ref -> its trial
        if todo:
            # max_retries=0: a trial whose worker dies is recorded FAILED with the cause, never silently rerun by Ray
            remote = ray.remote(num_cpus=1, max_calls=1, max_retries=0)(execute)
            cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
            try:
                resources = {t.config_hash: trial_resources(t.config, gpus_per_trial, cluster_gpus) for t in todo}
            except ConfigError:
                client.set_terminated(parent_id, status="FAILED")
                raise
            abs_data = str(Path(data_dir).resolve()) if data_dir else None
            for t in todo:
                ctx = registry.Context(seed=t.config.seed, data_dir=abs_data, progress=False,
                                       out_dir=trial_dir(reports_dir, sp.name, parent_id, t.config_hash),
                                       trial=trial_label({k: v for k, v in t.assignment.items() if k != "seed"}))
                pending[remote.options(**resources[t.config_hash]).remote(sp.kind.run, t.config, ctx)] = t
        with tqdm(total=len(sp.trials), initial=len(sp.trials) - len(todo), desc=sp.name, unit="trial",
                  disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                trial = pending.pop(ready[0])
                try:
                    output = ray.get(ready[0])
                except Exception as exc:  # worker crashed (e.g. killed for memory): a failed trial, not retried
                    output = Output(metrics={}, error=f"{type(exc).__name__}: the trial's worker process died and "
                                    f"the trial was not retried (rerun with --resume): {' '.join(str(exc).split())}")
                rid = _log_trial(client, exp_id, parent_id, sp, trial, output, Path(reports_dir))
                n_failed += bool(output.error)
                rows.append({"trial": trial.label, "config_hash": trial.config_hash,
                             "status": "FAILED" if output.error else "FINISHED", "run_id": rid,
                             **{k: v for k, v in output.metrics.items() if k.startswith("trial_")}})
                if output.error:
                    log.warning("trial %s failed: %s", trial.label, output.error.splitlines()[0])
                bar.update(1)
    finally:
        if started:
            ray.shutdown()
    client.set_terminated(parent_id, status="FAILED" if n_failed else "FINISHED")
    return SweepRecord(parent_id, exp_name, sp.name, len(sp.trials), len(sp.trials) - len(todo), len(todo),
                       n_failed, time.perf_counter() - start, pd.DataFrame(rows), sp.code_version)
