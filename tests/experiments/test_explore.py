"""experiments.explore (notebook 02): the trials of every sweep in MLflow as one table, and a metric against a swept
value, one line per sweep run."""
from __future__ import annotations

import pytest

from carbonshift.experiments.explore import ID_COLUMNS, compare, trials


@pytest.mark.slow   # the session's tiny_sweep: starts local Ray (≈ 10 s CPU, 15–30 s wall on 2 cores)
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


def test_compare_and_sweeps_on_a_trials_table_without_mlflow():
    """The fast twin of the test above: a hand-made trials table (two sweep runs at two code versions)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from carbonshift.experiments.explore import sweeps

    started = {"r1": pd.Timestamp("2026-01-02 03:04", tz="UTC"), "r2": pd.Timestamp("2026-02-03 04:05", tz="UTC")}
    rows = [{"experiment": "tiny_sweep", "sweep": "tiny_sweep", "sweep_run_id": rid, "sweep_started": started[rid],
             "code_version": f"{rid}abcdef0123456789", "trial": f"t{i}", "status": "FINISHED", "run_id": f"{rid}-{i}",
             "params.forecast.accuracy": acc, "params.seed": seed, "params.n_regions": 3,
             "metrics.cooperative.reduction_vs_perf_first": value}
            for rid, shift in (("r1", 0.0), ("r2", 5.0))
            for i, (acc, seed, value) in enumerate([(0.6, 0, 30.0), (0.6, 1, 32.0), (1.0, 0, 50.0), (1.0, 1, 54.0)])
            for value in [value + shift]]
    frame = pd.DataFrame(rows)
    assert list(frame.columns[:len(ID_COLUMNS)]) == ID_COLUMNS
    fig, table = compare(frame, "params.forecast.accuracy", "metrics.cooperative.reduction_vs_perf_first")
    r1 = table[table["sweep_run_id"] == "r1"]
    assert list(r1["params.forecast.accuracy"]) == [0.6, 1.0] and list(r1["n"]) == [2, 2]
    assert list(r1["mean"]) == [31.0, 52.0]
    assert r1["ci95"].tolist() == pytest.approx([1.96 * pd.Series([30.0, 32.0]).std() / 2 ** 0.5,
                                                 1.96 * pd.Series([50.0, 54.0]).std() / 2 ** 0.5])
    assert list(table[table["sweep_run_id"] == "r2"]["mean"]) == [36.0, 57.0]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["tiny_sweep 2026-01-02 03:04 @r1abcdef0123", "tiny_sweep 2026-02-03 04:05 @r2abcdef0123"]
    plt.close(fig)
    with pytest.raises(KeyError, match="'metrics.nope' is not a column"):
        compare(frame, "params.forecast.accuracy", "metrics.nope")
    overview = sweeps(frame)
    assert list(overview["sweep_run_id"]) == ["r1", "r2"] and list(overview["trials"]) == [4, 4]
    assert set(overview["varies"]) == {"forecast.accuracy, seed"}
