"""``carbonshift simulate CONFIG [--set KEY=VALUE] [--json]`` — run a ``simulate`` (or ``plan_bench``)
config through the shared runner (MLflow logging, reports folder) and print its policy (or scale) table;
in text mode the policy table is followed by how to read it (units, and why a policy misses deadlines)."""
from __future__ import annotations

import argparse

import pandas as pd

from carbonshift.experiments.commands.run import add_common, execute

TABLES: dict[str, str] = {"simulate": "policies", "plan_bench": "scale"}   # kind → the table it prints

READING = ("How to read it: carbon_kg in kgCO2e (operational + data transfer); reduction_vs_perf_first in % of "
           "performance_first's carbon; oracle_share in % of the perfect-foresight saving captured (NaN when not "
           "comparable; the bound and why: column oracle_bound of the CSV or --json; a late policy's bound is widened by "
           "its lateness); ontime_share ranks policies at equal deadline performance: % of the on-time oracle saving, "
           "each late job counted at its performance_first carbon or its own if higher; deadline_rate in % of jobs finished by "
           "their deadline; completion_h_* in hours from submit to finish; renewable_share in %.")


def explain(table: pd.DataFrame) -> list[str]:
    """How to read a ``policies`` table: the units, then each policy below 100 % deadlines with its late,
    unfinished and rejected jobs and why that happens."""
    lines = [READING]
    missing = table[table["deadline_rate"] < 100]
    for row in missing.itertuples():
        lines.append(f"- {row.policy}: {row.deadline_rate:.1f} % on time ({int(row.n_late)} late, "
                     f"{int(row.n_unfinished)} unfinished, {int(row.n_rejected)} rejected).")
    if (missing["n_late"] + missing["n_unfinished"]).any():
        lines.append("Why late: policies reserve the *estimated* duration (workload.profiling_error); a job that "
                     "runs longer finishes after a tightly planned deadline or is blocked by the next reservation, "
                     "and a policy that waits for clean hours leaves less slack; risk_aware / chance_constrained "
                     "pad the estimate.")
    if missing["n_rejected"].any():
        lines.append("Why rejected: the job needs more GPUs than any region has free before the horizon ends.")
    return lines


EXPLAIN = {"policies": explain}   # table → what is printed under it in text mode
#: table → the columns a terminal shows (the whole table is in --json, MLflow and the reports folder)
COMPACT = {"policies": ["policy", "carbon_kg", "reduction_vs_perf_first", "oracle_share", "ontime_share", "deadline_rate",
                        "n_late",
                        "renewable_share", "completion_h_mean", "forecast_fallback_share", "adapt_ms_mean"]}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="simulate scheduling policies on real carbon intensity",
                              description=__doc__.split("\n")[0])
    add_common(p)
    p.set_defaults(handler=lambda args: execute(args, TABLES, EXPLAIN, COMPACT))
