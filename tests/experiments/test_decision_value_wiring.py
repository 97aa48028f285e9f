"""Decision value in every backtest (experiments.decision_value via the backtest kind) on a real data slice."""
import pytest

from carbonshift.experiments.decision_value import logged_figures
from carbonshift.experiments.results import DECISION_TABLES
from carbonshift.experiments.runner import run_config


@pytest.mark.slow   # a real (naive-model) backtest logged to MLflow: 20–100 s on 2 shared cores
def test_backtest_carries_decision_value_tables(store):
    doc = {"kind": "backtest", "name": "dv_tiny", "data": {"source": "dacf", "regions": ["CISO", "SE"]},
           "windows": {"train_start": "2021-03-01", "train_end": "2021-04-30", "val_start": "2021-05-01",
                       "val_end": "2021-06-30", "test_start": "2021-07-01", "test_end": "2021-07-10"},
           "backtest": {"ensemble_members": ["persistence", "seasonal24"]},
           "models": {"naive": {"kinds": ["persistence", "seasonal24"]}}}
    res = run_config(doc, reports_dir=store.root / "reports", progress=False)   # logged to an isolated MLflow store
    assert res.status == "FINISHED", res.error
    dv = res.tables["decision_value"]
    assert {"persistence", "seasonal24"} < set(dv["model"]) and len(set(dv["model"])) == 3
    assert set(dv["choice"]) == {"time", "time + region"}
    assert set(dv["group"]) == {"all shapes", "L 1–8 h, S 24–48 h"}   # 48 h horizon: no 96–168 h slack
    row = dv[(dv["model"] == "seasonal24") & (dv["region"] == "CISO") & (dv["group"] == "all shapes")
             & (dv["choice"] == "time")].iloc[0]
    assert row["n_decisions"] + row["excluded_actual"] + row["excluded_forecast"] == 10 * 20
    assert row["captured_share_pct_lo"] <= row["captured_share_pct"] <= row["captured_share_pct_hi"]
    # CISO's solar cycle: seasonal-naive captures a large part of the perfect-foresight saving
    assert row["captured_share_pct"] > 50
    paired = res.tables["decision_value_vs_seasonal24"]
    assert (paired["baseline"] == "seasonal24").all() and paired["model"].iloc[0].startswith("ensemble(")
    mape = res.tables["decision_value_vs_mape"]
    assert set(mape["model"]) == {"ensemble", "persistence", "seasonal24"}
    rel = res.tables["decision_reliability"]
    assert rel["n"].sum() > 0 and rel["observed"].between(0, 1).all()
    assert res.metrics["decision_share_s24_48.ci_direct.seasonal24.CISO"] == res.tables["decision_value"].query(
        "model == 'seasonal24' and region == 'CISO' and group == 'L 1–8 h, S 24–48 h' and choice == 'time'"
    )["captured_share_pct"].iloc[0]
    assert (res.report_dir / "decision_value.png").is_file()
    assert any("beats seasonal24 in" in line for line in res.summary["decision_value"])
    for name, query in DECISION_TABLES:   # what `carbonshift results` shows of a backtest
        shown = res.tables[name].query(query, engine="python") if query else res.tables[name]
        assert len(shown) and (name != "decision_reliability" or shown["model"].str.startswith("ensemble(").all())
    goals = res.tables["decision_value_goals"]
    assert len(goals) == 2 * 1 * 4 and goals["interval excludes 0"].dtype == bool   # choices × groups × (2 zones + 2)
    shapes = res.tables["decision_value_shapes"]
    assert set(shapes["group"]) >= {"L=1 h, S=6 h", "L=24 h, S=48 h"}

    figures = logged_figures("dv_tiny")   # notebook 02's cell: the figure redrawn from MLflow by run name
    fig, points = figures["decision_value_vs_mape"]
    assert list(figures) == ["decision_value_vs_mape"] and set(points["model"]) == set(mape["model"])
    assert res.run_id in fig.get_suptitle()
