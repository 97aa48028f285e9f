"""The forecaster sweep: the interval-coverage metric, the perfect-foresight label, the MAPE → reduction curve
(labels, 95 % intervals over seeds × months as error bars, replicates in the caption) and the shipped configs
(parse, trial count)."""
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import load
from carbonshift.experiments.figures import policy_colour
from carbonshift.experiments.forecaster_curve import (FORECAST_FREE, curve_table, forecaster_name, forecaster_report,
                                                      short_name, trial_points)
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.forecast_sections import cpu_sized
from carbonshift.experiments.sweep import plan
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.forecast.palette import forecaster_colour
from carbonshift.scheduler.signals import (FALLBACK_LABEL, CarbonSignal, ForecastSignal, controlled_error,
                                           forecast_accuracy, forecast_coverage)

ROOT = Path(__file__).resolve().parents[2]


def _carbon(T: int = 48, R: int = 2, seed: int = 0) -> CarbonSignal:
    rng = np.random.default_rng(seed)
    ci = 200 + 50 * rng.random((R, T))
    return CarbonSignal(ci, np.full((R, T), 30.0), pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC"),
                        [f"R{r}" for r in range(R)])


def _signal(carbon: CarbonSignal, lo: np.ndarray, hi: np.ndarray, issue_h: np.ndarray) -> ForecastSignal:
    """Quantiles linear from ``lo`` (q0.05) to ``hi`` (q0.95) per cell; mean in the middle."""
    w = np.linspace(0, 1, len(QUANTILE_LEVELS))
    q = lo[..., None] + (hi - lo)[..., None] * w
    return ForecastSignal(issue_h, (lo + hi) / 2, q, "test")


def test_coverage_counts_the_cells_whose_actual_lies_in_the_90_interval():
    carbon = _carbon()
    issue_h = np.array([-2, 10])        # the first issue's horizons 0–1 target hours before the experiment
    H = 8
    target = issue_h[:, None] + np.arange(H)[None, :]
    a = carbon.ci[:, np.clip(target, 0, carbon.n_hours - 1)].transpose(1, 0, 2)   # [I × R × H]
    miss = np.zeros(a.shape, bool)
    miss[1, :, :3] = True                # 6 in-experiment cells whose interval lies above the actual
    lo = np.where(miss, a + 1.0, a - 5.0)
    hi = np.where(miss, a + 9.0, a + 5.0)
    pre = np.broadcast_to((target < 0)[:, None, :], a.shape)
    lo, hi = np.where(pre, a + 1.0, lo), np.where(pre, a + 2.0, hi)   # out-of-experiment misses do not count
    lo[0, 1, 7] = hi[0, 1, 7] = np.nan   # an uncovered cell does not count either
    fc = _signal(carbon, lo, hi, issue_h)
    scored = 2 * 2 * H - 2 * 2 - 1       # cells in the experiment with a forecast
    assert forecast_coverage(fc, carbon) == pytest.approx(100.0 * (scored - 6) / scored)
    assert forecast_coverage(fc, carbon, 0.25, 0.75) == pytest.approx(100.0 * (scored - 6) / scored)
    with pytest.raises(ValueError, match="quantile levels"):
        forecast_coverage(fc, carbon, 0.05, 0.93)


def test_coverage_of_gaussian_controlled_error_is_its_nominal_90_percent():
    carbon = _carbon(T=24 * 60, R=3, seed=1)
    fc = controlled_error(carbon, "gaussian", k=0.1, seed=3)
    assert forecast_coverage(fc, carbon) == pytest.approx(90.0, abs=1.5)
    median = QUANTILE_LEVELS.index(0.5)
    narrow = ForecastSignal(fc.issue_h, fc.mean, fc.q[..., [median] * len(QUANTILE_LEVELS)], fc.label)  # no spread
    assert forecast_coverage(narrow, carbon) < 5.0


def test_perfect_foresight_is_labelled_so_and_scores_mape_0_coverage_100():
    carbon = _carbon()
    fc = controlled_error(carbon, "perfect")
    assert fc.label == "perfect foresight (actual intensities)"
    assert forecast_accuracy(fc, carbon) == pytest.approx(100.0) and forecast_coverage(fc, carbon) == 100.0
    assert forecaster_name(f"{fc.handoff_label}, measured accuracy 100.0 %") == fc.label
    assert short_name(fc.label) == "perfect foresight"


