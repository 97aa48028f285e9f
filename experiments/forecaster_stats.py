"""Statistics of a forecaster sweep (``sweep_forecasters.yaml``): what each forecaster's decisions buy, with
intervals, and which differences are significant.

Replicates: the trials of one point differ only in the replicate axes :data:`REPLICATE_KEYS` (``seed``: jobs,
failures and policy draws; ``data.start``: the month simulated); every other swept key outside ``forecast.*``
defines a scenario (:func:`experiments.forecaster_curve.scenario_keys`). Trials of one scenario and replicate
share the scheduling instance (carbon, jobs, data centres) and differ only in the forecast, so forecasters are
compared *paired* on them.

- :func:`trial_points`: one row per trial × forecast-driven policy: the forecast's MAPE (%) and 90 % interval
  coverage (%), the policy's reduction vs performance-first (%), oracle share (%) and saving vs performance-first
  (kgCO2e = performance-first's carbon − the policy's, same trial).
- :func:`interval_table`: per scenario × forecaster × policy, mean and 95 % Student-t interval over replicates.
- :func:`paired_differences`: each forecaster minus a reference forecaster on the same replicates (mean
  difference of reduction, pp), paired-t 95 % interval and p-value, and whether it is significant at 5 % after a
  Holm correction over the forecasters compared with that reference in that scenario and policy.
- :func:`rank_correlation`: Spearman ρ between the real forecasters' mean MAPE and mean reduction (perfect
  foresight left out), its two-sided p-value, per scenario and policy.
- :func:`captured_share`: Σ saving(forecaster) / Σ saving(perfect foresight) (%) over the replicates both ran,
  same policy and scenario (a ratio of sums), with a 95 % percentile bootstrap interval over replicates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Swept keys whose values are replicates of one point (pooled, and paired on), not scenarios.
REPLICATE_KEYS: tuple[str, ...] = ("seed", "data.start")
PERFECT = "perfect foresight"
LEVEL = 0.95            # confidence level of every interval here
BOOTSTRAP = 4000        # bootstrap resamples of captured_share
METRICS = ("mape_pct", "coverage90_pct", "reduction_vs_perf_first", "oracle_share", "saving_kg")


def replicate_id(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per row, its replicate: the values of the swept replicate keys (``seed=1 data.start=2023-04-01``)."""
    rep = [k for k in keys if k in REPLICATE_KEYS and k in frame]
    if not rep:
        return pd.Series("all", index=frame.index)
    return frame[rep].astype(str).apply(lambda r: " ".join(f"{k}={v}" for k, v in r.items()), axis=1)


def t_halfwidth(std: pd.Series, n: pd.Series) -> pd.Series:
    """Half-width of the 95 % Student-t interval of a mean of ``n`` values with sample std ``std`` (NaN for n < 2)."""
    n = n.astype(float)
    q = stats.t.ppf(0.5 + LEVEL / 2, np.maximum(n - 1, 1))
    return pd.Series(np.where(n >= 2, q * std / np.sqrt(n), np.nan), index=std.index)


def interval_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per scenario × forecaster × policy: ``n`` replicates and, for each of :data:`METRICS` present, its mean,
    sample std and 95 % t half-width (``<metric>_mean``, ``_std``, ``_ci95``) over them."""
    cols = [m for m in METRICS if m in points]
    g = points.groupby(["scenario", "forecaster", "policy"], sort=True)
    mean, std, n = g[cols].mean(), g[cols].std(), g[cols].count()
    out = pd.DataFrame(index=mean.index)
    out["n"] = g.size()
    for c in cols:
        out[f"{c}_mean"], out[f"{c}_std"] = mean[c], std[c]
        out[f"{c}_ci95"] = t_halfwidth(std[c], n[c])
    return out.reset_index()


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as ``p``; NaN stays NaN)."""
    p = np.asarray(p, float)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(p.shape, np.nan)
    if ok.size:
        order = ok[np.argsort(p[ok])]
        adj = np.maximum.accumulate((ok.size - np.arange(ok.size)) * p[order])
        out[order] = np.minimum(adj, 1.0)
    return out


def paired_stats(d: np.ndarray) -> dict[str, float]:
    """``n``, mean, 95 % t interval (``ci_low``, ``ci_high``) and two-sided one-sample t p-value of paired
    differences ``d`` (NaN where fewer than 2; differences equal up to rounding have a zero-width interval and p 0,
or p 1 when they are all zero)."""
    n = d.size
    mean = float(d.mean()) if n else np.nan
    if n < 2:
        return {"n": n, "diff_mean": mean, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    sd = float(d.std(ddof=1))
    constant = sd <= 1e-9 * max(1.0, float(np.abs(d).max()))     # equal differences up to rounding
    half = 0.0 if constant else float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / np.sqrt(n))
    p = float(abs(mean) <= 1e-12) if constant else float(stats.ttest_1samp(d, 0.0).pvalue)
    return {"n": n, "diff_mean": mean, "ci_low": mean - half, "ci_high": mean + half, "p": p}


