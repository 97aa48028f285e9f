"""Shared config sections are declared once (experiments.instances, scheduler.feasibility.MoveTiming) and every
kind that uses one refuses a bad value at parse time with the real dotted key, through its shipped config."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from carbonshift.experiments import registry
from carbonshift.experiments.cli import main
from carbonshift.experiments.instances import (DatacenterSection, DataSection, ErrorForecastSection, ForecastSection,
                                               GeneratedJobs, GpuJobs, SiteEnergy, WanSites, WorkloadSection, ZoneData)
from carbonshift.experiments.kind_lookup import import_plugins
from carbonshift.scheduler.feasibility import MoveParams, MoveTiming
from carbonshift.scheduler.generators import GeneratorSpec
from carbonshift.scheduler.policies.migration import MigrationOptions

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


def section(kind: str, key: str) -> type:
    import_plugins()
    return typing.get_type_hints(registry.get(kind).config_cls)[key]


@pytest.mark.parametrize("kind, key, base", [
    ("simulate", "data", DataSection), ("migration", "data", DataSection), ("topology", "data", ZoneData),
    ("curtailment_training", "data", ZoneData),
    ("simulate", "forecast", ForecastSection), ("migration", "forecast", ErrorForecastSection),
    ("simulate", "workload", WorkloadSection), ("migration", "workload", GpuJobs), ("scaling", "workload", GeneratedJobs),
    ("simulate", "datacenters", DatacenterSection), ("migration", "datacenters", SiteEnergy),
    ("topology", "datacenters", WanSites), ("migration", "migration", MoveTiming),
])
def test_every_kind_extends_the_one_shared_section(kind, key, base):
    cls = section(kind, key)
    assert issubclass(cls, base)
    # along the way from the shared base to the kind's section, a field is declared again only to change its
    # default (an explicit override in the kind), never copied
    for klass in (c for c in cls.__mro__ if dataclasses.is_dataclass(c)):
        parent = next((p for p in klass.__mro__[1:] if dataclasses.is_dataclass(p)), None)
        if parent is None:
            continue
        inherited = {f.name for f in dataclasses.fields(parent)}
        for name in set(klass.__dict__.get("__annotations__", {})) & inherited:
            assert getattr(klass(), name) != getattr(parent(), name), f"{klass.__name__}.{name} copies {parent.__name__}'s"


def test_defaults_a_kind_overrides_are_explicit_and_the_rest_come_from_the_library():
    assert GeneratedJobs().n_jobs == GeneratorSpec.n_jobs and GpuJobs().gpu_kw == GeneratorSpec.gpu_kw
    assert section("scaling", "workload")().n_jobs == 500
    assert section("migration", "forecast")().horizon_h == 48 and ForecastSection().horizon_h == 168
    assert section("curtailment_training", "data")().zones == ["DE", "GB", "US-CAL-CISO"]
    assert MigrationOptions().timing() == MoveParams().timing() == MoveTiming().timing()


def test_the_feasibility_grid_uses_the_migration_models_move_timing():
    from carbonshift.experiments.kinds.migration import FeasibilitySection, feasibility_grid

    grid = feasibility_grid(FeasibilitySection(points=2), 0.06, MigrationOptions(link_efficiency=0.5, startup_h=0.2))
    assert (grid.params.link_efficiency, grid.params.startup_h, grid.params.max_move_share) == (0.5, 0.2, 0.10)


@pytest.mark.parametrize("stem, item, expected", [
    ("quickstart_schedule", "data.zones=[]", "quickstart_schedule.yaml: data.zones: need at least one zone"),
    ("migration", "data.zones=[DE]", "migration.yaml: data.zones: need at least 2 zones"),
    ("topology", "data.zones=[DE]", "topology.yaml: data.zones: need at least 2 zones"),
    ("curtailment_training", "data.zones=[DE]", "curtailment_training.yaml: data.zones: need at least 2 zones"),
    ("quickstart_schedule", "data.column=co2", "quickstart_schedule.yaml: data.column: expected ci_direct or ci_lca"),
    ("migration", "data.column=co2", "migration.yaml: data.column: expected ci_direct or ci_lca"),
    ("topology", "data.column=co2", "topology.yaml: data.column: expected ci_direct or ci_lca"),
    ("curtailment_training", "data.column=co2", "curtailment_training.yaml: data.column: expected ci_direct or"),
    ("quickstart_schedule", "forecast.correlation_h=-1", "quickstart_schedule.yaml: forecast.correlation_h: must be ≥ 0"),
    ("migration", "forecast.correlation_h=-1", "migration.yaml: forecast.correlation_h: must be ≥ 0"),
    ("quickstart_schedule", "forecast.issue_every_h=0", "quickstart_schedule.yaml: forecast.issue_every_h: must be ≥ 1"),
    ("migration", "forecast.accuracy=0", "migration.yaml: forecast.accuracy: expected a fraction in (0, 1]"),
    ("quickstart_schedule", "workload.mode=x", "quickstart_schedule.yaml: workload.mode: expected fitted or table1"),
    ("migration", "workload.mode=x", "migration.yaml: workload.mode: expected fitted or table1"),
    ("scaling", "workload.mode=x", "scaling.yaml: workload.mode: expected fitted or table1"),
    ("quickstart_schedule", "workload.gpu_kw=0", "quickstart_schedule.yaml: workload.gpu_kw: must be > 0"),
    ("migration", "workload.gpu_kw=0", "migration.yaml: workload.gpu_kw: must be > 0"),
    ("quickstart_schedule", "datacenters.pue=0.5", "quickstart_schedule.yaml: datacenters.pue: must be ≥ 1, got 0.5"),
    ("migration", "datacenters.pue=0.5", "migration.yaml: datacenters.pue: must be ≥ 1, got 0.5"),
    ("topology", "datacenters.pue=0.5", "topology.yaml: datacenters.pue: must be ≥ 1, got 0.5"),
    ("migration", "datacenters.network_kwh_per_gb=-1", "migration.yaml: datacenters.network_kwh_per_gb: must be ≥ 0"),
    ("topology", "datacenters.wan_gbps=0", "topology.yaml: datacenters.wan_gbps: must be > 0"),
    ("migration", "migration.link_efficiency=0",
     "migration.yaml: migration: MigrationOptions: out of range: link_efficiency=0.0"),
    ("migration", "migration.stay_fraction=0.5", "migration.yaml: migration.stay_fraction: not read by this kind"),
])
def test_a_shared_rule_is_checked_in_every_kind_with_the_real_key(capsys, stem, item, expected):
    code = main(["sweep", "--dry-run", str(CONFIGS / f"{stem}.yaml"), "--set", "sweep.seed=[0]", "--set", item])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err, err
