"""Scores of the decisions a forecast drives (:mod:`forecast.decision_value`), with bootstrap intervals over
issues.

Per group of decisions (a region or the zones pooled; a set of job shapes; the temporal or the spatial
choice): captured share = Σ(run-now − chosen) / Σ(run-now − best) (%, a ratio of sums over the group's
decisions), regret = Σ(chosen − best) / Σ run-now (%) and Σ(chosen − best) / n (gCO2eq/kWh per decision), and
the mean Spearman rank correlation of forecast vs actual window means within each decision's feasible set.
Zones pooled two ways: ``mean of zones`` (the mean of the zones' ratios) and ``pooled`` (one ratio of sums).

Intervals: 95 % percentile bootstrap over issue days — each draw resamples issues with replacement (the same
draws for every region, group and forecaster, so comparisons are paired); per-issue sums are computed once and
the draws are one matrix product. Carbon in gCO2eq/kWh (the target's unit), shares and regrets in %.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonshift.forecast.decision_reliability import implied_vs_observed, reliability_table
from carbonshift.forecast.decision_value import Cube, Decisions, LENGTHS_H, SLACKS_H, decide, shape_grid, to_cube

#: issue 20's goal groups: name → ((L min, L max), (S min, S max)), hours, inclusive
GOAL_GROUPS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "L 1–8 h, S 24–48 h": ((1, 8), (24, 48)),
    "L 1–8 h, S 96–168 h": ((1, 8), (96, 168)),
}
ALL_SHAPES = "all shapes"
#: per-issue sums, in this order: decisions, run-now, chosen, best (gCO2eq/kWh), Spearman sum and count
_SUMS = ("n", "run_now", "chosen", "best", "rho", "rho_n")
MEAN_OF_ZONES, POOLED = "mean of zones", "pooled"
CHOICES = {False: "time", True: "time + region"}


def shape_groups(d: Decisions) -> dict[str, np.ndarray]:
    """Group name → mask over the shapes of ``d``: every shape, each goal group present, each single shape
    (``L=4 h, S=24 h``)."""
    out = {ALL_SHAPES: np.ones(len(d.length_h), bool)}
    for name, ((l0, l1), (s0, s1)) in GOAL_GROUPS.items():
        m = (d.length_h >= l0) & (d.length_h <= l1) & (d.slack_h >= s0) & (d.slack_h <= s1)
        if m.any():
            out[name] = m
    for k, (length, slack) in enumerate(zip(d.length_h, d.slack_h)):
        out[f"L={length} h, S={slack} h"] = np.arange(len(d.length_h)) == k
    return out


def issue_sums(d: Decisions, groups: Mapping[str, np.ndarray], valid: np.ndarray | None = None) -> np.ndarray:
    """Per-issue sums [issue × region × group × :data:`_SUMS`] over the scored decisions (``valid``, default
    ``d.valid``, [shape × issue × region]) of each group's shapes."""
    valid = d.valid if valid is None else valid
    g = np.stack([np.asarray(m, float) for m in groups.values()])   # [G × K]
    rho_ok = valid & np.isfinite(d.spearman)
    parts = [valid, np.where(valid, d.run_now, 0.0), np.where(valid, d.chosen, 0.0), np.where(valid, d.best, 0.0),
             np.where(rho_ok, d.spearman, 0.0), rho_ok]
    return np.stack([np.einsum("gk,kir->irg", g, np.asarray(p, float)) for p in parts], axis=-1)


