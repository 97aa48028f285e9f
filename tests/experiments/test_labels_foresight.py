"""Perfect-foresight inputs say so: scaling planned on actual intensity, curtailment windows cut from
whole-span actual percentiles (or dropped short knowing their actual end)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from carbonshift.experiments.config import parse
from carbonshift.experiments.curtailment_figure import windows_figure
from carbonshift.experiments.kinds.scaling import ScalingConfig
from carbonshift.experiments.kinds.scaling import run as run_scaling
from carbonshift.experiments.registry import Context
from carbonshift.scheduler.curtailment import WindowRule, foresight, window_label
from carbonshift.scheduler.scaling import PLAN_SIGNALS


def test_percentile_windows_are_perfect_foresight():
    rule = WindowRule()                                     # percentile 80 / 70, min 3 h
    why = foresight(rule)
    assert window_label(rule) == "perfect-foresight windows"
    assert any("percentiles of the actual renewable_pct over the whole loaded span" in w for w in why)
    assert any("under 3 h dropped knowing their actual end" in w for w in why)
    only_short = WindowRule(mode="absolute", enter=60.0, min_hours=3)
    assert window_label(only_short) == "perfect-foresight windows" and len(foresight(only_short)) == 1
    causal = WindowRule(mode="absolute", enter=60.0, min_hours=1)
    assert foresight(causal) == [] and window_label(causal) == "causal windows"


def test_windows_figure_title_names_the_foresight():
    mask = np.zeros((2, 48), bool)
    mask[0, 5:12] = True
    fig = windows_figure(mask, pd.date_range("2023-03-01", periods=48, freq="h", tz="UTC"), ["DE", "GB"], 30,
                         window_label(WindowRule()))
    assert fig.axes[0].get_title().endswith("— perfect-foresight windows")


def test_scaling_on_actual_intensity_is_labelled_perfect_foresight(tmp_path):
    doc = {"kind": "scaling", "name": "t", "workload": {"n_jobs": 30, "span_h": 72}}
    res = run_scaling(parse(doc, ScalingConfig), Context(out_dir=tmp_path))
    table = res.tables["scaling_comparison"]
    assert set(table["planning_intensity"]) == {"actual intensity (perfect foresight)"}
    assert res.summary["plan_signal"] == "actual intensity (perfect foresight)"
    causal = parse({**doc, "carbon": {"plan_signal": "persistence24"}}, ScalingConfig)
    res = run_scaling(causal, Context(out_dir=tmp_path))
    assert set(res.tables["scaling_comparison"]["planning_intensity"]) == {PLAN_SIGNALS["persistence24"]}
    assert "foresight" not in PLAN_SIGNALS["persistence24"]
