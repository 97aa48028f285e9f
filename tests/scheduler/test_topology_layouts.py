"""Multi-region communication topology (scheduler.topology): byte counts, step times, placement rules."""
import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters, rtt_ms
from carbonshift.scheduler.topology import candidates, comm_kg_per_step, place, ps_gb_per_step, ring_gb_per_link

REGIONS = ["A", "B", "C", "D"]


def _dcs(n=4, wan=10.0):
    return DataCenters.uniform(REGIONS[:n], pue=1.0, wan_gbps=wan)


def _rtt(n=4):
    r = np.array([[0, 10, 20, 30], [10, 0, 40, 50], [20, 40, 0, 60], [30, 50, 60, 0]], dtype=float)
    return r[:n, :n]


def test_ring_and_ps_bytes_by_hand():
    assert ring_gb_per_link(10.0, 4) == pytest.approx(15.0)          # 2·3/4·10
    assert ps_gb_per_step(10.0, 2) == pytest.approx(40.0)            # (push 10 + pull 10) × 2 remote
    c = candidates(np.array([0, 1, 2]), _rtt(), 10.0, 1.0, 10.0, REGIONS)
    wan = dict(zip(c.labels, c.wan_gb_per_step))
    assert wan["ps@A"] == pytest.approx(40.0)                         # A hosts a worker: 2 remote
    assert wan["ps@D"] == pytest.approx(60.0)                         # D hosts none: 3 remote
    rings = [lab for lab in c.labels if lab.startswith("ring")]
    assert len(rings) == 1                                            # (3−1)!/2 distinct cycles
    assert wan[rings[0]] == pytest.approx(2 * 2 * 10.0)               # 2(k−1)·size
    c4 = candidates(np.array([0, 1, 2, 3]), _rtt(), 10.0, 1.0, 10.0, REGIONS, family="ring")
    assert len(c4.labels) == 3                                        # (4−1)!/2


def test_step_times_by_hand():
    c = candidates(np.array([0, 1, 2]), _rtt(), 10.0, 1.0, 10.0, REGIONS)
    t = dict(zip(c.labels, c.step_s))
    # PS at A: compute 1 s + max RTT(B,A)=10, (C,A)=20 → 0.020 s + 2·2·10 GB·8/10 Gbps = 32 s
    assert t["ps@A"] == pytest.approx(1.0 + 0.020 + 32.0)
    # ring A>B>C: links 10, 40, 20 ms → 4 phases × (0.040/2 + 10/3·8/10 s)
    assert t["ring:A>B>C"] == pytest.approx(1.0 + 4 * (0.020 + 10.0 / 3 * 0.8))


def test_every_ring_order_has_the_same_comm_carbon_under_the_transfer_rule():
    rng = np.random.default_rng(0)
    ci = rng.uniform(50, 800, size=(4, 24))
    c = candidates(np.array([0, 1, 2, 3]), _rtt(), 5.0, 1.0, 10.0, REGIONS, family="ring")
    kg = comm_kg_per_step(c, ci, _dcs())
    np.testing.assert_allclose(kg, np.broadcast_to(kg[0], kg.shape))
    # by hand: each region is an end of two links of 7.5 GB, half charged to it → Σ ci × 7.5 GB × 0.06 / 1000
    np.testing.assert_allclose(kg[0], ci.sum(axis=0) * 7.5 * 0.06 / 1000.0)


def test_carbon_aware_never_worse_and_respects_budget():
    rng = np.random.default_rng(1)
    zones = ["US-CAL-CISO", "US-TEX-ERCO", "GB", "SG", "JP-TK", "DE"]
    dcs = DataCenters.uniform(zones, pue=1.1, wan_gbps=10.0)
    rtt = rtt_ms(zones)
    for trial in range(30):
        ci = rng.uniform(20, 700, size=(6, 48))
        k = int(rng.integers(2, 7))
        workers = rng.choice(6, size=k, replace=False)
        budget = float(rng.choice([0.0, 0.05, 0.5, 10.0]))
        lat, carb = place(workers, np.full(k, 64), ci, rtt, dcs, float(rng.uniform(0.5, 20)), 2.0, 0.7, budget)
        assert carb.kg_per_kstep <= lat.kg_per_kstep + 1e-9
        assert carb.step_s <= lat.step_s * (1 + budget) + 1e-9
        if budget == 0.0:
            assert carb.step_s == pytest.approx(lat.step_s)


def test_slack_budget_moves_the_ps_to_the_clean_region():
    # workers A, B dirty, C clean; every PS site has 2 remote workers; A is fastest (max RTT 20 ms vs 40 ms)
    ci = np.array([[600.0] * 5, [600.0] * 5, [10.0] * 5])
    rtt = _rtt(3)
    dcs = _dcs(3, wan=100.0)
    lat, carb = place(np.array([0, 1, 2]), np.array([8, 8, 8]), ci, rtt, dcs, 10.0, 1.0, 0.7, latency_budget=10.0,
                      family="ps")
    assert lat.label == "ps@A"
    assert carb.label == "ps@C"
    assert carb.comm_kg < lat.comm_kg
    tight_lat, tight = place(np.array([0, 1, 2]), np.array([8, 8, 8]), ci, rtt, dcs, 10.0, 1.0, 0.7, latency_budget=0.0,
                               family="ps")
    assert tight.label == tight_lat.label == "ps@A"


def test_bad_jobs_fail_clearly():
    with pytest.raises(ValueError, match="distinct worker"):
        candidates(np.array([0, 0]), _rtt(), 1.0, 1.0, 10.0, REGIONS)
    with pytest.raises(ValueError, match="k ≤ 6"):
        candidates(np.arange(7), np.zeros((7, 7)), 1.0, 1.0, 10.0, list("ABCDEFG"), family="ring")
    with pytest.raises(ValueError, match="no data-centre site"):
        rtt_ms(["GB", "XX"])
    with pytest.raises(ValueError, match="latency_budget"):
        place(np.array([0, 1]), np.array([1, 1]), np.ones((4, 2)), _rtt(), _dcs(), 1.0, 1.0, 0.7, -0.1)


def test_rtt_overrides_and_model():
    r = rtt_ms(["GB", "DE"])
    assert 5 < r[0, 1] < 20 and r[0, 0] == 0                          # London–Frankfurt ≈ 640 km
    assert rtt_ms(["GB", "DE"], {"GB|DE": 14.0})[1, 0] == 14.0
