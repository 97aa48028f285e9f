"""``carbonshift simulate`` (the quickstart) explains its policy table: units, and why a policy misses deadlines."""
from __future__ import annotations

import pandas as pd
import pytest

from carbonshift.experiments.cli import main
from carbonshift.experiments.commands.simulate import READING, explain


def test_explanation_names_the_policies_that_miss_deadlines():
    table = pd.DataFrame({"policy": ["performance_first", "cooperative"], "deadline_rate": [100.0, 93.5],
                          "n_late": [0, 12], "n_unfinished": [0, 1], "n_rejected": [0, 0]})
    lines = explain(table)
    assert lines[0] == READING and "kgCO2e" in READING
    assert lines[1] == "- cooperative: 93.5 % on time (12 late, 1 unfinished, 0 rejected)."
    assert lines[2].startswith("Why late: policies reserve the *estimated* duration") and len(lines) == 3
    assert explain(table.iloc[:1]) == [READING]       # every job on time: nothing to explain
    rejected = table.assign(n_late=0, n_unfinished=0, n_rejected=[0, 2])
    assert explain(rejected)[2:] == ["Why rejected: the job needs more GPUs than any region has free before the "
                                     "horizon ends."]


@pytest.mark.slow   # two real-data simulate runs
def test_simulate_prints_the_explanation_under_its_table(store, capsys):
    config = store.write_config({
        "kind": "simulate", "name": "explained",
        "data": {"zones": ["US-CAL-CISO", "GB", "DE"], "start": "2023-03-01", "span_days": 2, "tail_days": 3},
        "workload": {"n_jobs": 30}, "policies": ["performance_first", "greedy_carbon"], "oracle": {"enabled": False}})
    assert main(["simulate", str(config), "--reports-dir", str(store.root / "reports")]) == 0
    out = capsys.readouterr().out
    assert out.index("\npolicies\n") < out.index(READING)
    assert main(["simulate", str(config), "--json", "--reports-dir", str(store.root / "reports")]) == 0
    assert READING not in capsys.readouterr().out        # JSON stays one document
