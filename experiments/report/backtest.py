"""The figures and tables of a backtest run (kind ``backtest``), from its logged forecast tables: day-ahead
forecast vs actual with 50/90 % intervals, the reliability diagram, and MAPE (%) with 90 % interval coverage
by horizon (h), per target (drawn by :mod:`forecast.report`)."""
from __future__ import annotations

import tempfile
from typing import Any

import pandas as pd

from carbonshift.experiments.report.frame import param
from carbonshift.forecast import report as fr
from carbonshift.forecast.data.schema import TARGETS
from carbonshift.forecast.models.base import read_forecast_table

BACKTEST_TABLE = "forecast_ensemble"   # files/forecast_ensemble[_<target>].csv of a backtest run


def backtest_figures(c: Any, run: Any) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Figures and tables of a backtest run from its logged forecast tables (``files/forecast_ensemble[_<target>]
    .csv``: the combined forecast on the test window, every horizon): day-ahead forecast vs actual with the 50/90 %
    intervals, the reliability diagram and MAPE (%) with 90 % interval coverage by horizon (h), per target. A
    backtest run without the table is a ``LookupError``."""
    from mlflow.exceptions import MlflowException

    params = run.data.params
    day_ahead_h = param(params, "backtest.day_ahead_h")
    targets = param(params, "targets") or []
    try:
        names = [a.path.rpartition("/")[2] for a in c.list_artifacts(run.info.run_id, "files")]
    except MlflowException:
        names = []
    names = sorted(n for n in names if n.startswith(BACKTEST_TABLE) and n.endswith((".csv", ".parquet")))
    if not names or day_ahead_h is None:
        raise LookupError(f"backtest run {run.info.run_id}: no files/{BACKTEST_TABLE}*.csv (or .parquet) or no "
                          "backtest.day_ahead_h logged; rerun it with this version to get its figures")
    figs: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fname in names:
            stem = fname.rpartition(".")[0]
            sfx = stem[len(BACKTEST_TABLE):]
            target = sfx.lstrip("_") or (targets[0] if len(targets) == 1 else "")
            if target not in TARGETS:
                raise LookupError(f"backtest run {run.info.run_id}: {fname}: cannot tell its target (targets {targets})")
            local = c.download_artifacts(run.info.run_id, f"files/{fname}", tmp)
            fc = read_forecast_table(local)
            model = str(fc["model"].iloc[0])
            figs[f"forecast_vs_actual{sfx}.png"] = fr.forecast_figure(fc, None, TARGETS[target], day_ahead_h=day_ahead_h,
                                                                      model=model, target=target)
            rel = fr.reliability(fc, day_ahead_h)
            tables[f"reliability{sfx}"] = rel
            figs[f"reliability{sfx}.png"] = fr.reliability_figure(rel, f"Reliability of the {target} quantiles — {model}")
            wide = fr.mape_by_horizon(fc, model)
            tables[f"mape_by_horizon{sfx}"] = wide.reset_index()
            cover = fr.coverage_by_horizon(fc, model)
            tables[f"coverage90_by_horizon{sfx}"] = cover.reset_index()
            figs[f"mape_by_horizon{sfx}.png"] = fr.mape_by_horizon_figure(wide, model, fr.forecast_context(fc),
                                                                         day_ahead_h, target=target, coverage=cover)
    return figs, tables
