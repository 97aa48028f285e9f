"""A zone no data folder has, or a window outside the data, is a config error (exit 2, nothing recorded) that
names the keys to change — not a FAILED run with "0 training issue days" or "cannot take 336 h"."""
from __future__ import annotations

from pathlib import Path

import mlflow

from carbonshift.experiments.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = str(ROOT / "experiments/configs/quickstart_schedule.yaml")
OWN_ZONE = str(ROOT / "experiments/configs/own_zone.yaml")
SWEEP = str(ROOT / "experiments/configs/quickstart_sweep.yaml")


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_unknown_zone_is_a_config_error(store, capsys):
    assert main(["simulate", SCHEDULE, "--set", "data.zones=[GB, XX-NOWHERE]"]) == 2
    err = _err(capsys)
    assert "data.zones: 'XX-NOWHERE' in 2023 has no data" in err and "Bring your own zone" in err
    mlflow.set_tracking_uri(store.uri)
    assert mlflow.search_runs(search_all_experiments=True).empty   # nothing recorded


def test_schedule_window_outside_the_years_names_start_span_tail_years(store, capsys):
    assert main(["simulate", SCHEDULE, "--set", "data.start=2023-12-20"]) == 2
    err = _err(capsys)
    for key in ("data.start=2023-12-20", "data.span_days=", "data.tail_days=", "data.years=[2023]"):
        assert key in err, err
    assert main(["sweep", SWEEP, "--dry-run", "--set", "data.start=2022-06-01"]) == 2
    assert "data.years=[2023]" in _err(capsys)


def test_backtest_window_outside_the_years_names_windows_and_years(store, capsys):
    assert main(["forecast", "backtest", OWN_ZONE, "--set", "data.regions=[GB]", "--set", "data.years=[2023]"]) == 2
    err = _err(capsys)
    assert "windows.train_end=2024-02-29 is outside the data: data.years=[2023] covers 2023-01-01 → 2023-12-31" in err
    assert "add 2024 to data.years" in err
