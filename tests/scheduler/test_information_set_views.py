"""Policies see only what they may: a jobs view without true durations or future arrivals, NaN costs that
never win, and signals validated at the hand-off."""
import re

import numpy as np
import pytest

from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.base import VISIBLE_FIELDS, ClusterState, JobsView
from carbonshift.scheduler.policies.baselines import Casper, GreedyCarbon
from carbonshift.scheduler.policies.cooperative import Cooperative
from carbonshift.scheduler.policies.registry import NAMES, make_policy
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, controlled_error
from carbonshift.scheduler.simulator import simulate
from carbonshift.scheduler.workloads import make_jobs


def _jobs(n: int, n_regions: int, home: int = 2):
    rng = np.random.default_rng(0)
    return make_jobs(type_=np.zeros(n), submit_h=np.zeros(n, np.int64), gpus=np.full(n, 8),
                     duration_h=np.full(n, 4), flex=np.full(n, 2.0), ckpt_interval_h=np.full(n, 0.5),
                     data_gb=np.zeros(n), home=np.full(n, home), rng=rng, gpu_kw=0.7, profiling_error=0.0)


class _NanView:
    """A view whose planning intensity is NaN in region 0 (which NaN-unaware argmin would pick)."""

    is_oracle = False
    label = "nan test view"

    def __init__(self, L: int, now: int = 0):
        self.now = now
        self.ci = np.tile(np.array([[np.nan], [300.0], [200.0]]), (1, L))

    def ci_plan(self, end, stat="mean", lam=0.0):
        return self.ci[:, :end - self.now].copy()

    def current(self):
        return self.ci[:, 0].copy()


@pytest.mark.parametrize("policy", [Casper, GreedyCarbon, Cooperative,
                                    lambda dc: Cooperative(dc, interruptible=True)])
def test_nan_cost_never_wins(policy):
    dc = DataCenters.uniform(["A", "B", "C"], gpus=64)
    jobs = _jobs(3, dc.n, home=1)
    state = ClusterState(dc.gpus.copy(), np.zeros((dc.n, 48), np.int64))
    dec = policy(dc).plan(jobs, np.arange(3), 0, state, _NanView(48))
    assert (dec.region == 2).all()


def test_all_nan_costs_fail_clearly():
    dc = DataCenters.uniform(["A", "B", "C"], gpus=64)
    view = _NanView(48)
    view.ci[:] = np.nan
    state = ClusterState(dc.gpus.copy(), np.zeros((dc.n, 48), np.int64))
    with pytest.raises(ValueError, match="no finite"):
        Casper(dc).plan(_jobs(1, dc.n), np.arange(1), 0, state, view)


def test_forecast_signal_rejects_invalid_cells(carbon):
    fc = controlled_error(carbon, "accuracy", accuracy=0.8, seed=0)
    i = int(np.argmax(np.isfinite(fc.mean[:, 0, 5])))
    for damage in ("inf", "negative", "unsorted", "nan_quantile"):
        mean, q = fc.mean.copy(), fc.q.copy()
        if damage == "inf":
            mean[i, 0, 5] = np.inf
        elif damage == "negative":
            mean[i, 0, 5] = -1.0
        elif damage == "unsorted":
            q[i, 0, 5] = q[i, 0, 5][::-1] + np.arange(len(QUANTILE_LEVELS))[::-1]
        else:
            q[i, 0, 5, 2] = np.nan
        with pytest.raises(ValueError, match=f"issue hour {fc.issue_h[i]}, region index 0, horizon 5"):
            ForecastSignal(fc.issue_h, mean, q, "damaged")


@pytest.mark.parametrize("value", [np.nan, -1.0, 101.0])
def test_carbon_signal_rejects_bad_renewable_share(carbon, value):
    ren = carbon.renewable_pct.copy()
    ren[1, 7] = value
    with pytest.raises(ValueError, match=f"renewable_pct.*{carbon.regions[1]}.*{re.escape(str(carbon.times[7]))}"):
        CarbonSignal(carbon.ci, ren, carbon.times, carbon.regions)


def test_jobs_view_declares_every_field_it_copies():
    """JobsView's annotations (what the type checker reads) list exactly the Jobs fields __init__ copies."""
    assert set(JobsView.__annotations__) == {*VISIBLE_FIELDS, "row", "now"}


