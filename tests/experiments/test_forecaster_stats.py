"""Statistics of the forecaster sweep (experiments.forecaster_stats): intervals over replicates, paired differences
with Holm-corrected significance, rank correlation, and the ratio-of-sums share of the perfect-foresight saving."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments import forecaster_stats as fv

PERFECT = "perfect foresight (actual intensities)"


def _points(n: int = 20, seed: int = 0) -> pd.DataFrame:
    """One scenario, one policy, ``n`` replicates: seasonal24 reduces 10 % ± noise; ``same`` = seasonal24 + zero-mean
    noise; ``better`` = seasonal24 + 2 pp + small noise; perfect foresight 15 %. Savings 10 kg per pp."""
    rng = np.random.default_rng(seed)
    base = 10 + rng.normal(0, 3, n)
    red = {"seasonal24+cqr": base, "same+cqr": base + rng.normal(0, 0.5, n),
           "better+cqr": base + 2 + rng.normal(0, 0.5, n), PERFECT: base + 5}
    mape = {"seasonal24+cqr": 20.0, "same+cqr": 19.0, "better+cqr": 10.0, PERFECT: 0.0}
    rows = [{"scenario": "timing only", "policy": "cooperative", "forecaster": f, "replicate": f"seed={i}",
             "mape_pct": mape[f], "reduction_vs_perf_first": r[i], "saving_kg": 10 * r[i]}
            for f, r in red.items() for i in range(n)]
    return pd.DataFrame(rows)


def test_replicates_pool_seeds_and_months_but_not_scenarios():
    frame = pd.DataFrame({"seed": [0, 1, 0], "data.start": ["2023-01-01", "2023-01-01", "2023-04-01"],
                          "datacenters.residency": [True, False, True]})
    ids = fv.replicate_id(frame, ["datacenters.residency", "data.start", "seed"])
    assert list(ids) == ["data.start=2023-01-01 seed=0", "data.start=2023-01-01 seed=1",
                         "data.start=2023-04-01 seed=0"]
    assert (fv.replicate_id(frame, ["datacenters.residency"]) == "all").all()


def test_interval_table_gives_the_t_interval_of_each_mean():
    points = _points(n=8)
    table = fv.interval_table(points).set_index("forecaster")
    r = points[points["forecaster"] == "better+cqr"]["reduction_vs_perf_first"]
    assert table.loc["better+cqr", "n"] == 8
    assert table.loc["better+cqr", "reduction_vs_perf_first_mean"] == pytest.approx(r.mean())
    assert table.loc["better+cqr", "reduction_vs_perf_first_ci95"] == pytest.approx(2.3646 * r.std() / np.sqrt(8),
                                                                                    rel=1e-4)
    assert table.loc["better+cqr", "mape_pct_ci95"] == pytest.approx(0.0)


def test_holm_adjusts_in_rank_order_and_keeps_monotone():
    assert fv.holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    out = fv.holm(np.array([0.5, np.nan, 0.001]))
    assert out[0] == pytest.approx(0.5) and np.isnan(out[1]) and out[2] == pytest.approx(0.002)


def test_paired_differences_find_the_real_gain_and_not_the_noise():
    diffs = fv.paired_differences(_points(), ["seasonal24+cqr"]).set_index("forecaster")
    assert set(diffs.index) == {"same+cqr", "better+cqr", PERFECT}
    better, same = diffs.loc["better+cqr"], diffs.loc["same+cqr"]
    assert better["n"] == 20 and better["ci_low"] < 2.0 < better["ci_high"] and better["significant"]
    assert same["ci_low"] < 0 < same["ci_high"] and not same["significant"]
    assert diffs.loc[PERFECT, "diff_mean"] == pytest.approx(5.0) and diffs.loc[PERFECT, "p"] == 0.0
    assert (diffs["p_holm"] >= diffs["p"]).all()
    # pairing matters: the replicate-to-replicate spread (σ 3) would hide the 2 pp gain in an unpaired test
    unpaired = fv.interval_table(_points()).set_index("forecaster")["reduction_vs_perf_first_ci95"]
    assert unpaired["better+cqr"] > better["ci_high"] - better["diff_mean"]
    assert fv.paired_differences(_points(), ["ensemble(x)+cqr"]).empty         # absent reference: skipped


def test_rank_correlation_leaves_perfect_foresight_out():
    table = fv.interval_table(_points())
    rc = fv.rank_correlation(table).iloc[0]
    assert rc["n_forecasters"] == 3                                  # seasonal24, same, better
    assert rc["spearman_rho"] == pytest.approx(-1.0) and rc["p"] < 1e-6   # lower MAPE, larger reduction


def test_captured_share_is_a_ratio_of_sums_with_a_bootstrap_interval():
    ratio, lo, hi = fv.ratio_interval(np.array([1.0, 9.0]), np.array([10.0, 10.0]))
    assert ratio == pytest.approx(50.0)                              # mean of ratios would also be 50: next case
    assert fv.ratio_interval(np.array([1.0, 9.0]), np.array([2.0, 18.0]))[0] == pytest.approx(50.0)
    assert fv.ratio_interval(np.array([0.0, 9.0]), np.array([1.0, 9.0]))[0] == pytest.approx(90.0)   # not 50
    assert 5.0 <= lo <= ratio <= hi <= 90.0
    assert np.isnan(fv.ratio_interval(np.array([1.0]), np.array([2.0]))[1])
    cap = fv.captured_share(_points()).set_index("forecaster")
    pts = _points()
    sums = pts.groupby("forecaster")["saving_kg"].sum()
    assert cap.loc["better+cqr", "captured_pct"] == pytest.approx(100 * sums["better+cqr"] / sums[PERFECT])
    assert cap.loc["better+cqr", "ci_low"] < cap.loc["better+cqr", "captured_pct"] < cap.loc["better+cqr", "ci_high"]
    assert PERFECT not in cap.index and (cap["n"] == 20).all()
    assert fv.captured_share(pts[pts["forecaster"] != PERFECT]).empty   # no perfect-foresight trials: nothing
