"""Kind ``tune``: Ray Tune (ASHA) over LSTM/TFT settings on the validation window only; trials as MLflow child
runs; best settings as best_params.json that a backtest loads with ``models.<model>.params_from``."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import ConfigError, parse


def _doc(**extra) -> dict:
    doc = {"kind": "tune", "name": "tune_tiny", "data": {"source": "dacf", "regions": ["CISO"]},
           "windows": {"train_start": "2020-10-01", "train_end": "2020-12-31", "val_start": "2021-01-01",
                       "val_end": "2021-01-10"},
           "horizon_h": 24, "models": {"lstm": {"encoder_h": 48, "stride_h": 12, "max_epochs": 2}},
           "search": {"lstm": {"hidden": [4, 8], "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}},
           "num_samples": 2, "trainer": {"accelerator": "cpu"}}
    doc.update(extra)
    return doc


@pytest.mark.parametrize("search, words", [
    ({"gbm": {"max_iter": [10]}}, "search.gbm: unknown model"),
    ({"lstm": {"hiddn": [4]}}, "search.lstm.hiddn: not a setting"),
    ({"lstm": {"hidden": []}}, "search.lstm.hidden: expected a non-empty list of integers"),
    ({"lstm": {"hidden": [4.5]}}, "search.lstm.hidden: expected a non-empty list of integers"),
    ({"lstm": {"dropout": {"low": 0.3, "high": 0.1}}}, "low < high"),
    ({"lstm": {"learning_rate": {"low": 0, "high": 0.1, "log": True}}}, "low > 0 for a log scale"),
    ({"tft": {"attention_heads": {"lo": 1, "hi": 4}}}, "expected a list of values or"),
])
def test_bad_search_spaces_are_config_errors(search, words):
    from carbonshift.experiments.kinds.tune import TuneConfig

    with pytest.raises(ConfigError, match=words):
        parse(_doc(search=search), TuneConfig)


def test_search_space_domains_and_bad_windows():
    from ray.tune.search.sample import Categorical, Float, Integer

    from carbonshift.experiments.forecast_sections import LSTMSection
    from carbonshift.experiments.kinds.tune import TuneConfig
    from carbonshift.experiments.search_space import search_space

    space = search_space(LSTMSection, {"hidden": [8, 16], "dropout": {"low": 0.0, "high": 0.3},
                                       "layers": {"low": 1, "high": 3}})
    assert isinstance(space["hidden"], Categorical) and isinstance(space["dropout"], Float)
    assert isinstance(space["layers"], Integer) and space["layers"].upper == 4    # high inclusive
    bad = _doc(windows={"train_end": "2021-01-05", "val_start": "2021-01-01", "val_end": "2021-01-10"})
    with pytest.raises(ConfigError, match="windows: must be ordered"):
        parse(bad, TuneConfig)


def test_trials_see_no_hour_after_the_validation_window(dacf_slice):
    from carbonshift.forecast.validation_window import Objective, cut_validation

    data, w = cut_validation(dacf_slice, Objective("ci_direct", 23, 24, 24), **_doc()["windows"])
    end = pd.Timestamp("2021-01-11", tz="UTC")
    assert w.end == end and w.fit_until == pd.Timestamp("2020-12-31 23:00", tz="UTC")
    assert len(w.issues) == 10
    after = data[data["time"] >= end]
    assert len(after) == 24 * 2 and after.drop(columns=["region", "time"]).isna().all().all()  # padding only
    assert data["time"].min() == pd.Timestamp("2020-10-01", tz="UTC")


def test_validation_mape_per_region():
    from carbonshift.forecast.validation_window import validation_mape

    t = pd.date_range("2021-01-01", periods=4, freq="h", tz="UTC")
    panel = pd.DataFrame({"region": ["A"] * 4 + ["B"] * 4, "time": list(t) * 2,
                          "ci_direct": [100.0, 200.0, 100.0, 100.0, 50.0, 50.0, 50.0, 50.0]})
    fc = pd.DataFrame({"region": ["A", "A", "A", "B", "B"], "time": [t[0], t[1], t[3], t[0], t[1]],
                       "horizon_h": [1, 2, 30, 1, 2], "mean": [110.0, 100.0, 0.0, 40.0, 60.0]})
    scores = validation_mape(fc, panel, "ci_direct", 24, t[3])
    assert scores == pytest.approx({"A": 30.0, "B": 20.0})   # A: (10 % + 50 %) / 2; horizon 30 and t[3] excluded


@pytest.mark.slow   # ~60 s: starts Ray, two LSTM trials
def test_two_trial_tune_logs_children_and_backtest_loads_best(tmp_path):
    import mlflow

    from carbonshift.experiments.kinds.backtest import BacktestConfig
    from carbonshift.experiments.runner import run_config

    rec = run_config(_doc(), reports_dir=tmp_path, progress=False)
    assert rec.status == "FINISHED", rec.error
    trials = rec.tables["trials"]
    assert len(trials) == 2 and set(trials["status"]) <= {"completed", "stopped_early"}
    assert list(trials["settings"]) == ["configured", "sampled"] and trials["hidden"].iloc[0] == 64
    done = trials[trials["status"] == "completed"]
    assert len(done) >= 1 and (done["epochs"] >= 1).all()
    best = json.loads((rec.report_dir / "best_params.json").read_text())
    winner = done.loc[done["val_mape"].idxmin()]
    assert best["lstm"]["hidden"] == winner["hidden"]
    assert best["lstm"]["learning_rate"] == pytest.approx(winner["learning_rate"])
    assert rec.metrics["val_mape.lstm.best"] == pytest.approx(done["val_mape"].min())
    assert np.isfinite(done["val_mape.CISO"]).all()
    val = rec.tables["validation_mape"].set_index("model")
    assert val.loc["seasonal24", "CISO"] > 0 and rec.metrics["val_mape.seasonal24.CISO"] == val.loc["seasonal24", "CISO"]
    assert val.loc["lstm (tuned best)", "CISO"] == pytest.approx(done["val_mape"].min())

    children = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("tune_tiny").experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{rec.run_id}'")
    assert len(children) == 2
    assert {c.data.tags["carbonshift.tune_status"] for c in children} == set(trials["status"])
    assert all("val_loss" in c.data.metrics and c.data.params["model"] == "lstm" for c in children)

    doc = {"kind": "backtest", "name": "t", "data": {"source": "dacf", "regions": ["CISO"]},
           "windows": {"train_end": "2020-12-31", "val_start": "2021-01-01", "val_end": "2021-01-31",
                       "test_start": "2021-02-01", "test_end": "2021-02-28"},
           "models": {"lstm": {"hidden": 64, "patience": 7,
                               "params_from": str(rec.report_dir / "best_params.json")}}}
    cfg = parse(doc, BacktestConfig)
    assert cfg.models["lstm"].hidden == winner["hidden"] and cfg.models["lstm"].encoder_h == 48
    assert cfg.models["lstm"].patience == 3    # every tuned setting replaces the configured one


def test_params_from_errors_name_the_file(tmp_path):
    from carbonshift.experiments.kinds.backtest import BacktestConfig

    path = tmp_path / "best.json"
    doc = {"kind": "backtest", "name": "t", "data": {"source": "dacf", "regions": ["CISO"]},
           "windows": {"train_end": "2020-12-31", "val_start": "2021-01-01", "val_end": "2021-01-31",
                       "test_start": "2021-02-01", "test_end": "2021-02-28"},
           "models": {"tft": {"params_from": str(path)}}}
    with pytest.raises(ConfigError, match="models.tft.params_from: .*best.json not found"):
        parse(doc, BacktestConfig)
    path.write_text(json.dumps({"lstm": {"hidden": 8}}))
    with pytest.raises(ConfigError, match="has no settings for 'tft'"):
        parse(doc, BacktestConfig)
    path.write_text(json.dumps({"tft": {"hidden": 8.5}}))
    with pytest.raises(ConfigError, match=r"models.tft.params_from: .*best.json: hidden: expected an integer, got 8.5"):
        parse(doc, BacktestConfig)
    path.write_text(json.dumps({"tft": {"target_normalizer": "robust"}}))   # a choice, checked like the YAML's
    with pytest.raises(ConfigError, match=r"target_normalizer: expected one of \['group', 'encoder'\]"):
        parse(doc, BacktestConfig)
    path.write_text(json.dumps({"tft": {"heads": 2}}))
    with pytest.raises(ConfigError, match="tft.heads is not a tft setting"):
        parse(doc, BacktestConfig)
    path.write_text(json.dumps({"tft": {"hidden": 24, "dropout": 0, "target_normalizer": "encoder", "input_clip": 4}}))
    cfg = parse(doc, BacktestConfig)
    assert (cfg.models["tft"].hidden, cfg.models["tft"].dropout) == (24, 0.0)
    assert (cfg.models["tft"].target_normalizer, cfg.models["tft"].input_clip) == ("encoder", 4.0)


def test_shipped_tune_and_bench_configs_parse():
    from carbonshift.experiments.config_doc import parse_doc, read_doc

    kind, cfg = parse_doc(*read_doc("experiments/configs/forecast_tune.yaml"))
    assert kind.name == "tune" and set(cfg.search) == {"lstm", "tft"} and cfg.include_configured
    dacf = parse_doc(*read_doc("experiments/configs/forecast_dacf.yaml"))[1]
    for model in ("lstm", "tft"):   # trial 0 is forecast_dacf's hand-sized member
        assert cfg.base(model) == {k: v for k, v in dataclasses.asdict(dacf.models[model]).items()
                                   if k != "params_from"}
    kind, bench = parse_doc(*read_doc("experiments/configs/tft_gpu_bench.yaml"))
    assert kind.name == "gpu_bench" and bench.trainer.accelerator == "auto" and bench.epochs >= 2


def test_best_settings_skip_models_without_a_completed_trial():
    from carbonshift.experiments.kinds.tune import SECTIONS, TuneConfig
    from carbonshift.experiments.tune_trials import best_settings

    cfg = parse(_doc(search={"lstm": {"hidden": [4, 8]}, "tft": {"hidden": [8, 16]}}), TuneConfig)
    trials = pd.DataFrame({"model": ["lstm", "lstm", "tft"], "status": ["completed", "completed", "stopped_early"],
                           "hidden": [4.0, 8.0, np.nan], "val_mape": [12.0, 9.5, np.nan], "error": ["", "", ""]})

    def best_of(trials):
        return best_settings(trials, bases={m: cfg.base(m) for m in cfg.search}, sections=SECTIONS,
                             search=cfg.search, meta={"objective": "o", "target": "ci_direct"})

    best = best_of(trials)   # integer settings come back as int after NaN-filled float columns
    assert best["lstm"]["hidden"] == 8 and type(best["lstm"]["hidden"]) is int
    assert best["lstm"]["encoder_h"] == 48 and best["meta"]["lstm_val_mape"] == 9.5
    assert "tft" not in best and "stopped_early" in best["meta"]["not_tuned"]["tft"]
    assert list(best["meta"]) == ["objective", "target", "not_tuned", "lstm_val_mape"]   # best_params.json order
    with pytest.raises(ValueError, match="no trial completed"):
        best_of(trials.assign(status="error", error="RuntimeError: boom"))


def test_trial_rows_keep_epoch_losses_and_say_how_each_trial_ended():
    from types import SimpleNamespace

    from carbonshift.experiments.forecast_sections import LSTMSection
    from carbonshift.experiments.tune_search import ModelSearch, trial_row

    search = ModelSearch("lstm", LSTMSection, {"hidden": 64, "max_epochs": 2}, {"hidden": [4, 64]})
    configured = [{"hidden": 64}]
    epochs = pd.DataFrame({"val_loss": [0.5, 0.4, 0.4], "val_mape": [np.nan, np.nan, 9.0]})   # last: final report
    done = SimpleNamespace(metrics_dataframe=epochs, error=None, config={"hidden": 64},
                           metrics={"val_loss": 0.4, "val_mape": 9.0, "val_mape.CISO": 9.0})
    row = trial_row(0, done, search, configured)
    assert (row["status"], row["settings"], row["epochs"], row["val_mape"]) == ("completed", "configured", 2, 9.0)
    assert row["val_loss_history"] == [0.5, 0.4] and row["val_mape.CISO"] == 9.0 and row["hidden"] == 64
    stopped = SimpleNamespace(metrics_dataframe=epochs.iloc[:1], error=None, config={"hidden": 4},
                              metrics={"val_loss": 0.5})
    row = trial_row(1, stopped, search, configured)
    assert (row["status"], row["settings"], row["epochs"]) == ("stopped_early", "sampled", 1)
    assert np.isnan(row["val_mape"]) and "val_mape.CISO" not in row
    failed = SimpleNamespace(metrics_dataframe=None, error=RuntimeError("boom"), config={"hidden": 4},
                             metrics={"val_mape": 1.0})
    row = trial_row(2, failed, search, configured)
    assert (row["status"], row["epochs"], row["error"]) == ("error", 0, "RuntimeError: boom")
    assert np.isnan(row["val_loss"]) and np.isnan(row["val_mape"])


def test_validation_table_and_metrics_come_from_the_best_completed_trial():
    from carbonshift.experiments.search_space import max_epochs_of
    from carbonshift.experiments.tune_trials import trial_metrics, validation_table

    trials = pd.DataFrame({"model": ["lstm"] * 3, "status": ["completed", "completed", "stopped_early"],
                           "settings": ["configured", "sampled", "sampled"], "val_mape": [12.0, 9.0, np.nan],
                           "val_mape.A": [10.0, 8.0, np.nan], "val_mape.B": [14.0, 10.0, np.nan]})
    table = validation_table(trials, {"A": 20.0, "B": 30.0}).set_index("model")
    assert list(table.index) == ["seasonal24", "lstm (configured)", "lstm (tuned best)"]
    assert table.loc["lstm (tuned best)", ["A", "B", "mean"]].tolist() == [8.0, 10.0, 9.0]
    best = {"lstm": {}, "meta": {"lstm_val_mape": 9.0}}
    metrics = trial_metrics(trials, best, ["lstm", "tft"], ["A", "B"])
    assert metrics == {"trials.lstm.completed": 2.0, "trials.lstm.stopped_early": 1.0, "trials.lstm.error": 0.0,
                       "val_mape.lstm.best": 9.0, "val_mape.lstm.A": 8.0, "val_mape.lstm.B": 10.0,
                       "trials.tft.completed": 0.0, "trials.tft.stopped_early": 0.0, "trials.tft.error": 0.0}
    # ASHA's max_t: the largest max_epochs a trial may train (searched or configured) + the final report
    assert max_epochs_of({"max_epochs": 3}, {"max_epochs": [2, 7]}) == 7
    assert max_epochs_of({"max_epochs": 3}, {"max_epochs": {"low": 2, "high": 5}}) == 5
    assert max_epochs_of({"max_epochs": 3}, {"hidden": [4]}) == 3


def test_score_fits_before_the_window_and_scores_its_day_ahead_hours(dacf_slice):
    from carbonshift.forecast.models.naive import NaiveForecaster
    from carbonshift.forecast.validation_window import (Objective, cut_validation, seasonal_naive_scores,
                                                        validation_mape)

    objective = Objective("ci_direct", 23, 48, 12)
    data, w = cut_validation(dacf_slice, objective, train_start=None, train_end="2020-12-31",
                             val_start="2021-01-01", val_end="2021-01-10")
    naive = NaiveForecaster("seasonal24", 23, 48).fit(dacf_slice, "ci_direct", until=w.fit_until)
    forecast = naive.predict(dacf_slice, w.issues, 48)
    expected = validation_mape(forecast, dacf_slice, "ci_direct", 12, w.end)
    assert seasonal_naive_scores(data, w, objective) == pytest.approx(expected) and set(expected) == {"CISO", "SE"}
    assert validation_mape(forecast, dacf_slice, "ci_direct", 48, w.end) != pytest.approx(expected)