def test_jobs_view_hides_durations_and_future_jobs():
    jobs = generate(GeneratorSpec(n_jobs=30, span_h=48), 3, seed=0)
    view = JobsView(jobs, 20)
    assert len(view) == int((jobs.submit_h <= 20).sum()) < len(jobs)
    assert (view.submit_h <= 20).all()
    np.testing.assert_array_equal(view.est_duration_h, jobs.est_duration_h[view.row])
    with pytest.raises(AttributeError):
        view.duration_h  # noqa: B018
    future = np.flatnonzero(jobs.submit_h > 20)[:1]
    with pytest.raises(ValueError, match="not submitted"):
        view.positions(future)


class _Snoop:
    """A policy that tries to read what it may not: the true durations, or the jobs not yet submitted."""

    clairvoyant = False

    def __init__(self, dc, read: str):
        self.inner, self.read, self.name = make_policy("performance_first", dc), read, f"snoop_{read}"
        self.seen: list[tuple[int, int]] = []

    def plan(self, jobs, idx, now, state, view):
        if self.read == "duration":
            jobs.duration_h  # noqa: B018
        self.seen.append((now, len(jobs), int(jobs.submit_h.max())))
        return self.inner.plan(jobs, idx, now, state, view)

    def adapt(self, event, jobs, now, state, view):
        return self.plan(jobs, event.jobs, now, state, view)


def test_policy_cannot_read_durations_or_future_jobs(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=2048)
    jobs = generate(GeneratorSpec(n_jobs=25, span_h=72), dc.n, seed=2)
    fc = controlled_error(carbon, "perfect")
    with pytest.raises(AttributeError):
        simulate(jobs, carbon, fc, dc, _Snoop(dc, "duration"))
    snoop = _Snoop(dc, "future")
    simulate(jobs, carbon, fc, dc, snoop)
    assert snoop.seen and all(latest <= now and n == int((jobs.submit_h <= now).sum())
                              for now, n, latest in snoop.seen)


@pytest.mark.parametrize("name", NAMES)
def test_every_policy_runs_on_views_and_reports_the_fallback_share(carbon, name):
    from carbonshift.scheduler.metrics import policy_metrics

    dc = DataCenters.uniform(carbon.regions, gpus=1024)
    jobs = generate(GeneratorSpec(n_jobs=30, span_h=96), dc.n, seed=4)
    out = simulate(jobs, carbon, controlled_error(carbon, "accuracy", accuracy=0.85, issue_hour=12, seed=1), dc,
                   make_policy(name, dc))
    share = policy_metrics(out)["forecast_fallback_share"]
    assert 0.0 <= share <= 100.0 and out.planned_job_h > 0


def test_simulator_charges_transfer_carbon_by_the_one_rule(carbon):
    dc = DataCenters.uniform(carbon.regions, gpus=4096)
    jobs = generate(GeneratorSpec(n_jobs=40, span_h=96), dc.n, seed=5)
    out = simulate(jobs, carbon, controlled_error(carbon, "perfect"), dc, make_policy("casper", dc))
    remote = np.flatnonzero((out.start >= 0) & (out.region != jobs.home))
    assert len(remote)
    expect = dc.transfer_carbon_kg(jobs.data_gb[remote], carbon.ci[jobs.home[remote], out.start[remote]],
                                   carbon.ci[out.region[remote], out.start[remote]])
    np.testing.assert_allclose(out.carbon_tr_kg[remote], expect)
    assert (out.carbon_tr_kg[np.setdiff1d(np.arange(len(jobs)), remote)] == 0).all()


def test_oracle_fallback_share_is_computed_zero(carbon):
    from carbonshift.scheduler.metrics import policy_metrics
    from carbonshift.scheduler.policies.registry import make_oracle

    dc = DataCenters.uniform(carbon.regions, gpus=1024)
    jobs = generate(GeneratorSpec(n_jobs=15, span_h=48, profiling_error=0.0), dc.n, seed=4)
    out = simulate(jobs, carbon, None, dc, make_oracle(dc, max_jobs_milp=50, time_limit_s=30))
    assert out.planned_job_h > 0 and policy_metrics(out)["forecast_fallback_share"] == 0.0
