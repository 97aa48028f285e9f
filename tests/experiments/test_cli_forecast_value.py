"""``carbonshift forecast value TABLE.csv``: a user's forecast table scored on actuals from the data layer."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS


def _table(path, noise: float, first: str = "2023-02-01 23:00") -> None:
    """GB and DE, 8 daily issues at 23:00 UTC from ``first``, horizons 1–48 h: actual × (1 + noise·ε) (300 where
    the shipped data has no actual)."""
    panel = load_panel(["GB", "DE"], [2023], weather=False).set_index(["region", "time"])["ci_direct"]
    issues = pd.date_range(first, periods=8, freq="D", tz="UTC")
    i, r, h = (a.ravel() for a in np.meshgrid(np.arange(8), np.arange(2), np.arange(1, 49), indexing="ij"))
    t = pd.DataFrame({"region": np.array(["GB", "DE"])[r], "issue_time": issues[i], "horizon_h": h})
    t["time"] = t["issue_time"] + pd.to_timedelta(h, "h")
    actual = panel.reindex(pd.MultiIndex.from_frame(t[["region", "time"]])).to_numpy(float)
    t["mean"] = np.nan_to_num(actual, nan=300.0) * (1 + noise * np.random.default_rng(0).normal(size=len(t)))
    for c, lv in zip(QUANTILE_COLUMNS, QUANTILE_LEVELS):
        t[c] = t["mean"] * (1 + 0.2 * (lv - 0.5))
    t.to_csv(path, index=False)


def test_value_command_scores_a_users_table(tmp_path, capsys):
    perfect = tmp_path / "perfect.csv"
    _table(perfect, 0.0)
    assert main(["forecast", "value", str(perfect), "--baseline", "seasonal24", "--boot", "200", "--json",
                 "--out", str(tmp_path / "out")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["forecasters"] == ["perfect", "seasonal24"] and "seasonal24: built from the actuals" in doc["baseline"]
    rows = pd.DataFrame(doc["decision_value"])
    mine = rows[rows["model"] == "perfect"]
    assert set(mine["region"]) == {"GB", "DE", "mean of zones", "pooled"}
    assert np.allclose(mine["captured_share_pct"], 100.0) and np.allclose(mine["regret_pct"], 0.0)
    assert (mine["n_decisions"] > 0).all()
    paired = pd.DataFrame(doc["decision_value_vs_seasonal24"])
    assert (paired["difference_pp"] >= 0).all()
    assert (tmp_path / "out" / "decision_value.png").is_file() and (tmp_path / "out" / "decision_value.csv").is_file()
    assert main(["forecast", "value", str(perfect), "--regions", "GB", "--boot", "50"]) == 0
    text = capsys.readouterr().out
    assert "decision_value (goal groups" in text and " DE " not in text


@pytest.mark.parametrize("args, message", [(["--regions", "FR"], "no rows for region(s) ['FR']"),
                                           (["--baseline", "oracle"], "neither a model"),
                                           (["--boot", "0"], "--boot must be ≥ 1")])
def test_value_command_errors(tmp_path, capsys, args, message):
    path = tmp_path / "t.csv"
    _table(path, 0.05)
    assert main(["forecast", "value", str(path), *args]) == 2
    assert message in capsys.readouterr().err


def test_value_command_counts_decisions_past_the_data_end(tmp_path, capsys):
    path = tmp_path / "december.csv"
    _table(path, 0.05, first="2023-12-24 23:00")   # the last issues' hours reach 2024, which ships no data
    assert main(["forecast", "value", str(path), "--boot", "50", "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out)["decision_value"])
    row = rows[(rows["region"] == "GB") & (rows["group"] == "all shapes") & (rows["choice"] == "time")].iloc[0]
    assert row["excluded_actual"] > 0 and row["n_decisions"] + row["excluded_actual"] == 8 * 20
