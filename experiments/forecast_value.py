"""``carbonshift forecast value TABLE.csv``: the decision value of a forecast table a user brings
(:mod:`experiments.decision_value`) — the single-job start (and region) decisions it drives, scored on actual
carbon intensities loaded through the data layer for the table's regions and years."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from carbonshift.experiments.decision_value import decision_value
from carbonshift.experiments.output import emit
from carbonshift.forecast.backtest import extend_panel
from carbonshift.forecast.data.panel import em_path, load_dacf_panel, load_panel
from carbonshift.forecast.models.base import check_forecast_table, read_forecast_table
from carbonshift.forecast.models.naive import NaiveForecaster, NaiveKind
from carbonshift.forecast.report import forecast_context

NAIVE = ("seasonal24", "seasonal168", "persistence")
#: columns a terminal shows of the decision_value table (every column in --json and --out)
SHOWN = ("model", "choice", "region", "group", "n_decisions", "excluded_actual", "captured_share_pct",
         "captured_share_pct_lo", "captured_share_pct_hi", "regret_pct", "spearman")


def add_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("value", help="decision value of a forecast table: the job starts it picks vs perfect foresight")
    v.add_argument("table", help="forecast table CSV (region, issue_time, time, horizon_h, mean, q0.05 … q0.95; "
                                 "an optional model column holds several forecasters)")
    v.add_argument("--target", choices=["ci_direct", "ci_lca"], default="ci_direct",
                   help="carbon intensity the table forecasts (gCO2eq/kWh; default ci_direct)")
    v.add_argument("--source", choices=["electricitymaps", "dacf"], default="electricitymaps",
                   help="where the actuals come from (Electricity Maps zones or DACF regions; default electricitymaps)")
    v.add_argument("--data-dir", help="data folder searched first (else $CARBONSHIFT_DATA_DIR, ../shared/data, cache)")
    v.add_argument("--regions", nargs="+", help="score only these regions of the table")
    v.add_argument("--baseline", help="compare with this forecaster: a model in the table, or seasonal24 / "
                                      "seasonal168 / persistence built from the actuals (residual intervals fitted "
                                      "on the 28 days before the table's first issue)")
    v.add_argument("--reference", help="the forecaster compared with --baseline (default: the table's only, or "
                                       "first, model)")
    v.add_argument("--boot", type=int, default=1000, help="bootstrap draws over issue days (default 1000)")
    v.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    v.add_argument("--out", help="also write every table (CSV) and the figure (PNG) to this folder")
    v.add_argument("--json", action="store_true", help="one JSON document on stdout (every table, every column)")
    v.set_defaults(handler=value, command="forecast value")


def read_tables(path: str, regions: list[str] | None) -> dict[str, pd.DataFrame]:
    """Forecaster name → its rows of the CSV at ``path`` (by the ``model`` column, else the file's stem), restricted
    to ``regions``; the schema is checked (:func:`forecast.models.base.check_forecast_table`)."""
    table = read_forecast_table(path)
    check_forecast_table(table, path)
    table["region"] = table["region"].astype(str)
    if regions:
        unknown = sorted(set(regions) - set(table["region"]))
        if unknown:
            raise ValueError(f"{path}: no rows for region(s) {unknown}; it holds {sorted(set(table['region']))}")
        table = table[table["region"].isin(regions)]
    table = table.drop(columns=[c for c in ("actual", "window") if c in table.columns])
    if "model" not in table.columns:
        return {Path(path).stem: table}
    return {str(m): g.drop(columns="model") for m, g in table.groupby("model", sort=False)}


def load_actuals(tables: dict[str, pd.DataFrame], target: str, source: str, data_dir: str | None,
                 history_days: int = 0) -> pd.DataFrame:
    """Panel of the tables' regions from the data layer (:mod:`forecast.data.panel`): the years of the issues (and
    of ``history_days`` before the first), plus later years the target hours reach where every region has them
    (target hours without actuals leave their decisions unscored and counted)."""
    rows = pd.concat(tables.values())
    regions = list(dict.fromkeys(rows["region"]))
    if source == "dacf":
        return load_dacf_panel(regions, data_dir)
    first = rows["issue_time"].min() - pd.Timedelta(days=history_days)
    last = rows["issue_time"].max().year
    years = list(range(first.year, last + 1))
    for year in range(last + 1, rows["time"].max().year + 1):
        try:
            [em_path(r, year, data_dir) for r in regions]
        except FileNotFoundError:
            break
        years.append(year)
    return load_panel(regions, years, weather=False, data_dir=data_dir)


def with_actual(table: pd.DataFrame, panel: pd.DataFrame, target: str) -> pd.DataFrame:
    """``table`` with ``actual`` = the panel's ``target`` at each (region, time); NaN where the panel has none."""
    actual = panel.set_index(["region", "time"])[target]
    return table.assign(actual=actual.reindex(pd.MultiIndex.from_frame(table[["region", "time"]])).to_numpy(float))


