"""``carbonshift report`` on a backtest run draws its figures from the run's logged forecast table: day-ahead
forecast vs actual with the intervals and the horizon in the title, the reliability diagram and MAPE by horizon,
into reports/<name>/<run id>/report/, uploading only its own files."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from carbonshift.experiments.config import load_yaml
from carbonshift.experiments.report import build_report
from carbonshift.experiments.report.backtest import backtest_figures
from carbonshift.experiments.report.runs import client
from carbonshift.experiments.runner import run_config

pytestmark = pytest.mark.slow   # every test reads the module's real-data backtest run (≈ 10 s CPU on 2 cores)


def _tiny_backtest() -> dict:
    """forecast_quick.yaml with the naive models only, a one-week test window and the longest horizon (168 h,
    seconds on 2 cores)."""
    doc = load_yaml("experiments/configs/forecast_quick.yaml")
    doc["name"] = "tiny_backtest"
    doc["models"] = {"naive": {"kinds": ["persistence", "seasonal24", "seasonal168"]}}
    doc["windows"].update(val_start="2021-06-01", test_end="2021-07-05")
    doc["backtest"].update(ensemble_members=["seasonal24", "seasonal168"], horizon_h=168)
    return doc


@pytest.fixture(scope="module")
def backtest_run(tmp_path_factory):
    """One tiny backtest run in an isolated MLflow store, shared by this module's tests."""
    root = tmp_path_factory.mktemp("backtest_report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("CARBONSHIFT_RUNS_DIR", str(root / "mlruns"))
        mp.setattr("carbonshift.experiments.tracking.RUNS_DIR", root / "mlruns")
        rec = run_config(_tiny_backtest(), reports_dir=root / "reports", progress=False)
        assert rec.status == "FINISHED", rec.error
        yield rec, root


@pytest.mark.slow
def test_report_on_a_backtest_run_draws_its_three_figures(backtest_run):
    backtest_run, root = backtest_run
    reports = root / "reports"
    rep = build_report(backtest_run.run_id, reports)
    assert rep.out_dir == (reports / "tiny_backtest" / backtest_run.run_id / "report").resolve()
    names = {p.name for p in rep.figures}
    assert {"forecast_vs_actual.png", "reliability.png", "mape_by_horizon.png"} <= names
    for name in ("forecast_vs_actual.png", "reliability.png", "mape_by_horizon.png"):
        assert (rep.out_dir / name).stat().st_size > 10_000
    mape = rep.tables["mape_by_horizon"]
    assert list(mape["horizon_h"]) == list(range(1, 169)) and {"CISO", "SE", "mean"} <= set(mape.columns)
    assert (mape[["CISO", "SE"]] > 0).all().all()
    cover = rep.tables["coverage90_by_horizon"]
    assert list(cover["horizon_h"]) == list(range(1, 169)) and cover[["CISO", "SE", "mean"]].stack().between(0, 1).all()
    rel = rep.tables["reliability"]
    assert rel["observed"].between(0, 1).all() and rel["observed"].is_monotonic_increasing
    # a stray file in the folder is not uploaded: the report logs only what it wrote
    (rep.out_dir / "stray.txt").write_text("not mine")
    rep = build_report(backtest_run.run_id, reports)
    c = client()
    logged = {a.path.rpartition("/")[2] for a in c.list_artifacts(backtest_run.run_id, "report")}
    assert "stray.txt" not in logged and {"forecast_vs_actual.png", "report.md", "mape_by_horizon.csv",
                                          "coverage90_by_horizon.csv"} <= logged


def test_backtest_figure_titles_name_horizon_regions_period_and_seeds(backtest_run):
    backtest_run, _ = backtest_run
    c = client()
    figs, _ = backtest_figures(c, c.get_run(backtest_run.run_id))
    fva = figs["forecast_vs_actual.png"]
    title = fva.get_suptitle()
    assert title.startswith("day-ahead (1–24 h) ci_direct forecast vs actual") and "90 % intervals" in title
    assert "CISO, SE" in title and "2021-07-01" in title and "1 seed" in title
    assert fva.axes[-1].get_xlabel() == "time (UTC)" and fva.axes[0].get_ylabel() == "CISO\n(gCO2eq/kWh)"
    mape, cover = figs["mape_by_horizon.png"].axes
    assert mape.get_ylabel() == "MAPE (%)" and cover.get_ylabel() == "90 % interval coverage"
    assert cover.get_xlabel() == "forecast horizon (h after the issue time)" and mape.get_xlim()[1] >= 168
    assert "MAPE and 90 % coverage by forecast horizon" in mape.get_title()
    rel = figs["reliability.png"].axes[0]
    assert "day-ahead (1–24 h)" in rel.get_title() and "1 seed" in rel.get_title()
    plt.close("all")


def test_a_backtest_run_without_its_forecast_table_is_a_clear_error(backtest_run):
    backtest_run, _ = backtest_run
    c = client()
    run = c.get_run(backtest_run.run_id)
    run.data.params.pop("backtest.day_ahead_h")
    with pytest.raises(LookupError, match="no backtest.day_ahead_h"):
        backtest_figures(c, run)