def draws(n_issues: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap weights [draw × issue]: how often each issue is drawn when resampling ``n_issues`` with
    replacement (seeded)."""
    return np.random.default_rng(seed).multinomial(n_issues, np.full(n_issues, 1.0 / n_issues), size=n_boot).astype(float)


def metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Scores from summed [..., :data:`_SUMS`] arrays (any leading shape): ``captured_share_pct``,
    ``regret_pct``, ``regret_gco2_kwh`` (gCO2eq/kWh per decision), ``spearman``, ``run_now_gco2_kwh`` (mean run-now
    intensity, gCO2eq/kWh); NaN where undefined (no decision, no room)."""
    n, run_now, chosen, best, rho, rho_n = np.moveaxis(sums, -1, 0)

    def ratio(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, scale * a / np.where(b > 0, b, 1.0), np.nan)

    return {"captured_share_pct": ratio(run_now - chosen, run_now - best, 100.0),
            "regret_pct": ratio(chosen - best, run_now, 100.0),
            "regret_gco2_kwh": ratio(chosen - best, n), "spearman": ratio(rho, rho_n), "run_now_gco2_kwh": ratio(run_now, n)}


def _with_pooled(per_region: dict[str, np.ndarray], sums: np.ndarray) -> dict[str, np.ndarray]:
    """Append the zones pooled along the region axis (metric arrays [..., region, group], ``sums``
    [..., region, group, :data:`_SUMS`]): ``mean of zones`` (mean of the zones' values) and ``pooled`` (the
    metrics of the sums over zones)."""
    pooled = metrics(sums.sum(axis=-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a group no zone can score: NaN, reported as such
        return {k: np.concatenate([v, np.nanmean(v, axis=-2, keepdims=True), pooled[k][..., None, :]], axis=-2)
                for k, v in per_region.items()}


def _interval(boot: np.ndarray, level: float) -> np.ndarray:
    """Percentile bounds [2 × ...] of bootstrap values [draw × ...] (NaN draws ignored; NaN where all are)."""
    a = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(boot, [a, 1 - a], axis=0)


def _scores(d: Decisions, groups: Mapping[str, np.ndarray], valid: np.ndarray | None,
            weights: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Summed decisions [region × group × :data:`_SUMS`], point metrics [1 × region+2 × group] and bootstrap
    metrics [draw × region+2 × group] (``weights``: :func:`draws`), regions followed by the two pooled rows."""
    sums = issue_sums(d, groups, valid)                              # [I × R × G × M]
    total = sums.sum(axis=0)[None]
    boot_sums = (weights @ sums.reshape(sums.shape[0], -1)).reshape(len(weights), *sums.shape[1:])   # BLAS
    return total[0], _with_pooled(metrics(total), total), _with_pooled(metrics(boot_sums), boot_sums)


def _frame(d: Decisions, regions: Sequence[str], groups: Mapping[str, np.ndarray],
           columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """A tidy frame from arrays [region+2 × group]: one row per (region incl. the pooled rows, group)."""
    names = [*regions, MEAN_OF_ZONES, POOLED]
    ri, gi = (a.ravel() for a in np.meshgrid(np.arange(len(names)), np.arange(len(groups)), indexing="ij"))
    return pd.DataFrame({"choice": CHOICES[d.spatial], "region": np.asarray(names, object)[ri],
                         "group": np.asarray(list(groups), object)[gi], **{k: v[ri, gi] for k, v in columns.items()}})


def _with_totals(counts: np.ndarray) -> np.ndarray:
    """Counts [region × group] with the two pooled rows (both the sum over zones) appended."""
    total = counts.sum(axis=0, keepdims=True)
    return np.concatenate([counts, total, total]).astype(int)


def score_table(d: Decisions, regions: Sequence[str], n_boot: int = 1000, seed: int = 0,
                valid: np.ndarray | None = None, level: float = 0.95) -> pd.DataFrame:
    """One row per (region incl. ``mean of zones`` and ``pooled``, shape group of :func:`shape_groups`):
    ``n_decisions``, ``excluded_actual``/``excluded_forecast`` (decisions not scored because the slack window's
    actuals / forecasts are incomplete), each of :func:`metrics` with ``_lo``/``_hi`` bootstrap bounds
    (``level``); ``valid`` (default ``d.valid``) restricts the decisions scored."""
    groups = shape_groups(d)
    total, point, boot = _scores(d, groups, valid, draws(d.valid.shape[1], n_boot, seed))
    member = np.stack(list(groups.values())).astype(float)          # [G × K]
    cols = {"n_decisions": _with_totals(total[..., 0]),
            "excluded_actual": _with_totals(np.einsum("gk,kir->rg", member, d.missing_actual)),
            "excluded_forecast": _with_totals(np.einsum("gk,kir->rg", member, d.missing_forecast))}
    for k, v in point.items():
        lo, hi = _interval(boot[k], level)
        cols[k], cols[f"{k}_lo"], cols[f"{k}_hi"] = v[0], lo, hi
    return _frame(d, regions, groups, cols)


def paired_table(a: Decisions, b: Decisions, regions: Sequence[str], n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> pd.DataFrame:
    """Captured share of forecaster ``a`` minus that of ``b`` (percentage points) on the same decisions (those
    both score), per region incl. the pooled rows and per shape group (every shape and the goal groups), with
    a paired bootstrap interval over issues (the same issue draws for both) and ``excludes_zero``."""
    if not (np.array_equal(a.length_h, b.length_h) and np.array_equal(a.slack_h, b.slack_h)
            and a.valid.shape == b.valid.shape and a.spatial == b.spatial):
        raise ValueError("paired decision value: the two forecasters' decisions differ in shapes, issues or regions")
    groups = {k: v for k, v in shape_groups(a).items() if not k.startswith("L=")}
    both = a.valid & b.valid
    w = draws(a.valid.shape[1], n_boot, seed)
    total, pa, ba = _scores(a, groups, both, w)
    _, pb, bb = _scores(b, groups, both, w)
    key = "captured_share_pct"
    lo, hi = _interval(ba[key] - bb[key], level)
    diff = pa[key][0] - pb[key][0]
    return _frame(a, regions, groups, {"n_decisions": _with_totals(total[..., 0]), "share_a_pct": pa[key][0],
                                       "share_b_pct": pb[key][0], "difference_pp": diff, "difference_lo": lo,
                                       "difference_hi": hi, "excludes_zero": (lo > 0) | (hi < 0)})


def align(cubes: Mapping[str, Cube]) -> tuple[dict[str, Cube], list[str]]:
    """Restrict cubes to their common issues, regions (first cube's order) and horizons, so every forecaster is
    scored on the same decisions; also notes on what was cut (empty when nothing was)."""
    first = next(iter(cubes.values()))
    issues = first.issues
    for c in cubes.values():
        issues = issues.intersection(c.issues)
    regions = [r for r in first.regions if all(r in c.regions for c in cubes.values())]
    hmax = min(c.max_horizon for c in cubes.values())
    notes = [f"{name}: scored on {len(issues)} of its {len(c.issues)} issues, {len(regions)} of its "
             f"{len(c.regions)} regions, {hmax} of its {c.max_horizon} h (common to every forecaster)"
             for name, c in cubes.items()
             if len(issues) < len(c.issues) or len(regions) < len(c.regions) or hmax < c.max_horizon]
    out = {}
    for name, c in cubes.items():
        ii, rr = c.issues.get_indexer(issues), [c.regions.index(r) for r in regions]
        def sub(a: np.ndarray) -> np.ndarray:
            return a[ii][:, rr][:, :, :hmax]
        out[name] = Cube(issues, tuple(regions), sub(c.point), sub(c.actual),
                         None if c.quantiles is None else sub(c.quantiles))
    return out, notes


@dataclass
class ValueReport:
    """Tables of :func:`value_report` (each with a ``model`` column) and notes (dropped shapes, alignment,
    the assumptions behind the reliability table)."""

    scores: pd.DataFrame        # every region incl. pooled rows × {all shapes, goal groups} × choice
    shapes: pd.DataFrame        # every region incl. pooled rows × single shape × choice
    paired: pd.DataFrame | None  # reference − baseline captured share, paired bootstrap
    reliability: pd.DataFrame   # implied vs observed P(chosen window beats run-now), by bin
    notes: Mapping[str, object]


def value_report(tables: Mapping[str, pd.DataFrame], lengths_h: Sequence[int] = LENGTHS_H,
                 slacks_h: Sequence[int] = SLACKS_H, n_boot: int = 1000, seed: int = 0,
                 reference: str | None = None, baseline: str | None = None) -> ValueReport:
    """Decision value of each forecaster (name → forecast table with ``actual``, one model each, carbon
    intensity in gCO2eq/kWh) on the same decisions: :func:`score_table` for the temporal choice and, with ≥ 2
    regions, the choice across regions; :func:`paired_table` of ``reference`` vs ``baseline`` when both are
    given; the decision reliability table (:mod:`forecast.decision_reliability`). Bootstrap draws seeded by
    ``seed``, shared by every forecaster."""
    cubes, cut = align({name: to_cube(t) for name, t in tables.items()})
    first = next(iter(cubes.values()))
    shapes, dropped = shape_grid(first.max_horizon, lengths_h, slacks_h)
    if not shapes:
        raise ValueError(f"decision value: no job shape fits the tables' {first.max_horizon} h horizon")
    spatial = [False, True] if len(first.regions) >= 2 else [False]
    decisions = {(name, sp): decide(c.point, c.actual, shapes, sp) for name, c in cubes.items() for sp in spatial}
    full = pd.concat([score_table(d, first.regions, n_boot, seed).assign(model=name)
                      for (name, _), d in decisions.items()], ignore_index=True)
    lead = ["model", "choice", "region", "group"]
    full = full[lead + [c for c in full.columns if c not in lead]]
    single = full["group"].str.startswith("L=")
    keep = ["n_decisions", "captured_share_pct", "captured_share_pct_lo", "captured_share_pct_hi", "regret_pct",
            "regret_gco2_kwh", "spearman"]
    paired = None
    if reference is not None and baseline is not None:
        paired = pd.concat([paired_table(decisions[(reference, sp)], decisions[(baseline, sp)], first.regions,
                                         n_boot, seed) for sp in spatial], ignore_index=True)
        paired.insert(0, "baseline", baseline)
        paired.insert(0, "model", reference)
    rel = [reliability_table(implied_vs_observed(cubes[name], decisions[(name, False)])).assign(model=name)
           for name in cubes if cubes[name].quantiles is not None]
    rel = pd.concat(rel, ignore_index=True) if rel else pd.DataFrame(columns=["model", "bin", "n", "implied_mean", "observed"])
    notes = {"alignment": cut or "every forecaster covers the same issues, regions and horizons",
             "shapes_scored": [f"L={a} h, S={b} h" for a, b in shapes], "shapes_dropped": dropped,
             "issues": len(first.issues), "regions": list(first.regions),
             "bootstrap": f"{n_boot} draws over issue days, seed {seed}, 95 % percentile intervals",
             "reliability": "window-mean quantiles = mean of the hours' quantiles (comonotone errors); chosen "
                            "and run-now windows independent; piecewise-linear between the 7 levels, tails "
                            "extrapolated linearly"}
    return ValueReport(full[~single].reset_index(drop=True), full.loc[single, lead + keep].reset_index(drop=True),
                       paired, rel[["model", *[c for c in rel.columns if c != "model"]]], notes)
