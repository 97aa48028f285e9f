"""The migration kind with surplus windows: energy inside perfect-foresight and forecast windows per policy."""
import numpy as np
import pytest

from carbonshift.experiments.config import ConfigError, load, parse
from carbonshift.experiments.kinds.migration import MigrationConfig
from carbonshift.experiments.registry import Context, get
from carbonshift.forecast.data.panel import load_panel
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.migration_grid import energy_in_windows
from carbonshift.scheduler.policies.migration import MigrationOptions, simulate_migration
from carbonshift.scheduler.signals import CarbonSignal, controlled_error

ZONES = ["US-CAL-CISO", "GB", "DE"]
TINY = {"kind": "migration", "name": "tiny", "seed": 2,
        "data": {"zones": ZONES, "years": [2023], "start": "2023-03-01", "span_days": 3, "tail_days": 5},
        "workload": {"n_jobs": 30}, "datacenters": {"wan_gbps": [10.0]}, "stay_fractions": [0.0],
        "feasibility": {"points": 3},
        "windows": {"column": "renewable_pct", "mode": "percentile", "enter": 80.0, "hysteresis": 10.0,
                    "min_hours": 3},
        "forecast_windows": {"model": "seasonal24", "val_days": 14, "trailing_days": 21}}


def test_migration_kind_reports_energy_inside_both_window_kinds(tmp_path):
    result = get("migration").run(parse(TINY, MigrationConfig), Context(seed=2, out_dir=tmp_path))
    table = result.tables["policies"]
    for col in ("energy_in_pf_windows_pct", "energy_in_forecast_windows_pct"):
        assert ((table[col] > 0) & (table[col] < 100)).all()
    assert set(result.tables["forecast_windows_pr"]["region"]) == set(ZONES)
    assert all(f"windows.recall_pct.{z}" in result.metrics for z in ZONES)
    assert result.summary["pf_windows"].startswith("perfect-foresight windows")
    assert result.summary["forecast_windows"].startswith("forecast windows (seasonal24+cqr")


def test_energy_in_windows_is_all_or_nothing_for_full_and_empty_masks():
    panel = load_panel(ZONES, [2023], weather=False)
    carbon = CarbonSignal.from_panel(panel, ZONES, "2023-03-01", 24 * 8, "ci_direct")
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=48, issue_every_h=24, seed=0)
    jobs = generate(GeneratorSpec(n_jobs=20, span_h=72), len(ZONES), seed=0)
    dcs = DataCenters.uniform(ZONES)
    opts = MigrationOptions()
    ref = simulate_migration(jobs, carbon, fc, dcs, "energy", opts, seed=0)
    full = np.ones(carbon.ci.shape, dtype=bool)
    assert energy_in_windows(jobs, carbon, fc, dcs, "energy", opts, full, 0, ref.carbon_kg) == pytest.approx(100.0)
    assert energy_in_windows(jobs, carbon, fc, dcs, "energy", opts, ~full, 0, ref.carbon_kg) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="changed carbon"):
        energy_in_windows(jobs, carbon, fc, dcs, "energy", opts, full, 0, ref.carbon_kg + 1.0)


def test_configs():
    cfg = load("experiments/configs/migration_forecast.yaml", MigrationConfig)
    assert cfg.windows is not None and cfg.forecast_windows is not None and cfg.data.years == [2022, 2023]
    with pytest.raises(ConfigError, match="forecast_windows"):
        parse({**TINY, "windows": None}, MigrationConfig)
