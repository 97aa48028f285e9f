"""chance_constrained through the simulate kind and configs: wiring, metrics, feedback, shipped configs."""
import numpy as np
import pytest

from carbonshift.experiments.config import load, parse
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get
from carbonshift.scheduler.policies.risk_aware import ConformalMargins
from carbonshift.scheduler.workloads import make_jobs

TINY = {"kind": "simulate", "name": "tiny_cc", "seed": 1,
        "data": {"zones": ["US-CAL-CISO", "DE"], "start": "2023-05-01", "span_days": 3, "tail_days": 8},
        "workload": {"n_jobs": 30}, "datacenters": {"gpus_per_region": 512},
        "policies": ["performance_first", "risk_aware", "chance_constrained"],
        "policy_options": {"risk_deadline_target": 0.95, "risk_carbon": "spread", "risk_lambda": 1.0},
        "duration": {"feedback": "observe", "history_jobs": 300},
        "oracle": {"enabled": False}}


def test_simulate_kind_runs_chance_constrained_with_its_own_metrics(tmp_path):
    result = get("simulate").run(parse(TINY, SimulateConfig), Context(seed=1, out_dir=tmp_path))
    m = result.metrics
    assert list(result.tables["policies"]["policy"]) == TINY["policies"]
    assert 0 <= m["chance_constrained.deadline_rate"] <= 100
    assert m["chance_constrained.duration.n_history"] == 300
    assert m["chance_constrained.duration.n_observed"] == 30                  # every finished job fed back
    assert m["chance_constrained.duration.margin_mean"] > 0
    assert m["duration.margin_mean"] == pytest.approx(0.25)                   # risk_aware's own, not overwritten
    assert "q0.95" in result.summary["chance_constrained"] and "spread" in result.summary["chance_constrained"]


def test_bad_options_and_feedback_fail_clearly():
    with pytest.raises(ValueError, match="risk_carbon"):
        parse({**TINY, "policy_options": {"risk_carbon": "worst"}}, SimulateConfig)
    with pytest.raises(ValueError, match="risk_alpha"):
        parse({**TINY, "policy_options": {"risk_alpha": 0.8}}, SimulateConfig)
    jobs = make_jobs(type_=np.zeros(2, np.int8), submit_h=np.zeros(2), gpus=np.ones(2), duration_h=np.array([3, 4]),
                     flex=np.ones(2), ckpt_interval_h=np.ones(2), data_gb=np.ones(2), home=np.zeros(2),
                     rng=np.random.default_rng(0), gpu_kw=0.7)
    with pytest.raises(ValueError, match="none or observe"):
        ConformalMargins(np.full(200, 3.0), np.full(200, 3.0), jobs, 0.99, feedback="update")


def test_observe_feedback_recalibrates_on_finished_jobs():
    n = 200
    est = np.full(n, 10)
    jobs = make_jobs(type_=np.zeros(n, np.int8), submit_h=np.zeros(n), gpus=np.ones(n), duration_h=np.full(n, 15),
                     flex=np.ones(n), ckpt_interval_h=np.ones(n), data_gb=np.ones(n), home=np.zeros(n),
                     rng=np.random.default_rng(0), gpu_kw=0.7, est_duration_h=est)
    src = ConformalMargins(np.full(300, 10.0), np.full(300, 10.0), jobs, 0.9, feedback="observe")
    before = src.margins(np.arange(n))
    src.finished(np.arange(150), hour=20)                    # these ran 50 % over their estimate
    after = src.margins(np.arange(n))
    assert src.n_observed == 150 and (after > before).all()
    assert np.ceil(10 * (1 + after[0]) - 1e-9) >= 15         # the q0.9 now covers 15 h


def test_shipped_scenario_configs():
    cap = load("experiments/configs/paper_capacity.yaml", SimulateConfig)
    assert cap.datacenters.overrides == {"GB": {"gpus": 640}, "US-CAL-CISO": {"gpus": 640}}
    assert "chance_constrained" in cap.policies and cap.policy_options.risk_deadline_target == 0.99
    tmp = load("experiments/configs/temporal_only.yaml", SimulateConfig)
    assert tmp.datacenters.residency and tmp.data.zones == ["DE", "GB", "US-CAL-CISO"]
