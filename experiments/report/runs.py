"""Reading runs back from MLflow (never from memory): the client, the run a name or id stands for, a sweep's
finished trials, and what each run logged beside its metrics (``summary.json``, ``tables/*.csv``)."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.sweep import child_runs

log = logging.getLogger("carbonshift.report")


def client() -> Any:
    """An MLflow client on the project's tracking store (:func:`experiments.tracking.tracking_uri`)."""
    import mlflow

    tracking.quiet_mlflow()
    mlflow.set_tracking_uri(tracking.tracking_uri())
    return mlflow.MlflowClient()


def is_run_id(text: str) -> bool:
    """Whether ``text`` looks like an MLflow run id (32 lowercase hex digits)."""
    return len(text) == 32 and all(ch in "0123456789abcdef" for ch in text)


def resolve(c: Any, target: str) -> Any:
    """The run named by ``target``: a run id (any status), else the latest FINISHED sweep whose name is
    ``target``, else the latest FINISHED single run of that name. Newer runs of that name that failed, were
    killed or still run are skipped with a warning naming them; with none FINISHED, a :class:`LookupError` lists
    them (report one with its run id: ``carbonshift report --run-id ID``)."""
    if is_run_id(target):
        return c.get_run(target)
    exps = [e.experiment_id for e in c.search_experiments()]
    for role in ("sweep", "run"):
        named = f"attributes.run_name = '{target}' and tags.`carbonshift.role` = '{role}'"
        runs = c.search_runs(exps, filter_string=f"{named} and attributes.status = 'FINISHED'",
                             order_by=["attributes.start_time DESC"], max_results=1) if exps else []
        newer = c.search_runs(exps, filter_string=f"{named} and attributes.status != 'FINISHED'"
                              + (f" and attributes.start_time > {runs[0].info.start_time}" if runs else ""),
                              order_by=["attributes.start_time DESC"], max_results=5) if exps else []
        skipped = ", ".join(f"{r.info.run_id} ({r.info.status})" for r in newer)
        if runs:
            if newer:
                log.warning("%s: reporting the latest FINISHED %s %s; skipped newer %s (report one with --run-id)",
                            target, role, runs[0].info.run_id, skipped)
            return runs[0]
        if newer:
            raise LookupError(f"no FINISHED {role} named {target!r} at {tracking.tracking_uri()}; latest: {skipped}. "
                              f"Report one anyway with `carbonshift report --run-id RUN_ID`")
    raise LookupError(f"no MLflow sweep or run named {target!r} at {tracking.tracking_uri()}")


def finished_trials(c: Any, parent: Any) -> list[Any]:
    """FINISHED child runs of a sweep's parent run."""
    return [r for r in child_runs(c, parent.info.experiment_id, parent.info.run_id) if r.info.status == "FINISHED"]


def run_summaries(c: Any, runs: list[Any]) -> dict[str, dict[str, Any]]:
    """Run id → the run's ``summary.json`` (empty for a run without one)."""
    from mlflow.exceptions import MlflowException

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            try:
                path = c.download_artifacts(r.info.run_id, "summary.json", f"{tmp}/{r.info.run_id}")
            except (OSError, MlflowException):  # a run without summary.json has no context to show
                out[r.info.run_id] = {}
                continue
            out[r.info.run_id] = json.loads(Path(path).read_text())
    return out


def load_tables(c: Any, runs: list[Any]) -> dict[str, pd.DataFrame]:
    """Every ``tables/*.csv`` artifact of ``runs``, concatenated per table name (column ``run_id`` added)."""
    out: dict[str, list[pd.DataFrame]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            if not any(a.path == "tables" for a in c.list_artifacts(r.info.run_id)):
                continue
            local = Path(c.download_artifacts(r.info.run_id, "tables", tmp + "/" + r.info.run_id))
            for path in sorted(local.glob("*.csv")):
                out.setdefault(path.stem, []).append(pd.read_csv(path).assign(run_id=r.info.run_id))
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}
