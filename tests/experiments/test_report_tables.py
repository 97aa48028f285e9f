"""The per-instance tables of a report (:mod:`experiments.report.tables`) and the oracle's name
(:func:`experiments.report.frame.label_oracle`), from hand-made frames: which source each table is built from
and what it holds (no MLflow, no figures)."""
from __future__ import annotations

import pandas as pd

from carbonshift.experiments.report.frame import label_oracle
from carbonshift.experiments.report.tables import carbon_split, hourly_allocation, renewable_by_region


def _metrics(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "policy", "metric", "value"])


def test_carbon_split_from_metrics_averaged_over_runs_else_from_a_logged_table():
    frame = _metrics([("a", "cooperative", "carbon_operational_kg", 90.0), ("b", "cooperative", "carbon_operational_kg", 110.0),
                      ("a", "cooperative", "carbon_transfer_kg", 4.0), ("b", "cooperative", "carbon_transfer_kg", 6.0),
                      ("a", "", "carbon_transfer_kg", 1.0)])          # a run-level value is not a policy
    split = carbon_split(frame, {})
    assert split.to_dict("records") == [{"policy": "cooperative", "operational_kg": 100.0, "transfer_kg": 5.0}]
    only_total = _metrics([("a", "cooperative", "carbon_kg", 100.0)])
    logged = {"other": pd.DataFrame({"region": ["R0"]}),
              "policies": pd.DataFrame({"policy": ["random", "random"], "operational_kg": [10.0, 20.0],
                                        "transfer_kg": [1.0, 3.0], "run_id": ["a", "b"]})}
    assert carbon_split(only_total, logged).to_dict("records") == [
        {"policy": "random", "operational_kg": 15.0, "transfer_kg": 2.0}]
    assert carbon_split(only_total, {"other": logged["other"]}) is None


def test_renewable_by_region_skips_hourly_tables():
    hourly = pd.DataFrame({"hour": [0, 1], "region": ["R0", "R0"], "renewable_share_pct": [10.0, 20.0]})
    regions = pd.DataFrame({"policy": ["p", "p", "p"], "region": ["R1", "R0", "R0"], "renewable_share_pct": [40.0, 20.0, 30.0]})
    table = renewable_by_region({"hourly": hourly, "regions": regions})
    assert table.to_dict("records") == [{"policy": "p", "region": "R0", "renewable_share_pct": 25.0},
                                        {"policy": "p", "region": "R1", "renewable_share_pct": 40.0}]
    assert renewable_by_region({"hourly": hourly}) is None


def test_hourly_allocation_long_and_wide_formats_show_the_main_policy_over_24_hours():
    long = pd.DataFrame({"hour": [0, 24, 5], "region": ["R0", "R0", "R1"], "energy_kwh": [2.0, 4.0, 7.0]})
    wide, row, value = hourly_allocation({"long": long})
    assert (row, value) == ("region", "energy_kwh") and list(wide.columns) == list(range(24))
    assert wide.loc["R0", 0] == 3.0 and wide.loc["R1", 5] == 7.0 and wide.loc["R0", 5] == 0.0   # hour 24 = hour 0
    per_policy = pd.DataFrame({"policy": ["random", "cooperative", "cooperative"], "hour_utc": [1, 1, 1],
                               "R0": [100.0, 40.0, 60.0], "R1": [0.0, 60.0, 40.0], "run_id": ["a", "a", "b"]})
    wide, _, value = hourly_allocation({"hour_of_day": per_policy})
    assert value == "cooperative: energy share (%)" and list(wide.index) == ["R0", "R1"]
    assert wide[1].tolist() == [50.0, 50.0] and wide[0].tolist() == [0.0, 0.0]
    _, _, value = hourly_allocation({"hour_of_day": per_policy[per_policy["policy"] == "random"]})
    assert value == "random: energy share (%)"          # no cooperative rows: the last listed policy
    assert hourly_allocation({"regions": pd.DataFrame({"region": ["R0"], "x": [1.0]})}) is None


def test_oracle_is_named_by_its_bound_kinds_with_counts_when_they_differ():
    frame = _metrics([("a", "oracle", "carbon_kg", 1.0), ("a", "cooperative", "carbon_kg", 2.0)])
    same = [{"oracle.bound_kind": "exact MILP"}, {"oracle.bound_kind": "exact MILP"}, {}]
    assert label_oracle(frame, same)["policy"].tolist() == ["oracle (exact MILP)", "cooperative"]
    mixed = [{"oracle.bound_kind": "exact MILP"}, {"oracle.bound_kind": "LP bound"}, {"oracle.bound_kind": "exact MILP"}]
    assert label_oracle(frame, mixed)["policy"].tolist() == ["oracle (exact MILP ×2, LP bound ×1)", "cooperative"]
    assert label_oracle(frame, [{}]) is frame
    assert label_oracle(pd.DataFrame({"region": ["R0"]}), same).columns.tolist() == ["region"]
