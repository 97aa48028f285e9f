"""regional.yaml through the simulate kind (shrunk): regional and cooperative side by side, the sync metrics
and the regional_sync table reported."""
from __future__ import annotations

import pytest

from carbonshift.experiments.config import load_yaml, parse
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get


def test_regional_config_runs_and_reports_sync(tmp_path):
    doc = load_yaml("experiments/configs/regional.yaml")
    assert doc["policies"] == ["performance_first", "cooperative", "regional"]
    doc["data"].update(zones=["US-CAL-CISO", "DE", "GB"], span_days=3, tail_days=6)
    doc["workload"]["n_jobs"] = 30
    doc["oracle"]["enabled"] = False
    cfg = parse(doc, SimulateConfig)
    result = get("simulate").run(cfg, Context(seed=0, out_dir=tmp_path))
    m = result.metrics
    assert m["regional.carbon_kg"] == pytest.approx(m["cooperative.carbon_kg"])
    assert m["regional.deadline_rate"] == m["cooperative.deadline_rate"]
    assert m["regional.sync.messages_per_h"] >= 2 * 4 * 3
    assert m["regional.sync.bytes_per_h_delta"] < m["regional.sync.bytes_per_h_full"]
    sync = result.tables["regional_sync"]
    assert list(sync["policy"]) == ["regional"] and sync["restarts"].iloc[0] == 0


def test_unknown_regional_transport_names_the_key():
    doc = load_yaml("experiments/configs/regional.yaml")
    doc["policy_options"]["regional_transport"] = "grpc"
    with pytest.raises(ValueError, match="policy_options.regional_transport"):
        parse(doc, SimulateConfig)
