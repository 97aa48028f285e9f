"""Training you can watch: a neural member reports every epoch (log line with losses and time left, a monitor the
experiments layer turns into MLflow step metrics) and its dependencies' known noise is silenced where it arises."""
from __future__ import annotations

import logging
import re
import warnings

import mlflow
import numpy as np
import pytest

from carbonshift.experiments import tracking
from carbonshift.forecast.backtest import fit_member
from carbonshift.forecast.models.lstm import LSTMForecaster
from carbonshift.forecast.models.neural import _DEPENDENCY_NOISE


@pytest.mark.slow
def test_each_epoch_is_logged_and_reaches_mlflow_as_step_metrics(dacf_slice, windows, tmp_path, caplog):
    until, _ = windows
    factory = lambda: LSTMForecaster(horizon=24, encoder_h=48, hidden=8, max_epochs=3, patience=5,  # noqa: E731
                                     stride_h=24, trainer={"accelerator": "cpu"})
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        assert tracking.epoch_monitor() is None                        # no active run: nothing to log to
        experiment = mlflow.set_experiment("training_watch")          # this store's own, not an earlier test's id
        with mlflow.start_run(experiment_id=experiment.experiment_id) as run, caplog.at_level(logging.INFO), warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            model = fit_member(factory, dacf_slice, "ci_direct", until, tracking.epoch_monitor(),
                               "ci_direct.lstm.validation")
        client = mlflow.tracking.MlflowClient()
        history = {k: client.get_metric_history(run.info.run_id, f"epoch.ci_direct.lstm.validation.{k}")
                   for k in ("train_loss", "val_loss", "epoch_s")}
    finally:
        mlflow.set_tracking_uri(before)
    assert model.epochs_run == 3
    for key, points in history.items():
        assert [p.step for p in points] == [0, 1, 2], key
        assert all(np.isfinite(p.value) and p.value > 0 for p in points), key
    lines = [r.getMessage() for r in caplog.records if r.name == "carbonshift.forecast.training"]
    assert len(lines) == 3 and lines[0].startswith("lstm epoch 1/3: train loss ")
    assert "validation loss" in lines[0] and "s left at this pace" in lines[0]
    noise = [str(w.message) for w in seen if any(re.search(m, str(w.message)) for m, _ in _DEPENDENCY_NOISE)]
    assert not noise
