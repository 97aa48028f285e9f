"""Feasibility domain (seed 001): closed-form checks and monotonicity on a grid."""
import numpy as np
import pytest

from carbonshift.scheduler.feasibility import MoveParams, evaluate, min_window_h, move_hours


def test_move_hours_closed_form():
    p = MoveParams(link_efficiency=1.0, restore_gb_per_s=1.0, startup_h=0.0)
    # 450 GB over 1 Gbps: 3600 s on the wire + 450 s restore = 1.125 h
    assert move_hours(450.0, 1.0, p) == pytest.approx(1.125)


def test_grid_shapes_and_monotone_feasibility():
    sizes, bws, wins = np.logspace(0, 4, 9), np.logspace(-1, 2, 7), np.array([2.0, 8.0, 24.0])
    g = evaluate(sizes, bws, wins)
    assert g.feasible.shape == (9, 7, 3)
    # larger checkpoints never become feasible; more bandwidth and longer windows never hurt
    assert np.all(np.diff(g.time_ok.astype(int), axis=0) <= 0)
    assert np.all(np.diff(g.time_ok.astype(int), axis=1) >= 0)
    assert np.all(np.diff(g.feasible.astype(int), axis=2) >= 0)
    # time feasibility is exactly window ≥ min_window_h
    need = min_window_h(sizes[:, None, None], bws[None, :, None])
    assert np.array_equal(g.time_ok, need <= wins[None, None, :])


def test_energy_not_repaid_when_destination_dirtier():
    g = evaluate(np.array([10.0]), np.array([10.0]), np.array([8.0]), MoveParams(ci_source=100, ci_dest=300))
    assert not g.energy_ok.any() and g.time_ok.all()


def test_bad_input_named():
    with pytest.raises(ValueError, match="window_h"):
        evaluate(np.array([1.0]), np.array([1.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="max_move_share"):
        MoveParams(max_move_share=0)


def test_network_energy_per_gb_is_one_constant():
    """0.06 kWh/GB (Aslan et al. 2018) is defined once, in scheduler.datacenters, and every default uses it."""
    import re
    from pathlib import Path

    from carbonshift.experiments.kinds.curtailment_training import TrainingSection
    from carbonshift.scheduler.datacenters import DEFAULT_NETWORK_KWH_PER_GB, DataCenters
    from carbonshift.scheduler.federated.elastic import ElasticConfig

    assert DEFAULT_NETWORK_KWH_PER_GB == 0.06
    for default in (MoveParams().network_kwh_per_gb, ElasticConfig().network_kwh_per_gb,
                    TrainingSection().network_kwh_per_gb, DataCenters.network_kwh_per_gb):
        assert default is DEFAULT_NETWORK_KWH_PER_GB
    root = Path(__file__).resolve().parents[2]
    literal = re.compile(r"network_kwh_per_gb\w*\s*(?::[^=\n]*)?=\s*0?\.06\b|KWH_PER_GB\w*\s*=\s*0?\.06\b")
    owners = [str(p.relative_to(root)) for d in ("scheduler", "experiments", "forecast") for p in (root / d).rglob("*.py")
              if literal.search(p.read_text())]
    assert owners == ["scheduler/datacenters.py"]
