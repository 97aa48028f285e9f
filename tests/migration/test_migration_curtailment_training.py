"""Elastic window-following training: pause/local/FedAvg schedule and accounting on a tiny model."""
import numpy as np
import pytest

from scheduler.federated.corpus import stdlib_corpus
from scheduler.federated.elastic import ElasticConfig, baseline_share_in_windows, train_baseline, train_elastic
from scheduler.federated.lm import LMConfig

LM = LMConfig(d_model=16, n_layers=1, n_heads=2, context=16, batch_size=4)


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus(2, 20_000, 4_000)


def test_corpus_split_is_disjoint_and_capped(corpus):
    assert [len(s) for s in corpus.sites] == [20_000, 20_000] and len(corpus.val) == 4_000
    assert not np.array_equal(corpus.sites[0][:500].numpy(), corpus.sites[1][:500].numpy())


def test_schedule_pauses_trains_locally_and_averages(corpus):
    w = np.array([[0, 1, 1, 0, 1, 1, 1, 1], [0, 0, 1, 0, 1, 0, 0, 0]], dtype=bool)
    ci = np.array([[100.0] * 8, [300.0] * 8])
    cfg = ElasticConfig(total_steps=12, steps_per_hour=2, site_kw=1.0, pue=1.0)
    rec = train_elastic(corpus, w, ci, LM, cfg)
    # hours 0 and 3 paused; hours 2 and 4 have both sites (FedAvg); 12 steps done by hour 6 (2+4+4+2)
    assert rec.hours_paused == 2 and rec.rounds_fedavg == 2 and rec.hours == 6
    assert rec.train_hours_by_site.tolist() == [4, 2]
    assert rec.compute_kwh == pytest.approx(6.0)
    net_kg = rec.network_kwh * 200.0 / 1000.0
    assert rec.carbon_kg[0] == pytest.approx((4 * 100.0 + 2 * 300.0) / 1000.0 + net_kg)
    assert 0.99 < rec.share_in_windows <= 1.0 and np.isfinite(rec.val_loss)


def test_baseline_and_not_enough_windows(corpus):
    cfg = ElasticConfig(total_steps=5, steps_per_hour=2, site_kw=1.0, pue=1.0)
    ci = np.array([[100.0] * 4, [300.0] * 4])
    bl = train_baseline(corpus, ci, LM, cfg)
    assert bl.hours == 3 and bl.compute_kwh == pytest.approx(2.5)
    assert bl.carbon_kg.tolist() == pytest.approx([0.25, 0.75])
    w = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    assert baseline_share_in_windows(w, cfg).tolist() == pytest.approx([0.4, 0.0])
    with pytest.raises(ValueError, match="windows supplied only"):
        train_elastic(corpus, w, ci, LM, cfg)


def test_curtailment_training_kind_end_to_end(tmp_path):
    from experiments.registry import Context
    from experiments.runner import parse_doc, read_doc

    kind, cfg = parse_doc(*read_doc("experiments/configs/curtailment_training.yaml", {
        "training.total_steps": 20, "training.steps_per_hour": 5, "corpus.max_bytes_per_site": 20000,
        "corpus.val_bytes": 4000, "model.d_model": 16, "model.n_layers": 1, "model.n_heads": 2,
        "model.context": 16, "data.span_days": 20}))
    res = kind.run(cfg, Context(seed=0, out_dir=tmp_path, progress=False))
    m = res.metrics
    assert m["elastic.energy_in_windows_pct"] > 99.0
    assert m["elastic.hours"] > m["baseline.hours"] == 4
    assert 0 < m["elastic.emissions_vs_baseline_pct_min"] <= m["elastic.emissions_vs_baseline_pct_max"]
    assert len(res.tables["runs"]) == 4
