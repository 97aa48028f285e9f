"""Figures a reviewer accepts: units come from the metric's name (a NaN column does not change them), titles say
how many seeds, log axes only when the data span decades, legends outside the axes, the oracle drawn as a bound
labelled by its kind."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments import figures
from carbonshift.experiments.report import charts, notes
from carbonshift.experiments.report.frame import instance_groups
from carbonshift.experiments.figures import key_label, log_scale_ok, metric_label, metric_unit


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _title(fig) -> str:
    sup = fig.get_suptitle()
    return sup + "\n" + "\n".join(ax.get_title() for ax in fig.axes)


def _legend_outside(ax) -> bool:
    """The legend's box lies right of or below the axes box (it covers no line)."""
    fig = ax.figure
    fig.canvas.draw()
    leg = ax.get_legend().get_window_extent()
    box = ax.get_window_extent()
    return leg.x0 >= box.x1 - 1 or leg.y1 <= box.y0 + 1


def test_units_come_from_the_metric_not_from_the_data():
    assert metric_unit("reduction_vs_perf_first") == "%" and metric_unit("cooperative.carbon_kg") == "kgCO2e"
    assert metric_unit("renewable_share_pct") == "%" and metric_unit("completion_h_p95") == "h"
    assert metric_unit("nonrenewable_reduction_pct") == "%"          # by the _pct suffix
    assert metric_label("peak_mem_mb") == "tracemalloc peak of one decision call (MB)"
    assert key_label("forecast.accuracy") == "controlled forecast accuracy, 1 − MAPE (fraction)"
    assert key_label("data.zones", counted=True) == "number of regions"
    with pytest.raises(KeyError, match="no declared unit"):
        metric_unit("mystery")


@pytest.mark.parametrize("values", [[54.1, np.nan, 43.5], [0.4, 0.5, 0.3], [np.nan, np.nan, np.nan]])
def test_renewable_bars_keep_the_percent_unit_whatever_the_values(values):
    # the old code guessed "fraction" when max() was NaN or ≤ 1.5; the unit is the metric's
    table = pd.DataFrame({"policy": ["cooperative", "greedy_carbon", "performance_first"], "region": ["DE"] * 3,
                          "renewable_share_pct": values})
    fig = charts.renewable_figure(table, "DE; 2023-03-01 → 2023-03-07 UTC; 60 jobs", "mean over 3 seeds")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "renewable share of energy used (%)"
    assert "mean over 3 seeds" in ax.get_title() and "2023-03-01" in ax.get_title()
    assert _legend_outside(ax)


