"""Curtailment-window training: round plan (pause / local / sync), accounting, baseline, and the Flower
simulation that executes the plan."""
import numpy as np
import pytest

from carbonshift.scheduler.federated.corpus import stdlib_corpus
from carbonshift.scheduler.federated.elastic import (ElasticConfig, account, baseline_share_in_windows, plan_rounds,
                                         train_baseline)
from carbonshift.scheduler.federated.lm import LMConfig

LM = LMConfig(d_model=16, n_layers=1, n_heads=2, context=16, batch_size=4)
# hours 0 and 3 paused; hours 2 and 4 have both sites (sync); site 0 alone in 1, 5, 6, 7
W = np.array([[0, 1, 1, 0, 1, 1, 1, 1], [0, 0, 1, 0, 1, 0, 0, 0]], dtype=bool)
CI = np.array([[100.0] * 8, [300.0] * 8])
CFG = ElasticConfig(total_steps=12, steps_per_hour=2, site_kw=1.0, pue=1.0, network_kwh_per_gb=0.5)


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus(2, 20_000, 4_000)


def test_corpus_split_is_disjoint_and_capped(corpus):
    assert [len(s) for s in corpus.sites] == [20_000, 20_000] and len(corpus.val) == 4_000
    assert not np.array_equal(corpus.sites[0][:500].numpy(), corpus.sites[1][:500].numpy())


def test_plan_pauses_trains_locally_and_syncs():
    plan = plan_rounds(W, CFG)
    # 2 + 4 + 4 + 2 = 12 steps by the end of hour 5; rounds close before site 1 joins (1), at the sync hours
    # 2 and 4, and at the end (5)
    assert plan.hours == 6 and plan.hours_paused == 2
    assert plan.round_end.tolist() == [1, 2, 4, 5] and plan.n_fedavg_rounds == 2
    assert plan.round_steps.tolist() == [[2, 2, 2, 2], [0, 2, 2, 0]]
    assert plan.sites_in_round(3) == {0: 2}
    assert plan.round_steps.sum() == CFG.total_steps


def test_plan_splits_the_last_hour_and_rejects_short_windows():
    plan = plan_rounds(W, ElasticConfig(total_steps=7, steps_per_hour=2))
    # 6 steps by hour 2 (2 + 2×2); hour 4 has both sites → ceil(1 / 2) = 1 step each
    assert plan.hours == 5 and plan.steps[:, 4].tolist() == [1, 1] and plan.round_end.tolist() == [1, 2, 4]
    with pytest.raises(ValueError, match="windows supplied only 2 of 5"):
        plan_rounds(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool), ElasticConfig(total_steps=5,
                                                                                       steps_per_hour=2))


def test_accounting_charges_compute_in_windows_and_wan_per_participant():
    plan = plan_rounds(W, CFG)
    e = account(plan, CI, CFG, model_bytes=10**9)      # 1 GB model: 2 GB per participant per round
    assert e.compute_kwh == pytest.approx(6.0) and e.train_hours_by_site.tolist() == [4, 2]
    assert e.network_kwh == pytest.approx(6 * 2 * 0.5)  # 6 participations over 4 rounds
    net_kg = (2 * 1.0 * 100.0 + 2 * 2.0 * 200.0) / 1000.0  # lone rounds at site 0, sync rounds at the mean
    assert e.carbon_kg == pytest.approx((4 * 100.0 + 2 * 300.0) / 1000.0 + net_kg)
    assert e.share_in_windows == pytest.approx(6.0 / 12.0)


def test_baseline_runs_continuously(corpus):
    cfg = ElasticConfig(total_steps=5, steps_per_hour=2, site_kw=1.0, pue=1.0)
    bl = train_baseline(corpus, CI[:, :4], LM, cfg)
    assert bl.hours == 3 and bl.compute_kwh == pytest.approx(2.5) and np.isfinite(bl.val_loss)
    assert bl.carbon_kg.tolist() == pytest.approx([0.25, 0.75])
    assert baseline_share_in_windows(W[:, :4], cfg).tolist() == pytest.approx([0.6, 0.2])


@pytest.mark.slow
def test_flower_runs_the_window_plan(corpus):
    pytest.importorskip("flwr")
    from carbonshift.scheduler.federated.flower_app import SimulationConfig
    from carbonshift.scheduler.federated.lm import TinyLM, evaluate
    from carbonshift.scheduler.federated.train import train_elastic

    rec = train_elastic(corpus, W, CI, LM, CFG, SimulationConfig(ray_num_cpus=2), seed=0)
    r = rec.rounds
    assert r[["round", "site", "steps"]].values.tolist() == [[1, 0, 2], [2, 0, 2], [2, 1, 2], [3, 0, 2], [3, 1, 2],
                                                             [4, 0, 2]]
    assert r["hour"].tolist() == [1, 2, 2, 4, 4, 5]
    assert (r["num_examples"] == r["steps"] * LM.batch_size).all()
    # each site's AdamW state persists across rounds in its node Context
    assert r.groupby("site")["site_steps_total"].max().tolist() == [8, 4]
    untrained = evaluate(TinyLM(LM), corpus.val)
    assert np.isfinite(rec.val_loss) and rec.val_loss < untrained and rec.seconds > 0


