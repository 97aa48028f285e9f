"""``carbonshift simulate CONFIG [--set KEY=VALUE] [--json]`` — run a ``simulate`` (or ``plan_bench``)
config through the shared runner (MLflow logging, reports folder) and print its policy (or scale) table."""
from __future__ import annotations

import argparse

from experiments.commands.run import add_common, execute

TABLES: dict[str, str] = {"simulate": "policies", "plan_bench": "scale"}   # kind → the table it prints


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="simulate scheduling policies on real carbon intensity",
                              description=__doc__.split("\n")[0])
    add_common(p)
    p.set_defaults(handler=lambda args: execute(args, TABLES))