def _agg(n: int) -> pd.DataFrame:
    rows = [{"forecast.accuracy": a, "policy": p, "metric": "reduction_vs_perf_first", "mean": m,
             "std": np.nan if n == 1 else 1.0, "n": n}
            for a in (0.6, 1.0) for p, m in (("cooperative", 30.0), ("greedy_carbon", 27.0))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n,note", [(1, "1 seed"), (3, "mean ± std over 3 seeds")])
def test_curve_title_names_the_seeds_and_axes_name_the_units(n, note):
    fig = charts.curve_figure(_agg(n), "forecast.accuracy", "reduction_vs_perf_first", [],
                              context="3 regions; 2023-03-01 → 2023-03-14 UTC; 100 jobs")
    ax = fig.axes[0]
    assert note in ax.get_title() and "100 jobs" in ax.get_title()
    assert ax.get_ylabel() == "carbon reduction vs performance-first (%)"
    assert ax.get_xlabel() == "controlled forecast accuracy, 1 − MAPE (fraction)"
    assert ax.get_xscale() == "linear" and _legend_outside(ax)


def test_cost_axes_are_logarithmic_only_over_decades():
    assert log_scale_ok([100, 1000, 20000]) and not log_scale_ok([0.6, 0.87, 1.0])
    assert not log_scale_ok([0.0, 10.0, 1000.0]) and not log_scale_ok([np.nan])
    rows = [{"workload.n_jobs": x, "policy": "cooperative", "metric": "plan_seconds", "mean": y, "std": 0.0, "n": 2}
            for x, y in ((100, 0.01), (1000, 0.2), (20000, 9.0))]
    rows += [{"workload.n_jobs": x, "policy": "", "metric": "trial_peak_rss_mb", "mean": y, "std": 0.0, "n": 2}
             for x, y in ((100, 300.0), (1000, 310.0), (20000, 330.0))]
    fig = charts.cost_figure(pd.DataFrame(rows), "workload.n_jobs", ["plan_seconds", "trial_peak_rss_mb"])
    latency, memory = fig.axes[0], fig.axes[1]
    assert (latency.get_xscale(), latency.get_yscale()) == ("log", "log")
    assert (memory.get_xscale(), memory.get_yscale()) == ("log", "linear")      # 300–330 MB spans no decade
    assert latency.get_ylabel() == "total decision time (s)" and memory.get_ylabel().endswith("(MB)")
    assert "mean ± std over 2 seeds" in _title(fig)


def test_pareto_draws_the_oracle_as_a_bound_labelled_by_its_kind():
    table = pd.DataFrame({"policy": ["performance_first", "cooperative", "oracle (exact MILP)"],
                          "carbon_kg": [28674.0, 22854.0, 20559.0], "completion_h_mean": [22.3, 26.2, 27.2],
                          "deadline_rate": [98.5, 86.0, 98.5], "renewable_share": [38.5, 31.4, 43.0]})
    fig = figures.pareto_figure(table, context="US-CAL-CISO, GB, DE; 200 jobs", seeds="1 seed")
    ax = fig.axes[0]
    bound = next(line for line in ax.get_lines() if line.get_label() == "oracle (exact MILP): perfect-foresight bound")
    assert set(bound.get_ydata()) == {20559.0}                   # a horizontal line at the bound's carbon
    assert "1 seed" in ax.get_title() and "200 jobs" in ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "cooperative (86 % on time, 31 % renewable)" in texts
    assert _legend_outside(ax)


def test_pooled_note_says_what_a_pooled_bar_averages():
    assert notes.pooled_note(1, []) == "1 seed"
    assert notes.pooled_note(3, []) == "mean over 3 seeds"
    assert notes.pooled_note(8, ["forecast.accuracy", "forecast.correlation_h"]) == \
        "mean over 8 trials, pooling every controlled forecast accuracy × forecast-error correlation time value and seeds"


def test_context_names_regions_period_and_jobs_or_says_they_vary():
    a = {"regions": "GB, DE", "period": "2023-03-01 00:00 → 2023-03-07 23:00 UTC", "jobs": 60}
    assert figures.context_line([a, dict(a)]) == "GB, DE; 2023-03-01 00:00 → 2023-03-07 23:00 UTC; 60 jobs"
    assert figures.context_line([a, {**a, "regions": "GB"}]).startswith("regions: 2 values over trials")
    assert figures.run_caption("quickstart_schedule", 0, a).startswith("run quickstart_schedule · 1 seed (seed 0) · GB")


def test_carbon_totals_of_different_instances_are_not_pooled():
    rows = [{"run_id": f"r{n}{s}", "workload.n_jobs": n, "forecast.accuracy": a, "policy": "cooperative",
             "metric": "carbon_kg", "value": float(n * 10 + s)}
            for n in (50, 200) for s, a in ((0, 0.6), (1, 1.0))]
    frame = pd.DataFrame(rows)
    groups = instance_groups(frame, ["workload.n_jobs", "forecast.accuracy"])
    assert [sfx for sfx, _, _ in groups] == ["_workload.n_jobs=50", "_workload.n_jobs=200"]
    assert [set(part["value"]) for _, _, part in groups] == [{500.0, 501.0}, {2000.0, 2001.0}]
    only_forecast = instance_groups(frame, ["forecast.accuracy"])
    assert len(only_forecast) == 1 and only_forecast[0][0] == "" and len(only_forecast[0][2]) == 4


def test_a_sweep_trial_figure_caption_names_its_swept_values(monkeypatch):
    import matplotlib.pyplot as plt

    from carbonshift.experiments import execution
    from carbonshift.experiments.figures import run_caption
    from carbonshift.experiments.registry import Context, Result

    text = run_caption("sweep_accuracy", 1, {"regions": "DE, GB", "jobs": 60}, "forecast.accuracy=0.6")
    assert text == "run sweep_accuracy · forecast.accuracy=0.6 · 1 seed (seed 1) · DE, GB; 60 jobs"
    seen = []
    monkeypatch.setattr(execution, "add_caption", lambda fig, caption: seen.append(caption))

    def kind(config, ctx):
        return Result(figures={"f.png": plt.figure()}, summary={"regions": "SG"})

    cfg = type("Cfg", (), {"name": "tiny", "seed": 2})()
    execution.execute(kind, cfg, Context(seed=2, trial="workload.flexibility=0.3"))
    assert seen == ["run tiny · workload.flexibility=0.3 · 1 seed (seed 2) · SG"]
