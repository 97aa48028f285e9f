"""One Pareto view everywhere: carbon (kgCO2e, y) vs mean completion time (h, x); the oracle is a bound,
never on the policies' front."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.experiments import figures
from carbonshift.experiments.report import build
from carbonshift.experiments.kinds import simulate

TABLE = pd.DataFrame({"policy": ["performance_first", "greedy_carbon", "cooperative", "casper", "oracle"],
                      "carbon_kg": [1000.0, 700.0, 600.0, 800.0, 400.0],
                      "completion_h_mean": [20.0, 26.0, 24.0, 30.0, 10.0],
                      "deadline_rate": [100.0, 90.0, 95.0, 80.0, 100.0],
                      "renewable_share": [30.0, 40.0, 45.0, 35.0, 60.0]})


def test_front_is_over_policies_and_the_oracle_is_never_on_it():
    t = figures.pareto_table(TABLE).set_index("policy")["pareto_optimal"]
    # greedy_carbon is dominated by cooperative, casper by cooperative; the oracle dominates all but is a bound
    assert t.to_dict() == {"oracle": False, "cooperative": True, "greedy_carbon": False, "casper": False,
                           "performance_first": True}
    assert figures.pareto_mask(np.array([1.0, 2.0, 1.0]), np.array([2.0, 1.0, 2.0])).tolist() == [True, True, True]


def test_one_figure_with_carbon_on_y_and_completion_on_x():
    fig = figures.pareto_figure(TABLE)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean job completion time (h)" and ax.get_ylabel() == "total carbon (kgCO2e)"
    assert "oracle: perfect-foresight bound" in [t.get_text() for t in ax.get_legend().get_texts()]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front (policies)")
    assert list(front.get_xdata()) == [20.0, 24.0] and list(front.get_ydata()) == [1000.0, 600.0]
    assert build.pareto_figure is figures.pareto_figure is simulate.pareto_figure


def test_no_second_pareto_figure_in_the_package():
    root = Path(figures.__file__).resolve().parents[1]
    hits = [p for pkg in ("experiments", "scheduler", "forecast") for p in (root / pkg).rglob("*.py")
            if "def pareto_figure" in p.read_text()]
    assert hits == [root / "experiments" / "figures.py"]