def paired_differences(points: pd.DataFrame, references: list[str], metric: str = "reduction_vs_perf_first"
                       ) -> pd.DataFrame:
    """Each forecaster minus each of ``references`` (forecaster names present in ``points``) in ``metric`` on the
    replicates both ran, per scenario × policy: ``n`` pairs, mean difference, paired-t 95 % interval and p-value,
    Holm-adjusted p over that (scenario, policy, reference)'s comparisons and ``significant`` (adjusted p < 0.05).
    A reference missing from a scenario is skipped."""
    wide = points.pivot_table(index=["scenario", "policy", "replicate"], columns="forecaster", values=metric)
    rows = []
    for (scen, policy), part in wide.groupby(level=["scenario", "policy"], sort=True):
        for ref in references:
            if ref not in part or part[ref].isna().all():
                continue
            for f in part.columns:
                if f != ref:
                    d = (part[f] - part[ref]).dropna().to_numpy(float)
                    rows.append({"scenario": scen, "policy": policy, "reference": ref, "forecaster": f,
                                 **paired_stats(d)})
    out = pd.DataFrame(rows, columns=["scenario", "policy", "reference", "forecaster", "n", "diff_mean",
                                      "ci_low", "ci_high", "p"])
    out["p_holm"] = out.groupby(["scenario", "policy", "reference"])["p"].transform(lambda s: holm(s.to_numpy()))
    out["significant"] = out["p_holm"] < 1 - LEVEL
    return out


def rank_correlation(table: pd.DataFrame, metric: str = "reduction_vs_perf_first") -> pd.DataFrame:
    """Spearman ρ between the real forecasters' mean MAPE (%) and mean ``metric`` (an :func:`interval_table`),
    per scenario × policy, with its two-sided p-value and the number of forecasters (perfect foresight left out:
    it is not a forecaster one can run). A negative ρ: more accurate forecasters reduced more."""
    rows = []
    real = table[~table["forecaster"].str.startswith(PERFECT)]
    for (scen, policy), part in real.groupby(["scenario", "policy"], sort=True):
        x, y = part["mape_pct_mean"].to_numpy(float), part[f"{metric}_mean"].to_numpy(float)
        rho, p = stats.spearmanr(x, y) if len(part) >= 3 else (np.nan, np.nan)
        rows.append({"scenario": scen, "policy": policy, "n_forecasters": len(part), "spearman_rho": float(rho),
                     "p": float(p), "significant": bool(p < 1 - LEVEL)})
    return pd.DataFrame(rows, columns=["scenario", "policy", "n_forecasters", "spearman_rho", "p", "significant"])


def ratio_interval(num: np.ndarray, den: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Σ num / Σ den (%) and its 95 % percentile bootstrap interval, resampling the paired entries (replicates)
    with replacement (:data:`BOOTSTRAP` times, seeded). Resamples whose Σ den ≤ 0 have no ratio and are left out."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    ratio = 100.0 * num.sum() / den.sum() if den.sum() > 0 else np.nan
    if num.size < 2:
        return float(ratio), np.nan, np.nan
    counts = np.random.default_rng(seed).multinomial(num.size, np.full(num.size, 1.0 / num.size), size=BOOTSTRAP)
    n_s, d_s = counts @ num, counts @ den
    boot = 100.0 * n_s[d_s > 0] / d_s[d_s > 0]
    lo, hi = np.percentile(boot, [50 * (1 - LEVEL), 50 * (1 + LEVEL)]) if boot.size else (np.nan, np.nan)
    return float(ratio), float(lo), float(hi)


def captured_share(points: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per scenario × policy (× the columns ``by``, e.g. ``("data.start",)`` for one row per month) × real
    forecaster: Σ saving (kgCO2e) of the policy planned on that forecaster over Σ saving of the same policy on
    perfect foresight (%), over the replicates both ran (ratio of sums), with its bootstrap 95 % interval over
    those replicates, and both sums. Empty when no trial planned on perfect foresight."""
    if "saving_kg" not in points:
        return pd.DataFrame()
    groups = ["scenario", "policy", *by]
    wide = points.pivot_table(index=[*groups, "replicate"], columns="forecaster", values="saving_kg")
    perfect = [c for c in wide.columns if str(c).startswith(PERFECT)]
    if len(perfect) != 1:
        return pd.DataFrame()
    rows = []
    for key, part in wide.groupby(level=groups, sort=True):
        for f in part.columns:
            if f == perfect[0]:
                continue
            both = part[[f, perfect[0]]].dropna()
            if both.empty:
                continue
            ratio, lo, hi = ratio_interval(both[f].to_numpy(), both[perfect[0]].to_numpy())
            rows.append({**dict(zip(groups, key)), "forecaster": f, "n": len(both),
                         "saving_kg": float(both[f].sum()), "perfect_saving_kg": float(both[perfect[0]].sum()),
                         "captured_pct": ratio, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)
