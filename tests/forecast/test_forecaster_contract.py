"""The forecaster contract: the base class's template predict, capability flags, hyperparameters declared once
(constructor, config section, config reference), the registry with CARBONSHIFT_FORECASTERS plug-ins, and
per-model save/load with library version checks."""
from __future__ import annotations

import dataclasses
import json
import sys
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import ConfigError, parse
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import model_factories
from carbonshift.experiments.forecast_sections import LSTMSection, model_sections
from carbonshift.forecast.models import registry
from carbonshift.forecast.models.base import Forecaster, forecast_frame, load_forecaster
from carbonshift.forecast.models.gbm import GBMForecaster, GBMParams
from carbonshift.forecast.models.lstm import LSTMParams
from carbonshift.forecast.models.naive import NaiveForecaster

DOC = {"kind": "backtest", "name": "x", "data": {"source": "dacf", "regions": ["CISO"]},
       "windows": {"train_end": "2021-04-30", "val_start": "2021-05-01", "val_end": "2021-05-31",
                   "test_start": "2021-06-01", "test_end": "2021-06-07"}}


class Flat(Forecaster):
    """Test double: forecasts ``level`` everywhere; ``rows`` drops rows, ``nan`` writes a NaN (broken outputs)."""

    @dataclasses.dataclass
    class Params:
        level: float = 100.0
        rows: int = 0
        nan: bool = False

    def _fit(self, panel, target, until):
        self.fitted_until = until

    def _predict(self, history, issues, horizon):
        h = np.arange(1, horizon + 1)
        frames = []
        for region in sorted(set(history["region"])):
            mean = np.full((len(issues), horizon), self.params.level)
            q = mean[:, :, None] + np.linspace(-10, 10, 7)[None, None, :]
            frames.append(forecast_frame(region, issues, h, mean, q))
        out = pd.concat(frames, ignore_index=True)
        if self.params.nan:
            out.loc[0, "mean"] = np.nan
        return out.iloc[self.params.rows:]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """A private copy of the registry, ``tmp_path`` importable, plug-in modules forgotten afterwards."""
    monkeypatch.setattr(registry, "_CLASSES", dict(registry.forecaster_classes()))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cs_user_"):
            del sys.modules[name]


def test_builtins_are_registered_in_order_with_their_capabilities():
    classes = registry.forecaster_classes()
    assert list(classes)[:5] == ["naive", "gbm", "prophet", "lstm", "tft"]
    caps = {n: classes[n].capabilities for n in ("naive", "gbm", "prophet", "lstm", "tft")}
    assert not any(dataclasses.astuple(caps["naive"])) and classes["naive"].baseline
    assert caps["gbm"].past_covariates and caps["gbm"].quantiles and not caps["gbm"].gpu
    assert caps["prophet"].future_covariates and not caps["prophet"].quantiles
    assert all(caps[n].gpu and caps[n].global_model for n in ("lstm", "tft"))
    assert classes["tft"].requires == ("torch", "lightning", "pytorch-forecasting")
    assert set(classes["prophet"].library_versions()) == {"numpy", "pandas", "prophet"}


def test_template_predict_checks_what_every_model_repeated(dacf_slice, windows):
    until, issues = windows
    with pytest.raises(RuntimeError, match="fit before predict"):
        Flat().predict(dacf_slice, issues, 24)
    m = Flat(horizon=24).fit(dacf_slice, "ci_direct", until)
    assert m.trained_regions == ["CISO", "SE"] and m.fitted_until == until
    assert len(m.predict(dacf_slice, issues[0], 24)) == 2 * 24          # one Timestamp → one issue
    with pytest.raises(ValueError, match="fitted for horizons ≤ 24, asked 48"):
        m.predict(dacf_slice, issues, 48)
    with pytest.raises(ValueError, match="tz-aware"):
        m.predict(dacf_slice, issues.tz_localize(None), 24)
    other = dacf_slice.assign(region=dacf_slice["region"].replace({"SE": "DE"}))
    with pytest.raises(ValueError, match="region 'DE' was not in the training panel"):
        m.predict(other, issues, 24)
    with pytest.raises(ValueError, match="non-finite"):
        Flat(horizon=24, nan=True).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    with pytest.raises(ValueError, match=r"rows, expected 2 regions × 8 issues × 24 horizons"):
        Flat(horizon=24, rows=3).fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    with pytest.raises(ValueError, match="target 'nope' is not a panel column"):
        Flat().fit(dacf_slice, "nope", until)


