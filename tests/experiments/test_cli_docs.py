"""Docs and entry points that must stay true: the licence matches pyproject, every shipped dataset has its
licence in the README, the source papers are cited (not "the seed"), ``make ui`` follows the CLI's store."""
from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_license_file_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert (ROOT / "LICENSE").read_text().splitlines()[0] == f"{declared} License"


def test_every_dataset_of_the_registry_has_a_licence_in_the_readme():
    registry = json.loads((ROOT / "forecast/data/registry.json").read_text())
    text = json.dumps(registry)
    folders = {f for f in ("electricitymaps", "openmeteo", "dacf", "alibaba_gpu_v2023", "letswaitawhile")
               if f"{f}/" in text}
    assert folders, "registry.json lists no dataset folder"
    rows = {line.split("|")[1].strip(" `/"): line.split("|")[-2].strip() for line in README.splitlines()
            if line.startswith("| `") and line.count("|") == 5}
    for folder in folders:
        assert rows.get(folder), f"README data table: no licence for {folder}/"


def test_source_papers_are_cited_in_full():
    section = README[README.index("## Source papers"):README.index("## Notebooks")]
    for needle in ("Haojun Weng and Xiaoying Li", "Renewable-Aware Cooperative Scheduling",
                   "Green Distributed AI Training", "Stefano Salsano", "arXiv:2602.22760"):
        assert needle in section
    assert "the seed" not in README


def _make_ui(tmp_path: Path, **env: str) -> str:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "mlflow").write_text('#!/bin/sh\necho "mlflow $*"\n')
    (fake / "mlflow").chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CARBONSHIFT_RUNS_DIR")}
    out = subprocess.run(["make", "-s", "ui", f"BIN={fake}", *[f"{k}={v}" for k, v in env.items() if k == "PORT"]],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**base, **{k: v for k, v in env.items() if k != "PORT"}})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_ui_honours_the_tracking_uri_and_port(tmp_path):
    assert f"--backend-store-uri sqlite:///{ROOT}/mlruns/mlflow.db --host 127.0.0.1 --port 5000" in _make_ui(tmp_path)
    out = _make_ui(tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/x.db", PORT="5123")
    assert f"--backend-store-uri sqlite:///{tmp_path}/x.db --host 127.0.0.1 --port 5123" in out
    out = _make_ui(tmp_path, CARBONSHIFT_RUNS_DIR=str(tmp_path / "runs"))
    assert f"--backend-store-uri sqlite:///{tmp_path}/runs/mlflow.db" in out
    out = _make_ui(tmp_path, MLFLOW_TRACKING_URI="http://mlflow.example:5000")
    assert "is a tracking server" in out and "mlflow ui" not in out


@pytest.mark.slow   # a real-data paper_main run
def test_readme_python_example_runs_and_returns_dataframes(store, monkeypatch, capsys):
    import re

    import pandas as pd

    monkeypatch.chdir(store.root)          # any folder: the snippet's config path is found from the project root
    monkeypatch.setattr("carbonshift.experiments.runner.REPORTS_DIR", store.root / "reports")
    section = README[README.index("### From Python"):README.index("### Metric glossary")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), scope)
    assert scope["rec"].status == "FINISHED" and isinstance(scope["policies"], pd.DataFrame)
    assert list(scope["policies"]["policy"]) == ["performance_first", "greedy_carbon", "cooperative"]
    assert scope["rec"].report_dir.parent.parent == store.root / "reports"
    assert scope["rec"].run_id in set(scope["runs"]["run_id"])


def _readme_forecaster() -> tuple[str, str, str]:
    """The module, config and shell commands of README 'Your own forecaster'."""
    import re

    section = README[README.index("### Your own forecaster"):README.index("### Your own policy")]
    module = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    config = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    commands = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return module, config, commands


