"""``carbonshift run CONFIG``: run one experiment config and log it to MLflow."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any
from pathlib import Path

import pandas as pd

from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.config_doc import parse_overrides, read_doc
from carbonshift.experiments.ddp_rank import distributed_rank
from carbonshift.experiments.figures import short_cells
from carbonshift.experiments.output import emit
from carbonshift.experiments.profiles import FULL, profile_overrides
from carbonshift.experiments.registry import REFERENCE_PATH, config_reference
from carbonshift.experiments.report_dirs import REPORTS_DIR
from carbonshift.experiments.runner import run_config


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``sweep``."""
    p.add_argument("config", help="YAML experiment config (top-level kind:)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="override a dotted config key, value parsed as YAML (repeatable), e.g. workload.n_jobs=200")
    p.add_argument("--profile", default=FULL, metavar="NAME",
                   help=f"run profile: named overrides of the shipped configs, --set wins (default {FULL}: the config "
                        f"as written; two_core: the reduced profile of `make results` — experiments/profiles/)")
    p.add_argument("--experiment", help="MLflow experiment (default: the config's name)")
    p.add_argument("--data-dir", help="data folder handed to the experiment kind")
    p.add_argument("--reports-dir", default=REPORTS_DIR,
                   help="where figures and tables are written: <dir>/<name>/<run id>/, <dir>/<name>/latest the last "
                        "successful run (default: the project's reports/, whatever the current directory)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run one experiment config and log it to MLflow")
    add_common(p)
    p.set_defaults(handler=_run)
    p = sub.add_parser("config-reference", help="every config key of every kind (type, default, range, note), "
                                                "generated from the config dataclasses, as markdown")
    p.add_argument("--output", help=f"file to write (e.g. {REFERENCE_PATH}); default: stdout")
    p.set_defaults(handler=_config_reference)


def _config_reference(args: argparse.Namespace) -> int:
    text = config_reference() + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    return execute(args)


def execute(args: argparse.Namespace, show: dict[str, str] | None = None,
            explain: Mapping[str, Callable[[pd.DataFrame], list[str]]] | None = None,
            compact: dict[str, list[str]] | None = None) -> int:
    """Run ``args.config`` through :func:`run_config` and print the outcome. ``show`` (kind → table name)
    restricts the accepted kinds and names the table printed in text mode (default: the kind's first);
    ``explain`` (table name → lines) adds how to read that table under it in text mode; ``compact`` (table
    name → columns) is the subset of columns a terminal shows (every column stays in ``--json``, MLflow and
    the reports folder)."""
    overrides = {**profile_overrides(args.profile, args.config), **parse_overrides(args.overrides)}
    kind = read_doc(args.config, overrides)[0].get("kind")
    if show is not None and kind not in show:
        raise ConfigError(f"{args.config}: kind: {kind!r} is not run by `carbonshift {args.command}` "
                          f"(expected one of {list(show)}; use `carbonshift run` for other kinds)")
    rec = run_config(args.config, overrides, args.experiment, args.data_dir, args.reports_dir,
                     progress=not args.json, profile=args.profile)
    if rec.status == "DDP_WORKER":  # rank 0 prints and records the run; a worker rank only trains
        print(f"carbonshift {args.command}: DDP worker rank {distributed_rank()} done"
              f"{' with error: ' + rec.error.split(chr(10))[0] if rec.error else ''} (rank 0 records the run)",
              file=sys.stderr)
        return 1 if rec.error else 0
    head: dict[str, Any] = {"run_id": rec.run_id, "experiment": rec.experiment, "name": rec.name, "kind": rec.kind,
            "config_hash": rec.config_hash, "code_version": rec.code_version, "status": rec.status, "reports": str(rec.report_dir),
            **({"error": rec.error if args.json else rec.error.split("\n")[0]} if rec.error else {}),
            # the bound every oracle_share was measured against travels at the top level with the run
            **{k: rec.summary[k] for k in ("oracle.bound_kind", "oracle_preemptive.bound_kind") if k in rec.summary}}
    metrics = pd.DataFrame({"metric": list(rec.metrics), "value": list(rec.metrics.values())})
    if args.json:
        emit({**head, "summary": rec.summary}, True, {"metrics": metrics, **rec.tables})
    elif rec.tables:  # text: the kind's summary and one table; every metric is in MLflow / --json
        name = (show or {}).get(rec.kind) or next(iter(rec.tables))
        shown, rest = rec.tables.get(name), 0
        if shown is not None:
            cols = [c for c in (compact or {}).get(name, shown.columns) if c in shown.columns]
            shown, full = short_cells(shown[cols])
            cols = fit_width(shown, TABLE_WIDTH)
            rest = len(shown.columns) - len(cols)
            shown = shown[cols]
        emit({**head, **rec.summary, "metrics": f"{len(metrics)} logged (--json or MLflow for all)"}, False,
             {name: shown} if shown is not None else {})
        if rest:
            print(f"({rest} more columns in --json, MLflow and {rec.report_dir / (name + '.csv')})")
        for short, label in (full if shown is not None else {}).items():
            print(f"{short} = {label}")
        if explain and name in rec.tables and name in explain:
            print("\n" + "\n".join(explain[name](rec.tables[name])))
    else:
        emit({**head, **rec.summary}, False, {"metrics": metrics})
    if rec.error:
        failed_run_message(args, rec.run_id, rec.error)
    return 1 if rec.error else 0


#: widest table (characters) a terminal is shown; wider ones keep their leading columns (all are in --json)
TABLE_WIDTH = 120


def fit_width(table: pd.DataFrame, width: int) -> list[str]:
    """The leading columns of ``table`` whose printed width (as :func:`emit` prints it) fits in ``width``
    characters; at least the first column."""
    cols: list[str] = []
    for col in table.columns:
        trial = table[[*cols, col]].to_string(index=False, float_format=lambda v: f"{v:,.2f}")
        if cols and max(map(len, trial.splitlines())) > width:
            break
        cols.append(col)
    return cols


def failed_run_message(args: argparse.Namespace, run_id: str, error: str) -> None:
    """A failed run on stderr: its error in one line, where it is recorded, and (with ``-v``) the traceback
    tail the runner kept."""
    first, _, tail = error.partition("\n")
    verbose = getattr(args, "verbose", False)
    print(f"carbonshift {args.command}: error: {first}", file=sys.stderr)
    if verbose and tail.strip():
        print(tail.rstrip(), file=sys.stderr)
    print(f"(recorded in MLflow as FAILED: run {run_id}, tag carbonshift.error, artifact error.txt"
          f"{'' if verbose else '; -v shows the traceback'})", file=sys.stderr)
