"""Members that do not rot: a refit schedule per member (``backtest.refit_every_days``, defaulting to the model
class's), applied the same way by the backtest and by a trained forecaster's predict; members the ensemble
weighting zeroes are reported with the reason."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import ConfigError, as_dict
from carbonshift.experiments.backtest_inputs import model_factories, pipeline_settings
from carbonshift.experiments.config_doc import parse_doc, read_doc
from carbonshift.forecast import artifact
from carbonshift.forecast.backtest import Windows, refit_origins, run_backtest
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.registry import REPO_ROOT
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, RollingEnsemble, dropped_summary
from carbonshift.forecast.models.naive import NaiveForecaster
from carbonshift.forecast.models.prophet import ProphetForecaster
from test_own_data_backtest import make_user_zone

CONFIG = REPO_ROOT / "experiments/configs/own_zone.yaml"


def _cfg(**overrides):  # noqa: ANN202
    doc, _ = read_doc(CONFIG, overrides)
    return parse_doc(doc, "own_zone")[1]


def test_refit_origins_step_from_the_first_issue():
    first = pd.Timestamp("2024-03-14 23:00", tz="UTC")
    issues = pd.date_range(first, periods=8, freq="D")
    every3 = refit_origins(first, issues, 3)
    assert list((every3 - first).days) == [0, 0, 0, 3, 3, 3, 6, 6]
    assert (every3 <= issues).all()
    assert (refit_origins(first, issues, 0) == first).all()


def test_schedule_defaults_to_the_class_and_bad_keys_fail_at_parse_time():
    cfg = _cfg()
    settings = pipeline_settings(cfg, model_factories(cfg))
    assert settings.refit_days("gbm", model_factories(cfg)["gbm"].cls) == 91       # the class defaults
    assert settings.refit_days("seasonal24", model_factories(cfg)["seasonal24"].cls) == 0
    assert settings.refit_days("prophet", ProphetForecaster) == 28
    cfg = _cfg(**{"backtest.refit_every_days": {"gbm": 3}})
    factories = model_factories(cfg)
    assert pipeline_settings(cfg, factories).refit_days("gbm", factories["gbm"].cls) == 3
    with pytest.raises(ConfigError, match=r"backtest.refit_every_days.*\['prophet'\] are not members"):
        _cfg(**{"backtest.refit_every_days": {"prophet": 3}})
    with pytest.raises(ConfigError, match=r"backtest.refit_every_days.gbm: must be ≥ 0"):
        _cfg(**{"backtest.refit_every_days": {"gbm": -1}})


@pytest.fixture(scope="module")
def own_zone(shared_data, tmp_path_factory) -> tuple[pd.DataFrame, Windows]:
    data_dir = make_user_zone(shared_data, tmp_path_factory.mktemp("mydata"))
    panel = load_panel(["CA-ON"], [2024], weather=False, data_dir=data_dir)
    w = _cfg().windows
    return panel, Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)


@pytest.mark.slow
def test_backtest_and_trained_predict_refit_on_the_same_schedule(own_zone, tmp_path):
    panel, windows = own_zone
    cfg = _cfg(**{"backtest.refit_every_days": {"gbm": 4}})
    factories = model_factories(cfg)
    settings = pipeline_settings(cfg, factories)
    bt = run_backtest(panel, "ci_direct", factories, windows, settings, progress=False)
    fits = bt.timings[bt.timings["step"] != "validation"]
    gbm = fits[fits["model"] == "gbm"]
    assert len(gbm) == 4 and (gbm["refit_every_days"] == 4).all()          # 14 test days: origins 0, 4, 8, 12
    assert list(pd.DatetimeIndex(gbm["origin"]).strftime("%m-%d")) == ["03-14", "03-18", "03-22", "03-26"]
    assert len(fits[fits["model"] == "seasonal24"]) == 1
    once = run_backtest(panel, "ci_direct", factories, windows, pipeline_settings(_cfg(), factories), progress=False)
    late = pd.Timestamp("2024-03-25 23:00", tz="UTC")                      # served by the 03-22 refit
    member = lambda b: b.forecasts[(b.forecasts["model"] == "gbm") & (b.forecasts["issue_time"] == late)]  # noqa: E731
    assert not np.allclose(member(bt)["mean"], member(once)["mean"])       # the refit changed the forecast
    fitted = artifact.train(panel, "ci_direct", factories, windows, settings, config=as_dict(cfg))
    fitted = artifact.load(fitted.save(tmp_path / "art"))
    assert fitted.refit_every_days == {"seasonal24": 0, "gbm": 4}
    assert bt.timings.loc[bt.timings["model"] == "gbm", "refit_every_days"].eq(4).all()
    ens = bt.forecasts[(bt.forecasts["model"] == "ensemble") & (bt.forecasts["window"] == "test")]
    for issue in (fitted.cutoff + pd.Timedelta(days=5), late):
        ours = fitted.predict(panel, issue)
        theirs = ens[ens["issue_time"] == issue].sort_values("time")
        np.testing.assert_allclose(ours[["mean", "q0.05", "q0.95"]].to_numpy(),
                                   theirs[["mean", "q0.05", "q0.95"]].to_numpy(), rtol=1e-12, err_msg=str(issue))


def _members(panel: pd.DataFrame, windows: Windows) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """seasonal24's validation forecasts on the real slice, and the same forecasts 30 % too high (a bad member)."""
    issues = pd.date_range(windows.val_start - pd.Timedelta(hours=1), windows.val_end, freq="D")
    good = NaiveForecaster("seasonal24", horizon=48).fit(panel, "ci_direct", issues[0]).predict(panel, issues, 48)
    bad = good.copy()
    bad[["mean", *[c for c in bad.columns if c.startswith("q")]]] *= 1.3
    return {"seasonal24": good, "high": bad}, panel.set_index(["region", "time"])["ci_direct"]


