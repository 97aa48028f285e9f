"""Config validation errors, overrides, config hashes and sweep-grid expansion (no Ray, no MLflow)."""
from __future__ import annotations

from pathlib import Path

import pytest

from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.config_doc import parse_doc, parse_overrides, read_doc, set_dotted
from carbonshift.experiments.run_tags import config_hash
from carbonshift.experiments.sweep import axis_values, expand, plan

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


@pytest.fixture(autouse=True)
def tiny_kind(monkeypatch):
    monkeypatch.setenv("CARBONSHIFT_KINDS", "tiny_kind")


def base(**extra) -> dict:
    return {"kind": "tiny", "name": "t", **extra}


@pytest.mark.parametrize("doc, message", [
    (base(colour="red"), "x.yaml: colour: unknown key"),
    (base(forecast={"accurcy": 0.9}), "x.yaml: forecast.accurcy: unknown key"),
    (base(n_regions="three"), "x.yaml: n_regions: expected an integer, got 'three'"),
    (base(forecast={"accuracy": 1.5}), "x.yaml: forecast.accuracy: must be in (0, 1], got 1.5"),
    ({"kind": "tiny"}, "x.yaml: name: required key missing"),
    ({"kind": "nope", "name": "t"}, "x.yaml: kind: unknown experiment kind 'nope'"),
    ({"name": "t"}, "x.yaml: kind: required key missing"),
])
def test_bad_configs_name_file_and_key(doc, message):
    with pytest.raises(ConfigError) as err:
        parse_doc(doc, "x.yaml")
    assert message in str(err.value)


def test_overrides_are_yaml_and_dotted():
    assert parse_overrides(["forecast.accuracy=0.75", "seed=[0, 1]", "name=abc"]) == {
        "forecast.accuracy": 0.75, "seed": [0, 1], "name": "abc"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["seed"])
    doc, _ = read_doc(base(sweep={"seed": [0]}), {"forecast.error_model": "uniform", "sweep.forecast.accuracy": [0.6]})
    assert doc["forecast"] == {"error_model": "uniform"}
    assert doc["sweep"] == {"seed": [0], "forecast.accuracy": [0.6]}
    with pytest.raises(ConfigError, match="cannot set name.x"):
        set_dotted({"name": "t"}, "name.x", 1)


def test_config_hash_resolves_defaults_and_tracks_changes():
    kind, a = parse_doc(base(), "a")
    _, b = parse_doc(base(forecast={"accuracy": 0.87, "error_model": "gaussian"}, seed=0), "b")
    _, c = parse_doc(base(seed=1), "c")
    assert config_hash(kind.name, a) == config_hash(kind.name, b)   # explicit defaults = omitted
    assert config_hash(kind.name, a) != config_hash(kind.name, c)
    assert len(config_hash(kind.name, a)) == 16


def test_axis_values_lists_and_inclusive_ranges():
    assert axis_values("x", [1, "a"]) == [1, "a"]
    assert axis_values("x", {"start": 0, "stop": 4, "step": 2}) == [0, 2, 4]
    assert axis_values("x", {"start": 0, "stop": 2}) == [0, 1, 2]
    flex = axis_values("x", {"start": 0.1, "stop": 0.6, "step": 0.1})
    assert flex == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert axis_values("x", {"start": 0.0, "stop": 1.0, "step": 0.3}) == [0.0, 0.3, 0.6, 0.9]


@pytest.mark.parametrize("spec, message", [
    ({"x": []}, "sweep.x: empty list"),
    ({"x": 3}, "sweep.x: expected a list of values or {start, stop, step}"),
    ({"x": {"start": 0}}, "sweep.x: a range needs start, stop"),
    ({"x": {"start": 0, "stop": 1, "step": 0}}, "sweep.x.step: must be > 0"),
    ({"x": {"start": 2, "stop": 1}}, "sweep.x: stop 1 is below start 2"),
    ({"x": {"start": "a", "stop": 1}}, "sweep.x.start: expected a number"),
    ({"a,b": [[1, 2], [3]]}, "sweep.a,b: each value must be a list of 2"),
    ({}, "sweep: expected a non-empty mapping"),
    ([], "sweep: empty list of grids"),
    # sizes (issue 24): counted before any list is built, refused at once
    ({"x": {"start": 0.1, "stop": 0.6, "step": float("nan")}}, "s.yaml: sweep.x.step: expected a finite number, got nan"),
    ({"x": {"start": float("nan"), "stop": 0.6}}, "s.yaml: sweep.x.start: expected a finite number, got nan"),
    ({"x": {"start": 0, "stop": float("inf")}}, "s.yaml: sweep.x.stop: expected a finite number, got inf"),
    ({"x": {"start": 0, "stop": 1, "step": -0.1}}, "sweep.x.step: must be > 0"),
    ({"x": {"start": 0, "stop": 100_000_000, "step": 1.0e-300}}, "s.yaml: sweep.x: 0 to 100000000 in steps of 1e-300 "
                                                                 "is 1e+308 values, more than a sweep's 10,000 trials"),
    ({"x": {"start": -1e308, "stop": 1e308, "step": 1e-308}}, "sweep.x: -1e+308 to 1e+308 in steps of 1e-308 is more "
                                                               "than 1e308 values"),
    ({"x": {"start": 0, "stop": 10**400}}, "is more than 1e308 values, more than a sweep's 10,000 trials"),
    ({"seed": {"start": 0, "stop": 10_000}}, "sweep.seed: 0 to 10000 in steps of 1 is 1e+04 values"),
    ({f"k{i}": list(range(10)) for i in range(9)}, "s.yaml: sweep: 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 = "
                                                   "1,000,000,000 trials, more than 10,000 (sweep.MAX_TRIALS)"),
    ([{"a": {"start": 1, "stop": 100}, "b": list(range(100))}, {"c": [0]}], "sweep: 100 × 100 + 1 = 10,001 trials"),
])
def test_bad_sweep_sections(spec, message):
    with pytest.raises(ConfigError) as err:
        expand(spec, "s.yaml")
    assert message in str(err.value)