def test_hyperparameters_are_declared_once_for_constructor_config_and_reference():
    from carbonshift.experiments.registry import config_reference

    sections = model_sections()
    assert sections["gbm"] is GBMParams and issubclass(sections["lstm"], LSTMParams)
    assert [f.name for f in dataclasses.fields(LSTMSection)] == [*(f.name for f in dataclasses.fields(LSTMParams)),
                                                                 "params_from"]
    assert GBMForecaster(max_iter=7).params == GBMParams(max_iter=7)
    with pytest.raises(TypeError, match=r"unknown hyperparameter\(s\) \['max_iters'\]"):
        GBMForecaster(max_iters=7)
    cfg = parse({**DOC, "models": {"gbm": {"max_iter": 7}, "naive": None}}, BacktestConfig)
    assert list(cfg.models) == ["gbm"]
    built = model_factories(cfg)["gbm"]()
    assert built.params.max_iter == 7 and built.seed == cfg.seed and built.horizon == cfg.backtest.horizon_h
    with pytest.raises(ConfigError, match=r"models\.gbm\.max_iters: unknown key"):
        parse({**DOC, "models": {"gbm": {"max_iters": 7}}}, BacktestConfig)
    with pytest.raises(ConfigError, match=r"models\.gbm\.level: expected one of"):
        parse({**DOC, "models": {"gbm": {"level": "ratio"}}}, BacktestConfig)
    with pytest.raises(ConfigError, match=r"models\.lstm: lstm: input_clip must be > 0"):
        parse({**DOC, "models": {"lstm": {"input_clip": -1.0}}}, BacktestConfig)
    with pytest.raises(ConfigError, match=r"models\.nope: unknown key .*CARBONSHIFT_FORECASTERS"):
        parse({**DOC, "models": {"nope": {}}}, BacktestConfig)
    with pytest.raises(ConfigError, match="configure at least one model"):
        parse({**DOC, "models": {"naive": None}}, BacktestConfig)
    reference = config_reference()
    assert "| `models.gbm.max_iter` | int | `300` |" in reference
    assert "| `models.lstm.input_clip` | float or None | `None` |  | bound standardised known covariates" in reference


PLUGIN = '''
import dataclasses

from carbonshift.forecast.data.schema import QUANTILE_COLUMNS
from carbonshift.forecast.models.base import Capabilities, Forecaster
from carbonshift.forecast.models.naive import NaiveForecaster
from carbonshift.forecast.models.registry import register_forecaster


@dataclasses.dataclass
class DoubleParams:
    factor: float = 2.0   # times seasonal-naive


@register_forecaster("doubled")
class Doubled(Forecaster):
    Params = DoubleParams
    capabilities = Capabilities(future_covariates=True)

    def _fit(self, panel, target, until):
        self.inner = NaiveForecaster("seasonal24", self.issue_hour, self.horizon).fit(panel, target, until)

    def _predict(self, history, issues, horizon):
        out = self.inner.predict(history, issues, horizon)
        cols = ["mean", *QUANTILE_COLUMNS]
        out[cols] = out[cols] * self.params.factor
        return out
'''


