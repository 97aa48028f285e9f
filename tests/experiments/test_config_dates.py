"""An impossible date quoted in a config file is a ConfigError at parse time naming the file and the key — for
``carbonshift run`` and for ``carbonshift sweep --dry-run`` — not an error when the run reaches it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from carbonshift.experiments.config import ConfigError, check_date_text
from carbonshift.experiments.config_doc import parse_doc, read_doc
from carbonshift.experiments.sweep import plan

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "experiments" / "configs"


def _bad_copy(tmp_path: Path, config: str, section: str, key: str, value: str) -> Path:
    doc = yaml.safe_load((CONFIGS / config).read_text())
    doc[section][key] = value          # safe_dump quotes it: '2023-02-30' stays a string in the file
    path = tmp_path / f"bad_{config}"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert f"{key}: '{value}'" in path.read_text()
    return path


@pytest.mark.parametrize("value", ["2023-03-01", "2023-03-01T23:00Z", "2024-03-20 23:00:00+00:00", "gbm+cqr", "reports/x.csv"])
def test_valid_dates_and_other_text_pass(value):
    check_date_text(value, "k")


@pytest.mark.parametrize("value", ["2023-02-30", "2023-13-01", "2023-3-32", "2023-03-01T25:00", "2023-02-29"])
def test_impossible_dates_are_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"^data\.start: .* is not a valid date"):
        check_date_text(value, "data.start")


@pytest.mark.parametrize("config,section,key", [("quickstart_schedule.yaml", "data", "start"),
                                                 ("quickstart_forecast.yaml", "windows", "test_end"),
                                                 ("quickstart_forecast.yaml", "windows", "train_start")])
def test_quoted_impossible_date_in_a_file_fails_at_parse_time(tmp_path, config, section, key):
    path = _bad_copy(tmp_path, config, section, key, "2023-02-30")
    doc, source = read_doc(path)
    with pytest.raises(ConfigError) as err:
        parse_doc(doc, source)
    assert str(err.value).startswith(f"{path.name}: {section}.{key}: '2023-02-30' is not a valid date")


def test_sweep_plan_refuses_it_before_any_trial_runs(tmp_path):
    path = _bad_copy(tmp_path, "quickstart_sweep.yaml", "data", "start", "2023-02-30")
    with pytest.raises(ConfigError, match=rf"{path.name}: data\.start: '2023-02-30' is not a valid date"):
        plan(path)


@pytest.mark.slow   # a CLI subprocess; in-process twin: test_cli_errors
def test_cli_dry_run_is_a_clean_error(tmp_path):
    path = _bad_copy(tmp_path, "quickstart_sweep.yaml", "data", "start", "2023-02-30")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cmd = [sys.executable, "-m", "carbonshift.experiments.cli", "sweep", str(path), "--dry-run"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{path.name}: data.start: '2023-02-30' is not a valid date" in done.stderr
    assert "Traceback" not in done.stderr