def test_forecaster_names_come_from_the_table_label():
    label = f"lstm (CPU-sized)+cqr forecast table forecast_lstm.csv + {FALLBACK_LABEL}"
    assert forecaster_name(label + ", measured accuracy 71.2 %, 90 % interval coverage 80.1 %") == "lstm (CPU-sized)+cqr"
    ens = "ensemble(gbm 0.40, lstm (CPU-sized) 0.35, prophet 0.25)+cqr"
    assert forecaster_name(f"{ens} forecast table forecast_ensemble.csv + {FALLBACK_LABEL}") == ens
    assert short_name(ens) == "ensemble of 3+cqr"
    assert forecaster_name(f"forecast table mine.csv + {FALLBACK_LABEL}") == "mine.csv"


FORECASTERS = {"perfect foresight (actual intensities)": 0.0, "gbm+cqr": 12.0, "seasonal24+cqr": 30.0}
POLICIES = ("performance_first", "greedy_carbon", "cooperative", "risk_aware")
MONTHS = ("2023-01-01", "2023-07-01")
KEYS = ["datacenters.residency", "forecast.source", "data.start", "seed"]


def _runs_frame():
    """2 scenarios × 3 forecasters × 2 months × 3 seeds; reduction = base + p − 0.1 × MAPE + seed + 2 × month
    (%), oracle share = 100 − MAPE; carbon = 1000 kg for performance-first, 1000 − 10 × reduction for the others."""
    rows, labels = [], {}
    for residency in ("False", "True"):
        for f, (name, m) in enumerate(FORECASTERS.items()):
            for k, month in enumerate(MONTHS):
                for seed in range(3):
                    run = f"{residency}{f}{k}{seed}"
                    labels[run] = f"{name} forecast table x.parquet + {FALLBACK_LABEL}" if "cqr" in name else \
                        f"{name} + {FALLBACK_LABEL}"
                    base = {"run_id": run, "datacenters.residency": residency, "forecast.source": "table",
                            "data.start": month, "seed": seed}
                    rows += [{**base, "policy": "", "metric": "forecast_mape_pct", "value": m + 0.1 * seed},
                             {**base, "policy": "", "metric": "forecast_coverage90_pct", "value": 100 - m},
                             {**base, "policy": "oracle", "metric": "reduction_vs_perf_first", "value": 9.0}]
                    for p, policy in enumerate(POLICIES):
                        red = 0.0 if p == 0 else (5.0 if residency == "False" else 2.0) + p - 0.1 * m + seed + 2 * k
                        rows += [{**base, "policy": policy, "metric": "reduction_vs_perf_first", "value": red},
                                 {**base, "policy": policy, "metric": "oracle_share", "value": 100 - m},
                                 {**base, "policy": policy, "metric": "carbon_kg", "value": 1000 - 10 * red}]
    return pd.DataFrame(rows), labels


def test_curve_table_pools_seeds_and_months_into_intervals_per_scenario_forecaster_and_policy():
    frame, labels = _runs_frame()
    points = trial_points(frame, labels, KEYS)
    assert points["replicate"].nunique() == 6                       # 2 months × 3 seeds, not scenarios
    table = curve_table(points)
    assert set(table["scenario"]) == {"region + time", "timing only (data residency)"}
    assert set(table["policy"]) == {"cooperative", "risk_aware"}          # forecast-driven only, no oracle row
    assert not set(table["policy"]) & set(FORECAST_FREE)
    assert set(table["forecaster"]) == set(FORECASTERS) and (table["n"] == 6).all()
    row = table[(table["scenario"] == "region + time") & (table["forecaster"] == "gbm+cqr")
                & (table["policy"] == "cooperative")].iloc[0]
    assert row["mape_pct_mean"] == pytest.approx(12.1) and row["coverage90_pct_mean"] == pytest.approx(88.0)
    red = np.array([5.0 + 2 - 1.2 + seed + 2 * k for k in range(2) for seed in range(3)])
    assert row["reduction_vs_perf_first_mean"] == pytest.approx(red.mean())
    assert row["reduction_vs_perf_first_std"] == pytest.approx(red.std(ddof=1))
    assert row["reduction_vs_perf_first_ci95"] == pytest.approx(2.5706 * red.std(ddof=1) / np.sqrt(6), rel=1e-4)
    assert row["saving_kg_mean"] == pytest.approx(10 * red.mean())      # performance-first's carbon − the policy's
    assert row["oracle_share_mean"] == pytest.approx(88.0) and row["oracle_share_ci95"] == pytest.approx(0.0)