def test_plugin_forecaster_from_the_environment_variable(isolated, monkeypatch, dacf_slice, windows):
    (isolated / "cs_user_forecasters.py").write_text(PLUGIN)
    monkeypatch.setenv("CARBONSHIFT_FORECASTERS", "cs_user_forecasters")
    cfg = parse({**DOC, "backtest": {"oracle_weather": True},
                 "models": {"naive": {"kinds": ["seasonal24"]}, "doubled": {"factor": 3.0}}}, BacktestConfig)
    factories = model_factories(cfg)
    assert list(factories) == ["seasonal24", "doubled"]
    assert factories["doubled"].context["oracle_weather"] and "oracle_weather" not in factories["seasonal24"].context
    until, issues = windows
    base = factories["seasonal24"]().fit(dacf_slice, "ci_direct", until).predict(dacf_slice, issues, 24)
    mine = registry.forecaster_class("doubled")(horizon=24, factor=3.0).fit(dacf_slice, "ci_direct", until)
    np.testing.assert_allclose(mine.predict(dacf_slice, issues, 24)["mean"], 3.0 * base["mean"])
    with pytest.raises(ConfigError, match=r"models\.doubled\.factr: unknown key \(allowed: \['factor'\]\)"):
        parse({**DOC, "models": {"doubled": {"factr": 3.0}}}, BacktestConfig)
    with pytest.raises(ValueError, match="already registered by cs_user_forecasters.Doubled"):
        registry.register_forecaster("doubled")(type("Other", (Flat,), {}))


def test_broken_plugin_module_reports_its_import_error(isolated, monkeypatch):
    (isolated / "cs_user_broken_fc.py").write_text("import no_such_dependency_for_carbonshift_tests\n")
    monkeypatch.setenv("CARBONSHIFT_FORECASTERS", "cs_user_broken_fc")
    with pytest.raises(ConfigError, match=r"models: CARBONSHIFT_FORECASTERS: forecaster module 'cs_user_broken_fc' "
                                          r"failed to import \(ModuleNotFoundError") as info:
        parse({**DOC, "models": {"gbm": {}}}, BacktestConfig)
    assert "unknown" not in str(info.value)


def test_each_model_saves_itself_and_loading_checks_its_libraries(dacf_slice, windows, tmp_path):
    until, issues = windows
    gbm = GBMForecaster(horizon=24, max_iter=10).fit(dacf_slice, "ci_direct", until)
    manifest = gbm.save(tmp_path / "gbm")
    assert manifest["class"] == "carbonshift.forecast.models.gbm.GBMForecaster" and manifest["params"]["max_iter"] == 10
    assert manifest["libraries"] == {lib: metadata.version(lib) for lib in ("numpy", "pandas", "scikit-learn")}
    again = load_forecaster(tmp_path / "gbm")
    pd.testing.assert_frame_equal(again.predict(dacf_slice, issues, 24), gbm.predict(dacf_slice, issues, 24))
    doc = json.loads((tmp_path / "gbm/model.json").read_text())
    doc["libraries"]["scikit-learn"] = "0.0.1"
    (tmp_path / "gbm/model.json").write_text(json.dumps(doc))
    here = metadata.version("scikit-learn")
    with pytest.raises(ValueError, match=rf"scikit-learn 0\.0\.1 \(saved\) vs {here} \(here\)"):
        load_forecaster(tmp_path / "gbm")
    doc["libraries"]["scikit-learn"], doc["class"] = here, "cs_gone_module.Gone"
    (tmp_path / "gbm/model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="cs_gone_module.Gone cannot be imported"):
        load_forecaster(tmp_path / "gbm")
    with pytest.raises(RuntimeError, match="fit before save"):
        NaiveForecaster("persistence").save(tmp_path / "unfitted")


def test_ensemble_members_must_be_configured_members():
    cfg = parse({**DOC, "backtest": {"ensemble_members": ["seasonal24", "gbm"]},
                 "models": {"naive": {"kinds": ["seasonal24"]}, "gbm": {}}}, BacktestConfig)
    assert list(model_factories(cfg)) == ["seasonal24", "gbm"]
    with pytest.raises(ConfigError, match=r"backtest\.ensemble_members: \['seasonal168'\] are not members of the "
                                          r"configured models \(\['seasonal24', 'gbm'\]\)"):
        parse({**DOC, "backtest": {"ensemble_members": ["seasonal168", "gbm"]},
               "models": {"naive": {"kinds": ["seasonal24"]}, "gbm": {}}}, BacktestConfig)
