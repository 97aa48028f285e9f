"""Reports built from MLflow (never from memory): tables (markdown + CSV) and PNG figures for one run
or one sweep, written to ``reports/<name>/<run id>/report/`` and logged back to the run as ``report/``
artifacts (only the files the report wrote): ``build_report(name_or_run_id)``.

Metric names follow ``<policy>.<metric>`` (``cooperative.carbon_kg``) or plain ``<metric>``
(``trial_seconds``). What is drawn depends on what was logged:

- sweep curves: for every swept key except ``seed``, each metric's mean ± std over seeds (and over
  any other non-seed key, drawn as separate lines); figure of the reduction metric vs that key
  (error bars = std over seeds) and, when logged, latency/memory vs that key;
- Pareto: carbon (kgCO2e) vs mean completion time (h) per policy, with the non-dominated front;
- operational vs transfer carbon (kgCO2e) bars per policy;
- renewable utilisation per region (from a logged table with ``region`` and a ``renewable*`` column);
- hour-of-day allocation heatmap (from a logged table with an ``hour`` column);
- a backtest run (kind ``backtest``): day-ahead forecast vs actual with 50/90 % intervals, reliability diagram
  and MAPE (%) with 90 % interval coverage by horizon (h), from its logged forecast table.

Every figure's title says what, where and when (regions, period in UTC, jobs, from the runs' ``summary.json``)
and how many seeds it averages; axis labels and units come from :mod:`experiments.figures` (the metric's name,
never the data).

One job per module: :mod:`.runs` reads runs back from MLflow, :mod:`.frame` turns their metrics into the long
frame and aggregates it, :mod:`.tables` derives the per-instance tables, :mod:`.charts` and :mod:`.backtest` draw,
:mod:`.markdown` renders tables, :mod:`.notes` words what a value averages, :mod:`.metric_names` names the metrics
read, and :mod:`.build` assembles, writes and logs one report.
"""
from carbonshift.experiments.report.build import Report, build_report

__all__ = ["Report", "build_report"]