def test_curve_falls_back_to_accuracy_and_drops_unlabelled_runs():
    frame, labels = _runs_frame()
    frame = frame.assign(metric=frame["metric"].replace({"forecast_mape_pct": "forecast_accuracy_pct"}))
    frame.loc[frame["metric"] == "forecast_accuracy_pct", "value"] = 100 - frame["value"]
    labels.pop("False000")
    points = trial_points(frame, labels, ["datacenters.residency", "seed"])
    assert points.attrs["dropped_runs"] == 1
    gbm = curve_table(points)
    gbm = gbm[(gbm["forecaster"] == "gbm+cqr") & (gbm["policy"] == "cooperative")]
    assert gbm["mape_pct_mean"].to_numpy() == pytest.approx([12.1, 12.1])
    with pytest.raises(ValueError, match="neither"):
        trial_points(frame[frame["metric"] != "forecast_accuracy_pct"], labels, ["seed"])


def test_forecaster_report_tables_and_figure_draw_the_95_intervals():
    from matplotlib.container import ErrorbarContainer

    frame, labels = _runs_frame()
    tables, fig = forecaster_report(frame, labels, KEYS)
    assert set(tables) == {"forecaster_curve", "forecaster_differences", "forecaster_rank_correlation",
                           "forecaster_captured_share", "forecaster_captured_share_by_month"}
    by_month = tables["forecaster_captured_share_by_month"]
    assert set(by_month["data.start"]) == set(MONTHS) and (by_month["n"] == 3).all()     # 3 seeds per month
    diffs = tables["forecaster_differences"].set_index(["scenario", "policy", "reference", "forecaster"])
    assert set(diffs.index.get_level_values("reference")) == {"seasonal24+cqr"}        # no ensemble in this sweep
    gbm = diffs.loc[("region + time", "cooperative", "seasonal24+cqr", "gbm+cqr")]
    assert gbm["n"] == 6 and gbm["diff_mean"] == pytest.approx(0.1 * (30 - 12)) and gbm["significant"]
    cap = tables["forecaster_captured_share"]
    gbm = cap[(cap["forecaster"] == "gbm+cqr") & (cap["policy"] == "cooperative")
              & (cap["scenario"] == "region + time")].iloc[0]
    assert gbm["n"] == 6 and gbm["ci_low"] <= gbm["captured_pct"] <= gbm["ci_high"]
    assert "95 % interval over 6 replicates (seeds × months)" in fig._suptitle.get_text()
    axes = fig.axes
    assert len(axes) == 8                          # 2 scenarios × (reduction, oracle share, captured share, coverage)
    texts = [t.get_text() for t in axes[0].texts]
    assert texts == ["1", "2", "3"]               # short numbered labels at the MAPE lines; the key is the coverage panel
    bars = [c for c in axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert {c.get_label() for c in bars} == {"cooperative", "risk_aware"}
    for c in bars:                                # the policy palette, as in every other figure
        assert matplotlib.colors.same_color(c.lines[0].get_color(), policy_colour(c.get_label()))
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert "perfect foresight (MAPE 0)" in legend   # the star is drawn: perfect foresight's points
    star = matplotlib.markers.MarkerStyle("*").get_path().vertices.shape
    stars = [col for col in axes[0].collections if col.get_offsets().size and col.get_paths()[0].vertices.shape == star]
    assert len(stars) == 2 and all(col.get_offsets()[0, 0] < 1 for col in stars)   # one per policy, near MAPE 0
    curve = tables["forecaster_curve"]
    half = curve[(curve["scenario"] == "region + time") & (curve["policy"] == bars[0].get_label())]
    ys = bars[0].lines[2][1].get_segments()                          # y error bars: ± the 95 % t half-width
    assert sorted(s[1, 1] - s[0, 1] for s in ys) == pytest.approx(sorted(2 * half["reduction_vs_perf_first_ci95"]))
    capbars = [c for c in axes[2].containers if isinstance(c, ErrorbarContainer)]
    assert "perfect-foresight saving" in axes[2].get_ylabel() and len(capbars) == 2
    assert [line.get_ydata()[0] for line in axes[2].lines if line.get_linestyle() == "--"] == [100]
    assert "region + time" in axes[0].get_title() and "MAPE" in axes[0].get_xlabel()
    assert "coverage" in axes[3].get_xlabel() and [t.get_text() for t in axes[3].get_yticklabels()] == \
        ["1  perfect foresight", "2  gbm+cqr", "3  seasonal24+cqr"]
    assert [matplotlib.colors.to_hex(p.get_facecolor()) for p in axes[3].patches] == \
        [forecaster_colour(f) for f in ("perfect foresight", "gbm+cqr", "seasonal24+cqr")]
    no_perfect = {r: v for r, v in labels.items() if "perfect" not in v}
    _, fig2 = forecaster_report(frame[frame["run_id"].isin(no_perfect)], no_perfect, KEYS)
    assert "perfect foresight (MAPE 0)" not in [t.get_text() for t in fig2.axes[0].get_legend().get_texts()]
    one = {r: v for r, v in labels.items() if "gbm" in v}
    assert forecaster_report(frame[frame["run_id"].isin(one)], one, ["seed"]) is None   # one forecaster: no curve


def test_sweep_forecasters_config_parses_into_320_paired_trials():
    sp = plan(ROOT / "experiments/configs/sweep_forecasters.yaml")
    trials = [t.label for t in sp.trials]
    assert len(trials) == 2 * 8 * 4 * 5
    assert sum("forecast.error_model=perfect" in t for t in trials) == 40
    for member in ("persistence", "seasonal24", "prophet", "lstm", "tft", "gbm", "ensemble"):
        path = f"reports/forecast_members/latest/forecast_{member}.parquet"
        assert sum(path in t for t in trials) == 40, member
    for month in ("2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01"):
        assert sum(f"data.start={month}" in t for t in trials) == 80
    assert sum("datacenters.residency=true" in t for t in trials) == 160
    first = trials[:16]                     # month → seed → scenario → forecast: the first 16 are one whole replicate
    assert all("data.start=2023-01-01" in t and " seed=0 " in f" {t} " for t in first)
    assert sum("forecast.error_model=perfect" in t for t in first) == 2
    cfg = sp.trials[0].config
    assert cfg.forecast.horizon_h == 168 and {"cooperative", "chance_constrained"} <= set(cfg.policies)


def test_forecast_members_config_covers_2023_at_168_h_in_parquet():
    cfg = load(ROOT / "experiments/configs/forecast_members.yaml", BacktestConfig)
    assert cfg.output.member_tables and cfg.output.table_format == "parquet"
    assert cpu_sized(cfg.models) == {"lstm": "lstm (CPU-sized)", "tft": "tft (CPU-sized)"}
    assert cfg.backtest.horizon_h == 168
    assert cfg.windows.test_start <= "2023-01-01" and cfg.windows.test_end >= "2023-11-21"   # Oct + 51 days
    assert {"US-CAL-CISO", "DE", "GB"} <= set(cfg.data.regions)


def test_close_forecaster_labels_are_staggered():
    from carbonshift.experiments.forecaster_curve import label_heights

    assert label_heights(pd.Series([0.0, 20.0, 20.5, 21.0, 40.0])) == [0.99, 0.99, 0.93, 0.87, 0.99]


def test_a_parquet_forecast_table_reaches_the_policies_as_written(tmp_path):
    from carbonshift.experiments.instances import ForecastSection, forecast_signal
    from carbonshift.forecast.backtest_tables import write_table
    from carbonshift.forecast.data.schema import QUANTILE_COLUMNS

    carbon = _carbon(T=72)
    issues = carbon.times[[0, 24]] - pd.Timedelta(hours=1)
    h = np.arange(1, 49)
    rows = pd.DataFrame([{"region": r, "issue_time": i, "time": i + pd.Timedelta(hours=int(k)), "horizon_h": int(k)}
                         for r in carbon.regions for i in issues for k in h])
    rows["mean"] = 100.0 + rows["horizon_h"] + 1000.0 * (rows["region"] == "R1")
    for j, c in enumerate(QUANTILE_COLUMNS):
        rows[c] = rows["mean"] - 30 + 10 * j
    rows["model"] = "gbm+cqr"
    path = write_table(rows, tmp_path / "forecast_gbm.parquet")
    assert pd.read_parquet(path)["issue_time"].dt.tz is not None           # tz-aware UTC kept, no date parsing
    fc = forecast_signal(ForecastSection(source="table", table_path=str(path)), carbon, 12, 0)
    assert "gbm+cqr forecast table forecast_gbm.parquet" in fc.label
    assert list(fc.issue_h) == [-1, 23]
    assert fc.mean[1, 1, 5] == pytest.approx(1105.0) and fc.mean[0, 0, 48] == pytest.approx(148.0)