def test_sweep_size_is_counted_before_anything_is_built():
    import time
    import tracemalloc

    from carbonshift.experiments.sweep import MAX_TRIALS

    assert len(expand({"seed": {"start": 1, "stop": MAX_TRIALS}})) == MAX_TRIALS          # the bound itself passes
    assert len(expand([{"a": list(range(100)), "b": {"start": 0, "stop": 49}}] * 2)) == MAX_TRIALS
    huge = [{"x": {"start": 0, "stop": 100_000_000, "step": 1.0e-300}},
            {f"k{i}": list(range(10)) for i in range(9)}, {"seed": {"start": 0, "stop": 10**12}}]
    tracemalloc.start()
    try:
        for spec in huge:
            started = time.perf_counter()
            with pytest.raises(ConfigError, match="more than"):
                expand(spec, "s.yaml")
            assert time.perf_counter() - started < 1.0
        assert tracemalloc.get_traced_memory()[1] < 1_000_000      # bytes: no list of values, no trial was built
    finally:
        tracemalloc.stop()


def test_grid_product_zip_and_union():
    grid = expand({"a": [1, 2, 3], "b": ["x", "y"], "seed": {"start": 0, "stop": 1}})
    assert len(grid) == 12 and grid[0] == {"a": 1, "b": "x", "seed": 0} and grid[-1] == {"a": 3, "b": "y", "seed": 1}
    zipped = expand({"p,q": [[1, 10], [2, 20]], "seed": [0, 1]})
    assert zipped == [{"p": 1, "q": 10, "seed": 0}, {"p": 1, "q": 10, "seed": 1},
                      {"p": 2, "q": 20, "seed": 0}, {"p": 2, "q": 20, "seed": 1}]
    union = expand([{"a": [1, 2]}, {"a": [2, 3], "b": [0]}])
    assert union == [{"a": 1}, {"a": 2}, {"a": 2, "b": 0}, {"a": 3, "b": 0}]


def test_plan_parses_every_trial_and_dedupes():
    sp = plan(base(sweep=[{"forecast.accuracy": [0.6, 0.87]}, {"forecast.accuracy": [0.87, 1.0], "seed": [0]}]))
    assert [t.assignment for t in sp.trials] == [{"forecast.accuracy": 0.6}, {"forecast.accuracy": 0.87},
                                                 {"forecast.accuracy": 1.0, "seed": 0}]  # 0.87/seed 0 = default
    assert len({t.config_hash for t in sp.trials}) == 3
    assert sp.keys == ["forecast.accuracy", "seed"]
    assert sp.trials[0].config.forecast.accuracy == 0.6
    with pytest.raises(ConfigError, match=r"forecast.accuracy: must be in \(0, 1\].*\[sweep trial forecast.accuracy=2\]"):
        plan(base(sweep={"forecast.accuracy": [0.5, 2]}))
    with pytest.raises(ConfigError, match="forecast.acc: unknown key"):
        plan(base(sweep={"forecast.acc": [0.5]}))
    with pytest.raises(ConfigError, match="sweep: required for a sweep"):
        plan(base())
    with pytest.raises(ConfigError, match="cannot sweep over 'kind'"):
        plan(base(sweep={"kind": ["tiny"]}))


@pytest.mark.parametrize("name, n_trials, axes", [
    ("sweep_accuracy", 108, ["forecast.error_model", "forecast.accuracy", "forecast.correlation_h", "seed"]),
    ("sweep_accuracy_ensemble", 3, ["forecast.source", "seed"]),
    ("sweep_flexibility", 18, ["workload.flexibility", "seed"]),
    ("sweep_regions", 15, ["data.zones", "seed"]),
    ("sweep_composition", 15, ["workload.mix", "seed"]),
    ("scale", 4, ["workload.n_jobs"]),
])
def test_shipped_sweeps_parse_against_the_simulate_schema(name, n_trials, axes):
    sp = plan(CONFIGS / f"{name}.yaml")
    assert sp.kind.name == "simulate" and sp.name == name
    assert len(sp.trials) == n_trials and sp.keys == axes
    if name == "sweep_accuracy":
        gauss = [t.config.forecast for t in sp.trials if t.config.forecast.error_model == "gaussian"]
        assert sorted({(f.accuracy, f.k) for f in gauss})[0] == (0.6, 0.4612)   # k follows accuracy
    if name == "sweep_regions":
        assert sorted({len(t.config.data.zones) for t in sp.trials}) == [2, 4, 6, 8, 10]
