"""``carbonshift sweep CONFIG [--resume]``: run a config's ``sweep:`` grid on Ray, tracked in MLflow."""
from __future__ import annotations

import argparse

from carbonshift.experiments.commands.run import add_common
from carbonshift.experiments.config_doc import parse_overrides
from carbonshift.experiments.output import emit
from carbonshift.experiments.profiles import profile_overrides
from carbonshift.experiments.sweep import check_trials_data, plan, run_sweep


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a config's sweep: grid on Ray (RAY_ADDRESS for a cluster), one MLflow "
                                     "child run per trial")
    add_common(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the latest run of this sweep: skip trials already FINISHED, rerun the rest")
    p.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    p.add_argument("--dry-run", action="store_true", help="validate and list the trials without running them")
    p.add_argument("--gpus-per-trial", type=float, default=None, metavar="N",
                   help="GPUs each Ray trial requests (default: 1 for trials that train lstm/tft when the cluster "
                        "has GPUs, else 0)")
    p.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    overrides = {**profile_overrides(args.profile, args.config), **parse_overrides(args.overrides)} or None
    if args.dry_run:
        sp = plan(args.config, overrides)
        check_trials_data(sp, args.data_dir)
        emit({"name": sp.name, "kind": sp.kind.name, "sweep_hash": sp.sweep_hash, "code_version": sp.code_version,
              "n_trials": len(sp.trials)},
             args.json, {"trials": _plan_table(sp)})
        return 0
    rec = run_sweep(args.config, overrides, args.resume, args.experiment, args.data_dir,
                    args.reports_dir, args.num_cpus, progress=True, gpus_per_trial=args.gpus_per_trial,
                    profile=args.profile)
    emit({"parent_run_id": rec.parent_run_id, "experiment": rec.experiment, "name": rec.name,
          "code_version": rec.code_version, "n_trials": rec.n_trials, "skipped": rec.n_skipped, "ran": rec.n_run, "failed": rec.n_failed,
          "seconds": round(rec.seconds, 1)}, args.json, {"trials": rec.trials})
    return 1 if rec.n_failed else 0


def _plan_table(sp):
    import pandas as pd

    return pd.DataFrame([{"trial": t.label, "config_hash": t.config_hash} for t in sp.trials])
