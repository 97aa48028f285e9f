"""Run one experiment config once and record it as one MLflow run: the run's lifecycle.

:func:`run_config` reads the config (:mod:`experiments.config_doc`: a YAML mapping with a top-level ``kind:``,
``--set`` overrides applied, an optional ``sweep:`` section ignored — sweeps are :mod:`experiments.sweep`), parses
it strictly into its kind's config dataclass, checks its data (:mod:`experiments.data_preflight`), opens an MLflow
run, runs the kind in this process (:mod:`experiments.execution`) and records:

- params: the resolved config, flattened (``workload.n_jobs`` …) plus ``config.json``
  (:func:`experiments.run_tags.logged_params`);
- tags: ``carbonshift.kind``, ``carbonshift.config_hash`` (:func:`experiments.run_tags.config_hash`),
  ``carbonshift.code_version`` (:func:`experiments.provenance.code_version`, also in the summary), the profile,
  the machine, the overrides and, for ``forecast.source: table``, the table it read
  (:func:`experiments.run_tags.forecast_tags`);
- metrics, artifacts and the data files read (:func:`experiments.mlflow_output.log_output`);
- figures and tables in ``reports/<config name>/<run id>/``, ``reports/<config name>/latest`` pointing to the last
  successful run (:mod:`experiments.report_dirs`).

Under DDP only rank 0 records a run (:mod:`experiments.ddp_rank`).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import registry, tracking
from carbonshift.experiments.config_doc import parse_doc, read_doc
from carbonshift.experiments.data_preflight import check_data
from carbonshift.experiments.ddp_rank import distributed_rank
from carbonshift.experiments.execution import execute
from carbonshift.experiments.mlflow_output import log_output
from carbonshift.experiments.profiles import FULL
from carbonshift.experiments.profiles import TAG as PROFILE_TAG
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import code_version
from carbonshift.experiments.report_dirs import REPORTS_DIR, point_latest, run_report_dir, write_reports
from carbonshift.experiments.run_tags import config_hash, forecast_tags, logged_params, machine_tags, overrides_text


@dataclass
class RunRecord:
    """What ``carbonshift run`` reports: where the run is and what it measured."""

    run_id: str
    experiment: str
    name: str
    kind: str
    config_hash: str
    status: str
    metrics: dict[str, float]
    summary: dict[str, Any]
    report_dir: Path
    error: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    code_version: str = ""


def run_config(config: str | Path | dict, overrides: dict[str, Any] | None = None,
               experiment: str | None = None, data_dir: str | None = None,
               reports_dir: Path | None = None, progress: bool = True, profile: str = FULL) -> RunRecord:
    """Run one config (path or mapping) once and log it to MLflow; a ``sweep:`` section is ignored
    here (use :func:`experiments.sweep.run_sweep`). Figures and tables go to ``<reports_dir>/<name>/<run id>/``
    (default :data:`~experiments.report_dirs.REPORTS_DIR`). Raises :class:`~experiments.config.ConfigError` on a
    bad config.

    Under DDP (several devices, ``trainer.strategy: ddp``) every rank runs the command; only rank 0 records an
    MLflow run and writes reports. A worker rank (:func:`~experiments.ddp_rank.distributed_rank` > 0) runs the kind
    with its outputs in a temporary folder and returns a record with status ``DDP_WORKER`` and no run id."""
    doc, source = read_doc(config, overrides)
    doc.pop("sweep", None)
    kind, cfg = parse_doc(doc, source)
    check_data(cfg, data_dir, source)
    import mlflow   # lazy: ~1 s to import, after the config is parsed so that a bad config is refused at once (issue 24)

    tracking.quiet_mlflow()
    version = code_version()
    chash = config_hash(kind.name, cfg, version)
    exp_name = experiment or cfg.name
    rank = distributed_rank()
    if rank > 0:
        with tempfile.TemporaryDirectory(prefix=f"carbonshift-rank{rank}-") as tmp:
            ctx = registry.Context(seed=cfg.seed, data_dir=data_dir, out_dir=Path(tmp), progress=False)
            output = execute(kind.run, cfg, ctx)
        return RunRecord("", exp_name, cfg.name, kind.name, chash, "DDP_WORKER", output.metrics, output.summary,
                         Path(tmp), output.error, output.tables, version)
    tags = {"carbonshift.kind": kind.name, "carbonshift.config_hash": chash, "carbonshift.role": "run",
            "carbonshift.config_source": source, CODE_VERSION_TAG: version, PROFILE_TAG: profile, **machine_tags(),
            **forecast_tags(cfg)}
    if overrides:
        tags["carbonshift.overrides"] = overrides_text(overrides)
    with tracking.run(exp_name, cfg.name, logged_params(cfg), tags=tags) as active:
        run_id = active.info.run_id
        report_dir = run_report_dir(reports_dir or REPORTS_DIR, cfg.name, run_id)
        ctx = registry.Context(seed=cfg.seed, data_dir=data_dir, out_dir=report_dir, progress=progress)
        output = execute(kind.run, cfg, ctx)
        output.summary["code_version"] = version
        client = mlflow.MlflowClient()
        log_output(client, run_id, output)
        write_reports(output, report_dir)
        if output.error:
            client.set_tag(run_id, "carbonshift.error", output.error[:4000])
        else:
            point_latest(report_dir)
    status = "FAILED" if output.error else "FINISHED"
    if output.error:
        client.set_terminated(run_id, status="FAILED")
    return RunRecord(run_id, exp_name, cfg.name, kind.name, chash, status, output.metrics, output.summary,
                     report_dir, output.error, output.tables, version)