@pytest.mark.slow
def test_curtailment_training_kind_end_to_end(tmp_path):
    pytest.importorskip("flwr")
    from carbonshift.experiments.registry import Context
    from carbonshift.experiments.config_doc import parse_doc, read_doc

    kind, cfg = parse_doc(*read_doc("experiments/configs/curtailment_training.yaml", {
        "training.total_steps": 20, "training.steps_per_hour": 5, "corpus.max_bytes_per_site": 20000,
        "corpus.val_bytes": 4000, "model.d_model": 16, "model.n_layers": 1, "model.n_heads": 2,
        "model.context": 16, "data.span_days": 20}))
    res = kind.run(cfg, Context(seed=0, out_dir=tmp_path, progress=False))
    m = res.metrics
    assert 90.0 < m["elastic.energy_in_windows_pct"] < 100.0
    assert m["elastic.hours"] > m["baseline.hours"] == 4
    assert 0 < m["elastic.emissions_vs_baseline_pct_min"] <= m["elastic.emissions_vs_baseline_pct_max"]
    assert len(res.tables["runs"]) == 4
    assert m["elastic.flower_rounds"] == res.tables["rounds"]["round"].max() >= m["elastic.fedavg_rounds"]
    assert res.tables["rounds"]["steps"].sum() >= 20


def test_energy_in_a_mask_counts_compute_inside_it_over_all_energy():
    from carbonshift.scheduler.federated.elastic import energy_in_mask_pct

    plan = plan_rounds(W, CFG)
    e = account(plan, CI, CFG, model_bytes=10**9)
    assert energy_in_mask_pct(plan, W, CFG, e) == pytest.approx(100 * e.share_in_windows)   # it trains only in W
    assert energy_in_mask_pct(plan, ~W, CFG, e) == 0.0
    only_site_1 = np.zeros_like(W)
    only_site_1[1] = True
    assert energy_in_mask_pct(plan, only_site_1, CFG, e) == pytest.approx(100 * 2.0 / 12.0)   # 2 of 6 compute kWh; 6 WAN kWh


def test_forecast_run_metrics_and_row_against_the_windows_that_occurred():
    import pandas as pd

    from carbonshift.experiments.curtailment_results import forecast_metrics, forecast_run_row, run_metrics, runs_table
    from carbonshift.experiments.forecast_windows import ForecastWindows
    from carbonshift.scheduler.curtailment import precision_recall
    from carbonshift.scheduler.federated.elastic import BaselineRecord
    from carbonshift.scheduler.federated.train import ElasticRecord

    def record(windows):
        plan = plan_rounds(windows, CFG)
        return ElasticRecord(1.0, 2.7, plan, account(plan, CI, CFG, model_bytes=10**9), pd.DataFrame(), 1.0)

    regions = ["A", "B"]
    el, bl = record(W), BaselineRecord(0.9, 2.5, 6, 6.0, np.array([1.0, 2.0]), 1.0)
    fw = ForecastWindows(W, precision_recall(W[None], W[None], regions, np.array([1])), "forecast windows")
    m = forecast_metrics(el, fw, W, bl, CFG, regions)        # forecast windows = the actual ones
    assert m["forecast.elastic.energy_in_actual_windows_pct"] == pytest.approx(m["forecast.elastic.energy_in_windows_pct"])
    assert m["forecast.vs_pf.precision_pct.A"] == m["forecast.vs_pf.recall_pct.B"] == 100.0
    assert m["forecast.elastic.emissions_vs_baseline_pct.B"] == pytest.approx(100 * el.energy.carbon_kg / 2.0)
    assert run_metrics(el, bl, W, CFG, regions)["elastic.emissions_vs_baseline_pct_min"] == pytest.approx(
        m["forecast.elastic.emissions_vs_baseline_pct.B"])
    runs = runs_table(el, bl, W, CFG, regions, "perfect-foresight windows")
    late = np.zeros_like(W)
    late[:, 4:] = W[:, 4:]
    runs.loc[len(runs)] = forecast_run_row(el, "forecast windows", late, CFG, regions)
    assert list(runs["site"]) == ["A+B", "A", "B", "A+B"]
    assert runs["energy_in_windows_pct"].iloc[-1] < runs["energy_in_windows_pct"].iloc[0]
