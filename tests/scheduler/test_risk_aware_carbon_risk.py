"""chance_constrained's carbon risk term: with asymmetric forecast quantiles the CVaR / spread ranking of
windows differs from the mean's."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained, risk_intensity
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, PolicyView
from carbonshift.scheduler.workloads import make_jobs

T = 24
TIGHT = np.array([-10, -8, -4, 0, 4, 8, 10], dtype=float)           # symmetric, narrow
FAT = np.array([85, 86, 88, 90, 95, 200, 300], dtype=float)          # median 90, long upper tail


def _view() -> PolicyView:
    """One issue at hour 0: 100 gCO2eq/kWh ± 10 every hour except hours 10–11, whose mean is lower (95)
    but whose upper tail is long (q0.9 = 200, q0.95 = 300)."""
    assert len(QUANTILE_LEVELS) == len(TIGHT)
    mean = np.full((1, 1, T), 100.0)
    mean[0, 0, 10:12] = 95.0
    q = mean[..., None] + TIGHT
    q[0, 0, 10:12] = FAT
    times = pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC")
    carbon = CarbonSignal(np.full((1, T), 100.0), np.full((1, T), 30.0), times, ["A"])
    return PolicyView(carbon, ForecastSignal(np.array([0]), mean, q), 0)


def _job():
    rng = np.random.default_rng(0)
    return make_jobs(type_=np.zeros(1, np.int8), submit_h=np.zeros(1), gpus=np.array([4]), duration_h=np.array([2]),
                     flex=np.array([11.0]), ckpt_interval_h=np.array([0.5]), data_gb=np.array([1.0]),
                     home=np.zeros(1), rng=rng, gpu_kw=0.7, est_duration_h=np.array([2]))


def _start(carbon_risk: str) -> int:
    dc = DataCenters.uniform(["A"], gpus=8)
    policy = ChanceConstrained(dc, 0.0, 0.99, carbon_risk=carbon_risk, alpha=0.9, lam=1.0)
    state = ClusterState(dc.gpus.copy(), np.zeros((1, T), np.int64))
    dec = policy.plan(_job(), np.array([0]), 0, state, _view())
    assert dec.region.tolist() == [0]
    return int(dec.start[0])


def test_cvar_intensity_is_the_upper_tail_mean():
    ci = risk_intensity(_view(), T, "cvar", 0.9, 1.0)
    assert ci[0, 10] == pytest.approx(250.0) and ci[0, 0] == pytest.approx(109.0)
    half = risk_intensity(_view(), T, "cvar", 0.9, 0.5)
    assert half[0, 10] == pytest.approx(95 + 0.5 * (250 - 95))
    assert risk_intensity(_view(), T, "spread", 0.9, 1.0)[0, 10] == pytest.approx(95 + (300 - 85) / 2)


def test_risk_term_changes_the_chosen_window():
    assert _start("mean") == 10                 # the lowest mean
    assert _start("cvar") == 0                  # the tail makes hours 10–11 the most expensive
    assert _start("spread") == 0


def test_bad_risk_settings_fail_clearly():
    dc = DataCenters.uniform(["A"])
    with pytest.raises(ValueError, match="carbon_risk"):
        ChanceConstrained(dc, 0.0, carbon_risk="var")
    with pytest.raises(ValueError, match="alpha"):
        ChanceConstrained(dc, 0.0, alpha=0.8)
    with pytest.raises(ValueError, match="deadline_target"):
        ChanceConstrained(dc, 0.0, deadline_target=1.0)


def _default_start(name: str) -> int:
    """The start hour the default-configured policy ``name`` picks on :func:`_view`."""
    from carbonshift.scheduler.policies.registry import PolicyOptions, chance_constrained, make_policy

    dc = DataCenters.uniform(["A"], gpus=8)
    o = PolicyOptions(risk_duration_margin=0.0)
    policy = chance_constrained(dc, o, 0.0) if name == "chance_constrained" else make_policy(name, dc, 0, o)
    dec = policy.plan(_job(), np.array([0]), 0, ClusterState(dc.gpus.copy(), np.zeros((1, T), np.int64)), _view())
    return int(dec.start[0])


@pytest.mark.parametrize("name", ["risk_aware", "chance_constrained"])
def test_risk_term_is_off_by_default(name):
    """Issue 20: the forecast-risk term did not lower realised carbon, so the defaults and the shipped configs
    price windows with the mean: the lower-mean, fat-tailed hours 10–11 win (with the term on they lose)."""
    from carbonshift.experiments.config import load
    from carbonshift.experiments.kinds.simulate import SimulateConfig

    assert _default_start(name) == 10
    for config in ("paper_main", "paper_capacity", "temporal_only"):
        o = load(f"experiments/configs/{config}.yaml", SimulateConfig).policy_options
        assert o.risk_lambda == 0.0 and o.risk_quantile is None