@pytest.fixture
def user_forecaster(tmp_path, monkeypatch):
    """The README's forecaster module and config in ``tmp_path`` (importable, named in CARBONSHIFT_FORECASTERS);
    the registry and ``sys.modules`` are restored afterwards."""
    import sys

    from carbonshift.forecast.models import registry

    module, config, _ = _readme_forecaster()
    (tmp_path / "my_forecasters.py").write_text(module)
    (tmp_path / "my_forecaster.yaml").write_text(config)
    monkeypatch.setattr(registry, "_CLASSES", dict(registry.forecaster_classes()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CARBONSHIFT_FORECASTERS", "my_forecasters")
    yield tmp_path
    sys.modules.pop("my_forecasters", None)


def test_readme_forecaster_runs_through_backtest_ensemble_and_saved_artifact(user_forecaster, shared_data):
    """The README's forecaster needs no other edit: the config parses its section strictly, the backtest runs
    it beside seasonal-naive and weights it into the ensemble, and the trained artifact saves and reloads it."""
    import numpy as np

    from carbonshift.experiments.config import ConfigError, as_dict, load, parse, load_yaml
    from carbonshift.experiments.backtest_config import BacktestConfig
    from carbonshift.experiments.backtest_inputs import load_data, model_factories, pipeline_settings
    from carbonshift.forecast import artifact
    from carbonshift.forecast.backtest import Windows, run_backtest
    from carbonshift.forecast.metrics import score_by

    cfg = load(user_forecaster / "my_forecaster.yaml", BacktestConfig)
    factories = model_factories(cfg)
    assert list(factories) == ["seasonal24", "ridge_lags"] and cfg.models["ridge_lags"].alpha == 10.0
    doc = load_yaml(user_forecaster / "my_forecaster.yaml")
    doc["models"]["ridge_lags"] = {"alpah": 1.0}
    with pytest.raises(ConfigError, match=r"models\.ridge_lags\.alpah: unknown key \(allowed: \['alpha'\]\)"):
        parse(doc, BacktestConfig)
    panel = load_data(cfg, str(shared_data))
    w, b = cfg.windows, cfg.backtest
    windows = Windows.from_strings(w.train_start, w.train_end, w.val_start, w.val_end, w.test_start, w.test_end)
    bt = run_backtest(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories), progress=False)
    test = bt.forecasts[(bt.forecasts["window"] == "test") & (bt.forecasts["horizon_h"] <= b.day_ahead_h)]
    mape = score_by(test, ["model"]).set_index("model")["mape"]
    assert mape["ridge_lags"] < mape["seasonal24"]                    # README: 34.4 % vs 48.8 %
    assert round(mape["ridge_lags"], 1) == 34.4 and round(mape["seasonal24"], 1) == 48.8
    assert set(bt.weights["model"]) == {"seasonal24", "ridge_lags"} and (bt.weights["weight"] > 0).any()
    fitted = artifact.train(panel, "ci_direct", factories, windows, pipeline_settings(cfg, factories),
                            config=as_dict(cfg))
    folder = fitted.save(user_forecaster / "saved")
    manifest = (folder / "members/ridge_lags/model.json").read_text()
    assert '"class": "my_forecasters.RidgeLags"' in manifest and '"alpha": 10.0' in manifest
    issue = fitted.cutoff + pd.Timedelta(days=3)
    again = artifact.load(folder)
    assert type(again.members["ridge_lags"]).__name__ == "RidgeLags"
    np.testing.assert_array_equal(again.predict(panel, issue)["mean"], fitted.predict(panel, issue)["mean"])


@pytest.mark.slow
def test_readme_forecaster_commands_run_end_to_end(user_forecaster, shared_data):
    """README 'Your own forecaster', its shell block verbatim from a folder holding the two files: backtest,
    train, predict, simulate on the predicted table. ``carbonshift`` is this checkout's CLI with the reports
    and the trained model kept in the test's folder."""
    import sys

    _, _, commands = _readme_forecaster()
    folder = user_forecaster
    (folder / "experiments").symlink_to(ROOT / "experiments")
    cli = f'PYTHONPATH="{ROOT}:$PYTHONPATH" "{sys.executable}" -m carbonshift.experiments.cli "$@"'
    shim = (f'carbonshift() {{ case "$1 $2" in\n'
            f'  "forecast backtest"|simulate*) {cli} --reports-dir reports ;;\n'
            f'  "forecast train") {cli} --out trained ;;\n'
            f'  *) {cli} ;; esac; }}\n'
            f'python() {{ "{sys.executable}" "$@"; }}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CARBONSHIFT_FORECASTERS")}
    env.update(CARBONSHIFT_DATA_DIR=str(shared_data), CARBONSHIFT_RUNS_DIR=str(folder / "runs"))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", shim + commands], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(folder / "gb_march.csv")
    assert len(table) == 14 * 48 and table["model"].iloc[0].startswith("ensemble(ridge_lags ")
    assert sorted(p.name for p in (folder / "trained/forecaster/data/forecaster/members").iterdir()) == \
        ["ridge_lags", "seasonal24"]
    assert "my_forecaster_schedule" in proc.stdout and "cooperative" in proc.stdout
