"""The forecaster sweep: the interval-coverage metric, the perfect-foresight label, the MAPE → reduction curve
(labels, error bars over seeds, seeds in the caption) and the shipped configs (parse, trial count)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import load
from carbonshift.experiments.forecaster_curve import (FORECAST_FREE, curve_figure, curve_table, forecaster_name,
                                                      forecaster_report, short_name)
from carbonshift.experiments.kinds.backtest import BacktestConfig, cpu_sized
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
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


FORECASTERS = {"perfect foresight (actual intensities)": 0.0, "gbm+cqr": 12.0, "persistence+cqr": 30.0}
POLICIES = ("performance_first", "greedy_carbon", "cooperative", "risk_aware")


def _runs_frame():
    """2 scenarios × 3 forecasters × 3 seeds; reduction = base − 0.1 × MAPE + seed; oracle share = 100 − MAPE."""
    rows, labels = [], {}
    for residency in ("False", "True"):
        for f, (name, m) in enumerate(FORECASTERS.items()):
            for seed in range(3):
                run = f"{residency}{f}{seed}"
                labels[run] = f"{name} forecast table x.csv + {FALLBACK_LABEL}" if "cqr" in name else \
                    f"{name} + {FALLBACK_LABEL}"
                base = {"run_id": run, "datacenters.residency": residency, "forecast.source": "table", "seed": seed}
                rows += [{**base, "policy": "", "metric": "forecast_mape_pct", "value": m + 0.1 * seed},
                         {**base, "policy": "", "metric": "forecast_coverage90_pct", "value": 100 - m},
                         {**base, "policy": "oracle", "metric": "reduction_vs_perf_first", "value": 9.0}]
                for p, policy in enumerate(POLICIES):
                    red = (5.0 if residency == "False" else 2.0) + p - 0.1 * m + seed
                    rows += [{**base, "policy": policy, "metric": "reduction_vs_perf_first", "value": red},
                             {**base, "policy": policy, "metric": "oracle_share", "value": 100 - m}]
    return pd.DataFrame(rows), labels


def test_curve_table_means_and_stds_over_seeds_per_scenario_forecaster_and_policy():
    frame, labels = _runs_frame()
    table = curve_table(frame, labels, ["datacenters.residency", "forecast.source", "seed"])
    assert set(table["scenario"]) == {"region + time", "timing only (data residency)"}
    assert set(table["policy"]) == {"cooperative", "risk_aware"}          # forecast-driven only, no oracle row
    assert not set(table["policy"]) & set(FORECAST_FREE)
    assert set(table["forecaster"]) == set(FORECASTERS) and (table["n_seeds"] == 3).all()
    row = table[(table["scenario"] == "region + time") & (table["forecaster"] == "gbm+cqr")
                & (table["policy"] == "cooperative")].iloc[0]
    assert row["mape_pct_mean"] == pytest.approx(12.1) and row["coverage90_pct_mean"] == pytest.approx(88.0)
    assert row["reduction_vs_perf_first_mean"] == pytest.approx(5.0 + 2 - 1.2 + 1.0)
    assert row["reduction_vs_perf_first_std"] == pytest.approx(1.0)         # seeds 0, 1, 2
    assert row["oracle_share_mean"] == pytest.approx(88.0) and row["oracle_share_std"] == pytest.approx(0.0)


def test_curve_falls_back_to_accuracy_and_drops_unlabelled_runs():
    frame, labels = _runs_frame()
    frame = frame.assign(metric=frame["metric"].replace({"forecast_mape_pct": "forecast_accuracy_pct"}))
    frame.loc[frame["metric"] == "forecast_accuracy_pct", "value"] = 100 - frame["value"]
    labels.pop("False00")
    table = curve_table(frame, labels, ["datacenters.residency", "seed"])
    assert table.attrs["dropped_runs"] == 1
    gbm = table[(table["forecaster"] == "gbm+cqr") & (table["policy"] == "cooperative")]
    assert gbm["mape_pct_mean"].to_numpy() == pytest.approx([12.1, 12.1])
    with pytest.raises(ValueError, match="neither"):
        curve_table(frame[frame["metric"] != "forecast_accuracy_pct"], labels, ["seed"])


def test_curve_figure_labels_forecasters_draws_error_bars_and_names_the_seeds():
    from matplotlib.container import ErrorbarContainer

    frame, labels = _runs_frame()
    table, fig = forecaster_report(frame, labels, ["datacenters.residency", "forecast.source", "seed"])
    assert "mean ± std over 3 seeds" in fig._suptitle.get_text()
    axes = fig.axes
    assert len(axes) == 6                                           # 2 scenarios × (reduction, oracle share, coverage)
    texts = {t.get_text() for ax in axes for t in ax.texts}
    assert {"perfect foresight", "gbm+cqr", "persistence+cqr"} <= texts
    bars = [c for c in axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert {c.get_label() for c in bars} == {"cooperative", "risk_aware"}
    ys = bars[0].lines[2][1].get_segments()                          # y error bars: ± std over seeds = ± 1
    assert [s[1, 1] - s[0, 1] for s in ys] == pytest.approx([2.0] * 3)
    assert "region + time" in axes[0].get_title() and "MAPE" in axes[0].get_xlabel()
    assert "coverage" in axes[2].get_xlabel() and [t.get_text() for t in axes[2].get_yticklabels()] == \
        ["perfect foresight", "gbm+cqr", "persistence+cqr"]
    one = {r: v for r, v in labels.items() if "gbm" in v}
    assert forecaster_report(frame[frame["run_id"].isin(one)], one, ["seed"]) is None   # one forecaster: no curve


def test_sweep_forecasters_config_parses_into_48_trials(tmp_path):
    out = subprocess.run([sys.executable, "-m", "carbonshift.experiments.cli", "sweep",
                          "experiments/configs/sweep_forecasters.yaml", "--dry-run", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"})
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    trials = [t["trial"] for t in doc["trials"]]
    assert doc["n_trials"] == len(trials) == 2 * 8 * 3
    assert sum("forecast.error_model=perfect" in t for t in trials) == 6
    for member in ("persistence", "seasonal24", "prophet", "lstm", "tft", "gbm", "ensemble"):
        path = f"reports/forecast_members/latest/forecast_{member}.csv"
        assert sum(path in t for t in trials) == 6, member
    assert sum("datacenters.residency=true" in t for t in trials) == 24


def test_forecast_members_config_writes_cpu_sized_member_tables():
    cfg = load(ROOT / "experiments/configs/forecast_members.yaml", BacktestConfig)
    assert cfg.output.member_tables
    assert cfg.backtest.ensemble_members == ["persistence", "seasonal24", "prophet", "lstm", "tft", "gbm"]
    assert cpu_sized(cfg) == {"lstm": "lstm (CPU-sized)", "tft": "tft (CPU-sized)"}
    assert cfg.windows.test_start == "2023-03-01" and cfg.windows.test_end == "2023-04-21"


def test_close_forecaster_labels_are_staggered():
    from carbonshift.experiments.forecaster_curve import label_heights

    assert label_heights(pd.Series([0.0, 20.0, 20.5, 21.0, 40.0])) == [1.0, 1.0, 0.78, 0.56, 1.0]
