"""experiments.explore (notebook 02): the trials of every sweep in MLflow as one table, and a metric against a swept
value, one line per sweep run."""
from __future__ import annotations

import pytest

from carbonshift.experiments.explore import ID_COLUMNS, compare, trials


def test_trials_of_every_sweep_and_a_metric_against_a_swept_value(tiny_sweep, monkeypatch):
    store, rec = tiny_sweep
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    frame = trials()
    assert list(frame.columns[:len(ID_COLUMNS)]) == ID_COLUMNS
    assert len(frame) == 4 and set(frame["sweep_run_id"]) == {rec.parent_run_id}
    assert set(frame["params.forecast.accuracy"]) == {0.6, 1.0}          # numeric, as swept
    fig, table = compare(frame, "params.forecast.accuracy", "metrics.cooperative.reduction_vs_perf_first")
    assert list(table["params.forecast.accuracy"]) == [0.6, 1.0] and list(table["n"]) == [2, 2]
    low, high = table["mean"]
    assert high > low                     # tiny kind: reduction grows with accuracy
    assert fig.axes[0].get_legend().get_texts()[0].get_text().startswith("tiny_sweep ")
    with pytest.raises(KeyError, match="'metrics.nope' is not a column"):
        compare(frame, "params.forecast.accuracy", "metrics.nope")
    assert trials(["no_such_experiment"]).empty
