"""Like with like: the seed's process memory figures sit next to the trial's process peak RSS, one seed is
"1 seed" (not "± 0.00"), tracemalloc figures and CPU-sized neural models are labelled as what they are."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from carbonshift.experiments.config import load, load_yaml, parse
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.forecast_sections import cpu_sized
from carbonshift.experiments.report.frame import aggregate
from carbonshift.experiments.report.markdown import markdown
from carbonshift.experiments.report.notes import seeds_note
from carbonshift.experiments.results import SHIPPED, Claim, RunSection, headline, render_run, spread


def test_seed_memory_figures_are_compared_with_process_peak_rss():
    by_metric = {c.metric: c for c in SHIPPED["scale"]}
    assert by_metric["trial_peak_rss_mb"].values == {100: 247.0, 1000: 1830.0, 5000: 8960.0}
    assert by_metric["peak_mem_mb"].values == {}                    # tracemalloc of one call: no seed number


def _frame(values: list[float]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "workload.n_jobs": [100] * n, "seed": list(range(n)),
                         "policy": [""] * n, "metric": ["trial_peak_rss_mb"] * n, "value": values})


def test_one_seed_is_one_seed_and_many_are_mean_std_over_n():
    assert spread(pd.Series([3.0])) == "3.00 (1 seed)"
    assert spread(pd.Series([1.0, 2.0, 3.0])) == "2.00 ± 1.00 over 3 seeds"
    claim = Claim("workload.n_jobs", "trial_peak_rss_mb", {100: 247.0}, "MB", policy="")
    one = headline(_frame([300.0]), claim, ["workload.n_jobs", "seed"])
    col = "trial_peak_rss_mb = process peak RSS of the trial (MB)"
    assert one[col].iloc[0] == "300.00 (1 seed)" and "±" not in one[col].iloc[0]
    two = headline(_frame([300.0, 310.0]), claim, ["workload.n_jobs", "seed"])
    assert two[col].iloc[0] == "305.00 ± 7.07 over 2 seeds" and two["seed paper (MB)"].iloc[0] == 247.0


def test_report_aggregates_leave_no_fake_zero_spread():
    agg = aggregate(_frame([300.0]), ["policy", "metric"])
    assert agg["n"].iloc[0] == 1 and np.isnan(agg["std"].iloc[0])
    assert "| 300.00 |  | 1 |" in markdown(agg[["mean", "std", "n"]])
    assert seeds_note(agg["n"]) == "1 seed" and seeds_note(pd.Series([3, 3])) == "mean ± std over 3 seeds"


def test_results_tables_say_what_memory_columns_measure():
    run = SimpleNamespace(data=SimpleNamespace(tags={}, params={"seed": "0"}, metrics={}),
                          info=SimpleNamespace(run_id="x" * 32, start_time=0))
    table = pd.DataFrame({"jobs": [100], "peak_mem_mb": [12.0], "process_max_rss_mb": [250.0]})
    text = "\n".join(render_run(RunSection("scale_bench", run, [("scale", table)])))
    assert "peak_mem_mb (tracemalloc peak of one decision call, not a process figure)" in text
    assert "process_max_rss_mb (process peak RSS so far" in text


def test_neural_models_below_full_size_are_cpu_sized():
    quick = load("experiments/configs/forecast_quick.yaml", BacktestConfig)
    assert cpu_sized(quick.models) == {"lstm": "lstm (CPU-sized)"}                 # hidden 8, 2 epochs
    dacf = load("experiments/configs/forecast_dacf.yaml", BacktestConfig)
    assert cpu_sized(dacf.models) == {"lstm": "lstm (CPU-sized)", "tft": "tft (CPU-sized)"}
    doc = load_yaml("experiments/configs/forecast_quick.yaml")
    doc["models"]["lstm"] = {}                                              # the section's full defaults
    assert cpu_sized(parse(doc, BacktestConfig).models) == {}
