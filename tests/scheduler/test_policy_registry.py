"""Policy registry: built-ins by name, user policies from modules in CARBONSHIFT_POLICIES (the README example
runs in ``carbonshift simulate``), clear errors for unknown names, broken plugin modules and non-policies."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies import registry

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A private copy of the registry, ``tmp_path`` importable, plugin modules forgotten afterwards."""
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cs_user_"):
            del sys.modules[name]


def readme_policy_example() -> str:
    section = README.read_text()[README.read_text().index("### Your own policy"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_policy_runs_in_simulate_next_to_the_baselines(isolated, monkeypatch, capsys):
    from carbonshift.experiments.cli import main

    (isolated / "cs_user_policies.py").write_text(readme_policy_example())
    monkeypatch.setenv("CARBONSHIFT_POLICIES", "cs_user_policies")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{isolated / 'mlflow.db'}")
    config = isolated / "mine.yaml"
    config.write_text(yaml.safe_dump({
        "kind": "simulate", "name": "user_policy",
        "data": {"zones": ["US-CAL-CISO", "GB", "DE"], "start": "2023-03-01", "span_days": 2, "tail_days": 3},
        "workload": {"n_jobs": 30}, "policies": ["performance_first", "greedy_carbon", "home_only"],
        "oracle": {"enabled": False}}))
    code = main(["simulate", str(config), "--json", "--reports-dir", str(isolated / "reports")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    rows = {r["policy"]: r for r in out["policies"]}
    assert set(rows) == {"performance_first", "greedy_carbon", "home_only"}
    mine = rows["home_only"]
    assert mine["carbon_transfer_kg"] == 0.0                                 # never leaves the home region
    assert mine["n_rejected"] == rows["performance_first"]["n_rejected"]      # only jobs too big for any region
    assert rows["greedy_carbon"]["carbon_transfer_kg"] > 0                   # a shifting baseline does move data


def test_broken_policy_module_reports_its_import_error(isolated, monkeypatch):
    from carbonshift.experiments.config import ConfigError
    from carbonshift.experiments.config_doc import parse_doc

    (isolated / "cs_user_broken.py").write_text("import no_such_dependency_for_carbonshift_tests\n")
    monkeypatch.setenv("CARBONSHIFT_POLICIES", "cs_user_broken")
    doc = {"kind": "simulate", "name": "x", "policies": ["performance_first", "mine"]}
    with pytest.raises(ConfigError, match=r"cs_user_broken' failed to import \(ModuleNotFoundError") as info:
        parse_doc(doc, "x.yaml")
    assert "unknown" not in str(info.value)


def test_unknown_policy_names_the_known_ones_and_how_to_add_one(isolated, monkeypatch):
    from carbonshift.experiments.config import ConfigError
    from carbonshift.experiments.config_doc import parse_doc

    monkeypatch.delenv("CARBONSHIFT_POLICIES", raising=False)
    with pytest.raises(ConfigError, match=r"policies: unknown \['nope'\]; known \['performance_first'.*"
                                          r"@register_policy in a module named in CARBONSHIFT_POLICIES"):
        parse_doc({"kind": "simulate", "name": "x", "policies": ["performance_first", "nope"]}, "x.yaml")
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        registry.make_policy("nope", DataCenters.uniform(["GB", "DE"]))


def test_registry_rejects_a_taken_name_and_a_factory_that_returns_no_policy(isolated):
    with pytest.raises(ValueError, match="'casper' is already registered"):
        registry.register_policy("casper")(lambda dc, seed, o: None)
    registry.register_policy("not_a_policy")(lambda dc, seed, o: object())
    with pytest.raises(ValueError, match=r"returned a object without \['name', 'clairvoyant', 'plan', 'adapt'\]"):
        registry.make_policy("not_a_policy", DataCenters.uniform(["GB", "DE"]))


def test_builtins_are_registered_through_the_same_registry():
    dc = DataCenters.uniform(["GB", "DE"])
    assert set(registry.NAMES) <= set(registry.policy_names())
    for name in registry.NAMES:
        assert registry.make_policy(name, dc).name == name
