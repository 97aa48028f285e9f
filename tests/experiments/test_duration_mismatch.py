"""duration.history_profiling_error: the learned duration quantiles are calibrated on a history drawn with another
profiling error than the workload (issue 22, item 4) — and only then."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from carbonshift.experiments.config import ConfigError, load, parse
from carbonshift.experiments.instances import history_spec
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.scheduler.duration import prior_history
from carbonshift.scheduler.generators import generate

ROOT = Path(__file__).resolve().parents[2]


def test_history_spec_uses_its_own_profiling_error_and_widens_nothing_else():
    cfg = load(ROOT / "experiments/configs/duration_mismatch.yaml", SimulateConfig)
    spec = history_spec(cfg)
    assert (cfg.workload.profiling_error, spec.profiling_error) == (0.30, 0.20)
    assert spec.n_jobs == cfg.duration.history_jobs
    same = load(ROOT / "experiments/configs/paper_capacity.yaml", SimulateConfig)
    assert history_spec(same).profiling_error == same.workload.profiling_error
    # the history's error really is smaller: true / estimate spreads less at 0.2 than at 0.3
    def spread(s) -> float:  # noqa: ANN001 (GeneratorSpec)
        past = prior_history(generate(s, 6, 1))
        return float(np.std(np.log(past["duration"].to_numpy() / past["requested_h"].to_numpy())))

    assert spread(spec) < spread(replace(spec, profiling_error=0.30))


def test_history_profiling_error_is_validated():
    with pytest.raises(ConfigError, match="duration.history_profiling_error"):
        parse({"kind": "simulate", "name": "x", "duration": {"history_profiling_error": 1.5}}, SimulateConfig)
