"""One palette per kind of thing drawn (policies, forecasters) in every figure, a single zone drawn as itself, cost
axes from zero, short ensemble labels with the full one beside, terminal tables that fit."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color

from carbonshift.experiments import figures
from carbonshift.experiments.report import charts
from carbonshift.experiments.report.markdown import markdown
from carbonshift.experiments.commands.run import fit_width
from carbonshift.experiments.figures import policy_colour, short_cells
from carbonshift.forecast import report as fr
from carbonshift.forecast.palette import forecaster_colour

ENS = "ensemble(gbm 0.38, seasonal24 0.33, persistence 0.29)+cqr"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _agg(metric: str, values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"forecast.accuracy": a, "policy": p, "metric": metric, "mean": v, "std": 0.1, "n": 3}
                         for p, vs in values.items() for a, v in zip((0.6, 0.87, 1.0), vs)])


def test_a_policy_has_one_colour_in_every_figure():
    pols = {"performance_first": [0, 0, 0], "cooperative": [20, 25, 30], "greedy_carbon": [15, 16, 17]}
    curve = charts.curve_figure(_agg("reduction_vs_perf_first", pols), "forecast.accuracy", "reduction_vs_perf_first", [])
    cost = charts.cost_figure(_agg("plan_seconds", {"cooperative": [1.01, 1.02, 1.00]}), "forecast.accuracy",
                              ["plan_seconds"])
    table = pd.DataFrame({"policy": ["greedy_carbon", "cooperative", "performance_first"],
                          "carbon_kg": [900.0, 800.0, 1000.0], "completion_h_mean": [25.0, 27.0, 22.0]})
    pareto = figures.pareto_figure(table)
    only_coop = charts.curve_figure(_agg("reduction_vs_perf_first", {"cooperative": [1, 2, 3]}), "forecast.accuracy",
                                    "reduction_vs_perf_first", [])

    def colour(fig, label):
        ax = fig.axes[0]
        for c in ax.containers:
            if c.get_label() == label:
                return c.lines[0].get_color()
        return next(col.get_facecolor()[0] for col in ax.collections if col.get_label().startswith(label))

    for fig in (curve, cost, pareto, only_coop):
        assert same_color(colour(fig, "cooperative"), policy_colour("cooperative"))
    assert same_color(colour(curve, "greedy_carbon"), colour(pareto, "greedy_carbon"))
    assert policy_colour("oracle (exact MILP)") == policy_colour("oracle")
    assert policy_colour("home_only") == policy_colour("home_only") != policy_colour("cooperative")   # a plug-in


def test_a_cost_axis_starts_at_zero_so_noise_is_not_an_effect():
    fig = charts.cost_figure(_agg("plan_seconds", {"cooperative": [1.01, 1.02, 1.00]}), "forecast.accuracy",
                             ["plan_seconds"])
    low, high = fig.axes[0].get_ylim()
    assert low == 0 and high > 1.0


def test_forecasters_keep_their_colour_and_the_ensemble_its_short_name():
    assert forecaster_colour(ENS) == forecaster_colour("ensemble+cqr") != forecaster_colour("gbm+cqr")
    assert forecaster_colour("gbm") == forecaster_colour("gbm+cqr")
    hours = pd.date_range("2023-03-01", periods=48, freq="h", tz="UTC")
    rows = pd.DataFrame({"model": ENS, "region": "GB", "issue_time": hours[0] - pd.Timedelta(hours=1), "time": hours,
                         "horizon_h": np.arange(1, 49), "window": "test", "actual": 200.0, "mean": 210.0})
    for j, q in enumerate(fr.QUANTILE_COLUMNS):
        rows[q] = 150.0 + 15 * j
    fig = fr.forecast_figure(rows, None, "gCO2eq/kWh", model=ENS)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "ensemble of 3+cqr (mean)" in legend and ENS not in " ".join(legend)
    assert f"ensemble of 3+cqr = {ENS}" in fig.get_suptitle().replace("\n", " ")     # full provenance in the header
    mean_line = next(line for line in fig.axes[0].get_lines() if line.get_label() == "ensemble of 3+cqr (mean)")
    assert same_color(mean_line.get_color(), forecaster_colour(ENS))


def test_one_zone_is_drawn_as_itself_not_as_a_mean():
    wide = pd.DataFrame({"GB": [10.0, 12.0, 15.0]}, index=[1, 24, 48])
    wide["mean"] = wide.mean(axis=1)
    cov = pd.DataFrame({"GB": [0.9, 0.88, 0.85]}, index=[1, 24, 48])
    cov["mean"] = cov.mean(axis=1)
    fig = fr.mape_by_horizon_figure(wide, "gbm+cqr", "GB; 2023-03-01 → 2023-03-15 UTC", coverage=cov)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "GB" in labels and "mean over regions" not in labels
    assert len(fig.axes[1].get_lines()) == 3           # GB, the nominal level and the day-ahead limit
    two = wide.assign(DE=[20.0, 22.0, 25.0])
    two["mean"] = two[["GB", "DE"]].mean(axis=1)
    fig = fr.mape_by_horizon_figure(two, "gbm+cqr", "GB, DE")
    assert "mean over regions" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_tables_show_short_labels_with_the_full_one_below_and_fit_a_terminal():
    table = pd.DataFrame({"model": [ENS, "gbm+cqr"], "mape": [20.1, 25.3]})
    short, full = short_cells(table)
    assert list(short["model"]) == ["ensemble of 3+cqr", "gbm+cqr"] and full == {"ensemble of 3+cqr": ENS}
    md = markdown(table)
    assert "| ensemble of 3+cqr | 20.10 |" in md and f"- *ensemble of 3+cqr*: `{ENS}`" in md
    wide = pd.DataFrame({f"column_{i:02d}_with_a_long_name": [1234.5678, 2.0] for i in range(20)})
    cols = fit_width(wide, 120)
    assert 1 <= len(cols) < 20
    printed = wide[cols].to_string(index=False, float_format=lambda v: f"{v:,.2f}")
    assert max(map(len, printed.splitlines())) <= 120


def test_every_backtest_figure_names_one_period_and_the_forecast_figure_draws_all_of_it():
    issues = pd.date_range("2023-02-28 23:00", periods=20, freq="D", tz="UTC")
    h = np.arange(1, 49)
    rows = pd.DataFrame([{"model": "gbm+cqr", "region": "GB", "issue_time": i, "time": i + pd.Timedelta(hours=int(k)),
                          "horizon_h": int(k), "window": "test", "actual": 200.0 + k, "mean": 210.0}
                         for i in issues for k in h])
    for j, q in enumerate(fr.QUANTILE_COLUMNS):
        rows[q] = 150.0 + 15 * j
    period = fr.forecast_context(rows)
    assert period == "GB; test days 2023-03-01 – 2023-03-20 (issued daily at 23:00 UTC)"
    fig = fr.forecast_figure(rows, None, "gCO2eq/kWh", model="gbm+cqr")
    assert period in fig.get_suptitle()
    drawn = next(line for line in fig.axes[0].get_lines() if line.get_label() == "actual").get_xdata()
    assert pd.Timestamp(max(drawn)).tz_localize(None) == pd.Timestamp("2023-03-20 23:00")   # all 20 days, not 14
    assert period in fr.reliability(rows, 24).attrs["context"]
