"""A tune run's trials as MLflow child runs of the active run (only the driver talks to MLflow): params = the
trial's model, settings kind and searched settings; metrics ``val_loss`` per epoch (step = epoch) and
``val_mape*``; tag ``carbonshift.tune_status`` = completed / stopped_early / error (status FAILED on error)."""
from __future__ import annotations

import time

import pandas as pd


def log_trials(trials: pd.DataFrame, space_keys: dict[str, list[str]]) -> int:
    """Log each trial (a row of :func:`experiments.tune_search.run_searches`' table) as an MLflow child run of
    the active run; ``space_keys``: the searched settings per model. Returns how many were logged (0 without
    an active run)."""
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