def naive_table(kind: NaiveKind, panel: pd.DataFrame, like: pd.DataFrame, target: str) -> pd.DataFrame:
    """``kind`` (seasonal24 …) forecasts for the issues, regions and horizons of ``like``, from the actuals before
    each issue; residual intervals fitted on issues before the first one."""
    issues = pd.DatetimeIndex(sorted(set(like["issue_time"])))
    horizon = int(like["horizon_h"].max())
    model = NaiveForecaster(kind, int(issues[0].hour), horizon)
    data = extend_panel(panel[panel["region"].isin(set(like["region"]))], horizon)
    return model.fit(data, target, until=issues[0]).predict(data, issues, horizon)


def value(args: argparse.Namespace) -> int:
    if args.boot < 1:
        print(f"error: --boot must be ≥ 1, got {args.boot}", file=sys.stderr)
        return 2
    try:
        tables = read_tables(args.table, args.regions)
        naive = args.baseline in NAIVE and args.baseline not in tables
        if args.baseline is not None and not naive and args.baseline not in tables:
            raise ValueError(f"--baseline {args.baseline!r} is neither a model in {args.table} {list(tables)} nor "
                             f"one of {list(NAIVE)}")
        reference = args.reference or next(iter(tables))
        if reference not in tables:
            raise ValueError(f"--reference {reference!r} is not a model in {args.table}: {list(tables)}")
        panel = load_actuals(tables, args.target, args.source, args.data_dir, 28 if naive else 0)
        if naive:
            tables[args.baseline] = naive_table(args.baseline, panel, tables[reference], args.target)
        tables = {name: with_actual(t, panel, args.target) for name, t in tables.items()}
        caption = (f"{Path(args.table).name} · {args.target} · {forecast_context(tables[reference])} · actuals: "
                   f"{args.source} · 95 % bootstrap intervals over issue days")
        dv = decision_value(tables, args.target, "", reference if args.baseline else None, args.baseline,
                            caption=caption, n_boot=args.boot, seed=args.seed)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {"table": args.table, "target": args.target, "actuals": args.source,
               "forecasters": list(tables), **dv.summary}
    if naive:
        summary["baseline"] = f"{args.baseline}: built from the actuals before each issue (not in the table)"
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, t in dv.tables.items():
            t.to_csv(out / f"{name}.csv", index=False)
        dv.figure.savefig(out / dv.figure_name, dpi=120, bbox_inches="tight")
        summary["written"] = str(out)
    if args.json:
        emit(summary, True, dv.tables)
        return 0
    notes = summary["decision_value_notes"]   # the shape lists are long: counts in text mode
    summary["decision_value_notes"] = {**notes, **{k: f"{len(notes[k])} (listed in --json)"
                                                   for k in ("shapes_scored", "shapes_dropped")}}
    shown = dict(dv.tables)
    main = shown.pop("decision_value")
    main = main[main["group"] != "all shapes"] if (main["group"] != "all shapes").any() else main
    shown.pop("decision_value_shapes")
    emit(summary, False, {"decision_value (goal groups; every shape and column in --json / --out)":
                          main[list(SHOWN)], **shown})
    return 0