def test_a_zeroed_member_is_reported_with_its_reason(own_zone):
    panel, windows = own_zone
    tables, actual = _members(panel, windows)
    static = ErrorWeightedEnsemble([24, 48], prune=1.5).fit(tables, actual)
    cells = static.dropped()
    high = cells[cells["model"] == "high"]
    assert (high["dropped_share"] == 1).all() and (high["loss_ratio"] > 1.5).all()
    assert high["reason"].str.contains(r"validation MAE .* > prune 1.5 × best member's").all()
    assert (cells.loc[cells["model"] == "seasonal24", "reason"] == "").all()
    rolling = RollingEnsemble([24, 48], window_days=3, prune=1.5)
    rolling.combine(tables, actual)
    summary = dropped_summary(rolling.dropped()).set_index("model")
    assert 0.5 < summary.loc["high", "dropped_share"] < 1      # equal weights at the first issues (no errors yet)
    assert "MAPE over the last 3 d > prune 1.5" in summary.loc["high", "reason"]
    assert summary.loc["seasonal24", "dropped_share"] == 0 and summary.loc["seasonal24", "reason"] == ""


def test_the_kind_reports_dropped_members_in_tables_metrics_summary_and_log(own_zone, caplog):
    from carbonshift.experiments.backtest_results import report_dropped
    from carbonshift.experiments.registry import Result

    panel, windows = own_zone
    tables, actual = _members(panel, windows)
    res = Result()
    with caplog.at_level("INFO"):
        report_dropped(res, ErrorWeightedEnsemble([24, 48]).fit(tables, actual).dropped(), "ci_direct", "",
                       {"high": "high (CPU-sized)"})
    assert res.metrics["dropped_share.ci_direct.high"] == 1 and res.metrics["dropped_share.ci_direct.seasonal24"] == 0
    assert set(res.tables["ensemble_dropped"]["model"]) == {"high (CPU-sized)"}
    assert res.summary["ensemble_dropped"][0].startswith("ci_direct high (CPU-sized): weight 0 in 100% of 2 region")
    assert any(r.levelname == "WARNING" and "ensemble member dropped: ci_direct high" in r.getMessage()
               for r in caplog.records)
