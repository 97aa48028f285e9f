"""The topology kind on a tiny real instance, and its shipped config."""
import pytest

from carbonshift.experiments.config import ConfigError, load, parse
from carbonshift.experiments.kinds.topology import TopologyConfig
from carbonshift.experiments.registry import Context, get

TINY = {"kind": "topology", "name": "tiny", "seed": 3,
        "data": {"zones": ["US-CAL-CISO", "GB", "SG", "DE"], "start": "2023-03-01", "span_days": 4},
        "workload": {"n_jobs": 8, "hours": [6, 24]}, "latency_budget": 0.05}


def test_shipped_config_parses():
    cfg = load("experiments/configs/topology.yaml", TopologyConfig)
    assert len(cfg.data.zones) == 6 and cfg.data.span_days == 30 and cfg.datacenters.network_kwh_per_gb == 0.06


def test_topology_kind_end_to_end(tmp_path):
    result = get("topology").run(parse(TINY, TopologyConfig), Context(seed=3, out_dir=tmp_path))
    m, jobs = result.metrics, result.tables["jobs"]
    assert len(jobs) == 8 * 3 * 2 and (jobs["k"] >= 2).all()
    for fam in ("ps", "ring", "both"):
        assert m[f"{fam}.carbon.kg_per_kstep"] <= m[f"{fam}.latency.kg_per_kstep"] + 1e-9
        assert m[f"{fam}.carbon.slowdown_max_pct"] <= 5.0 + 1e-9
        assert m[f"{fam}.latency.slowdown_max_pct"] == 0.0
        assert m[f"{fam}.carbon.operational_kg"] > 0 and m[f"{fam}.carbon.comm_kg"] > 0
    # the two ring placements differ only through step time: equal communication carbon per step
    ring = jobs[jobs["family"] == "ring"]
    per_step = (ring["comm_kg"] / ring["steps"]).to_numpy().reshape(-1, 2)
    assert per_step[:, 0] == pytest.approx(per_step[:, 1])


def test_single_region_workload_is_rejected():
    bad = {**TINY, "workload": {"gpus": [100, 200], "region_cap_gpus": 256}}
    with pytest.raises(ConfigError, match="workload.gpus"):
        parse(bad, TopologyConfig)
