"""Fix-and-optimise schedule search of the oracle (scheduler.policies.oracle_search) on tiny instances built
candidate by candidate: with one window over the whole horizon it reaches the brute-force optimum; with
small windows it never worsens the start, stays capacity-feasible and refuses an incomplete choice; guided
by an LP solution it re-places jobs only within the LP's neighbourhood (and reaches the optimum there when
the LP uses it, and beyond it once a sweep finds nothing there)."""
from __future__ import annotations

import functools
import itertools
import time

import numpy as np
import pytest

from carbonshift.scheduler.policies.oracle import _Block
from carbonshift.scheduler.policies.oracle_search import LpGuide, improve_by_windows, usage

R, T = 2, 24


def _instance(seed: int):
    """5 jobs of 2–5 h on 2–4 GPUs, candidate starts in windows of 1–8 h from hour 0–14, random costs
    (kgCO2e, some candidates missing); 5 GPUs per region, so capacity binds."""
    rng = np.random.default_rng(seed)
    blocks, col = [], 0
    for k in range(5):
        d, S, s0 = int(rng.integers(2, 6)), int(rng.integers(1, 9)), int(rng.integers(0, 15))
        cost = rng.uniform(1.0, 10.0, (R, S))
        cost[rng.random((R, S)) < 0.2] = np.inf
        cost[0, 0] = rng.uniform(8.0, 12.0)             # every job has a (dear) candidate at its first hour
        blocks.append(_Block(k, s0, S, d, col, cost))
        col += cost.size
    return blocks, np.full((R, T), 5), rng.integers(2, 5, 5)


def _feasible(blocks, choice, free, gpus) -> bool:
    return bool((usage(blocks, choice, gpus, free.shape) <= free).all())


@functools.cache
def _best(seed: int) -> tuple[float, tuple[int, ...]]:
    """(kgCO2e, choice) of the cheapest capacity-feasible complete choice of instance ``seed``, by enumeration."""
    blocks, free, gpus = _instance(seed)
    key, best = np.inf, ()
    for choice in itertools.product(*[np.flatnonzero(np.isfinite(b.cost.ravel())) for b in blocks]):
        c = np.array(choice)
        kg = sum(b.cost.flat[x] for b, x in zip(blocks, choice))
        if kg < key and _feasible(blocks, c, free, gpus):
            key, best = kg, tuple(int(v) for v in choice)
    return key, best


def _optimum(seed: int) -> float:
    """kgCO2e of the cheapest capacity-feasible complete choice of instance ``seed``."""
    return _best(seed)[0]


def _dear_start(blocks, free, gpus):
    """A feasible complete choice, deliberately poor: every job at its most expensive fitting candidate."""
    choice = np.full(len(blocks), -1)
    for k, b in enumerate(blocks):
        for c in np.argsort(-np.where(np.isfinite(b.cost.ravel()), b.cost.ravel(), -np.inf)):
            choice[k] = c
            if np.isfinite(b.cost.flat[c]) and _feasible(blocks, choice, free, gpus):
                break
            choice[k] = -1
    return choice


def _kg(blocks, choice) -> float:
    return float(sum(b.cost.flat[c] for b, c in zip(blocks, choice)))


@pytest.mark.parametrize("seed", range(8))
def test_one_window_over_the_horizon_reaches_the_optimum_and_small_ones_never_worsen(seed):
    blocks, free, gpus = _instance(seed)
    start = _dear_start(blocks, free, gpus)
    if (start < 0).any():
        pytest.skip("the dear greedy found no complete schedule")
    opt = _optimum(seed)
    whole, n = improve_by_windows(blocks, start, free, gpus, time.monotonic() + 10.0, window_h=T, sub_time_s=5.0,
                                  sub_gap=0.0)
    assert _feasible(blocks, whole, free, gpus)
    assert _kg(blocks, whole) == pytest.approx(opt, rel=1e-4)
    assert n >= 1 or _kg(blocks, start) == pytest.approx(opt, rel=1e-4)
    small, _ = improve_by_windows(blocks, start, free, gpus, time.monotonic() + 10.0, window_h=4, sub_time_s=5.0)
    assert _feasible(blocks, small, free, gpus)
    assert opt - 1e-6 <= _kg(blocks, small) <= _kg(blocks, start) + 1e-6


def test_the_dear_start_leaves_room_to_improve():
    """The instances are worth searching: on most, the dear start is above the optimum."""
    worse = 0
    for seed in range(8):
        blocks, free, gpus = _instance(seed)
        start = _dear_start(blocks, free, gpus)
        worse += (start >= 0).all() and _kg(blocks, start) > _optimum(seed) + 1e-6
    assert worse >= 6


def test_an_incomplete_choice_is_refused():
    blocks, free, gpus = _instance(0)
    with pytest.raises(ValueError, match="complete choice"):
        improve_by_windows(blocks, np.full(len(blocks), -1), free, gpus, time.monotonic() + 1.0)


def _columns(blocks, choice) -> np.ndarray:
    """0/1 model-column values of a complete ``choice`` (one LP-like solution that uses exactly it)."""
    x = np.zeros(sum(b.cost.size for b in blocks))
    x[[b.col + c for b, c in zip(blocks, choice)]] = 1.0
    return x


@pytest.mark.parametrize("seed", range(8))
def test_lp_guided_search_stays_in_the_lp_neighbourhood_and_finds_the_optimum_it_holds(seed, monkeypatch):
    """Guided by an 'LP solution' that uses the brute-force optimum, with reduced costs that rank each job's
    dearest candidates first (1 kept per job): one window over the horizon reaches the optimum, and its first
    MILP offers every job only its start, the LP's candidate and its kept one."""
    from carbonshift.scheduler.policies import oracle_search

    blocks, free, gpus = _instance(seed)
    start = _dear_start(blocks, free, gpus)
    if (start < 0).any():
        pytest.skip("the dear greedy found no complete schedule")
    opt, best = _best(seed)
    offered = []

    def spy(blocks, ks, cands, *args):
        offered.append([c.tolist() for c in cands])
        return real(blocks, ks, cands, *args)

    real = oracle_search._restricted_milp
    monkeypatch.setattr(oracle_search, "_restricted_milp", spy)
    costs = np.concatenate([b.cost.ravel() for b in blocks])
    guide = LpGuide(_columns(blocks, best), -np.where(np.isfinite(costs), costs, 0.0), per_job=1)
    found, _ = improve_by_windows(blocks, start, free, gpus, time.monotonic() + 10.0, guide, window_h=T,
                                  sub_time_s=5.0, sub_gap=0.0)
    assert _feasible(blocks, found, free, gpus)
    assert _kg(blocks, found) == pytest.approx(opt, rel=1e-7)
    for b, c, s, lp in zip(blocks, offered[0], start.tolist(), best):
        dearest = int(np.argmax(np.where(np.isfinite(b.cost.ravel()), b.cost.ravel(), -np.inf)))
        assert set(c) <= {s, lp, dearest} and {s, lp} <= set(c)


def test_lp_guided_search_visits_the_windows_furthest_above_the_lp_first(monkeypatch):
    """Two far-apart pairs of jobs, each pair in windows of its own: the guided search solves first a window
    of the pair whose carbon lies furthest above the LP's (job 1: 40 kgCO2e), not the earliest (job 0: 4)."""
    from carbonshift.scheduler.policies import oracle_search

    blocks = [_Block(0, 0, 2, 2, 0, np.array([[5.0, 1.0]])), _Block(1, 300, 2, 2, 2, np.array([[50.0, 10.0]])),
              _Block(2, 1, 1, 1, 4, np.array([[1.0]])), _Block(3, 301, 1, 1, 5, np.array([[1.0]]))]
    free, gpus, start = np.full((1, 400), 9), np.ones(4, np.int64), np.zeros(4, np.int64)
    solved = []

    def spy(blocks, ks, *args):
        solved.append(ks.tolist())
        return real(blocks, ks, *args)

    real = oracle_search._restricted_milp
    monkeypatch.setattr(oracle_search, "_restricted_milp", spy)
    guide = LpGuide(_columns(blocks, [1, 1, 0, 0]), np.zeros(6))
    found, n = improve_by_windows(blocks, start, free, gpus, time.monotonic() + 10.0, guide, window_h=48)
    assert solved[0] == [1, 3] and [0, 2] in solved
    assert found.tolist() == [1, 1, 0, 0] and n >= 2


@pytest.mark.parametrize("seed", range(8))
def test_lp_guided_search_widens_an_exhausted_neighbourhood_up_to_the_optimum(seed):
    """Guided by a useless 'LP' (the dear start itself, dearest candidates first, 1 kept per job), the sweeps
    that find nothing double the candidates per job until every one is in: one window over the horizon still
    reaches the brute-force optimum."""
    blocks, free, gpus = _instance(seed)
    start = _dear_start(blocks, free, gpus)
    if (start < 0).any():
        pytest.skip("the dear greedy found no complete schedule")
    costs = np.concatenate([b.cost.ravel() for b in blocks])
    guide = LpGuide(_columns(blocks, start), -np.where(np.isfinite(costs), costs, 0.0), per_job=1)
    found, _ = improve_by_windows(blocks, start, free, gpus, time.monotonic() + 10.0, guide, window_h=T,
                                  sub_time_s=5.0, sub_gap=0.0)
    assert _feasible(blocks, found, free, gpus)
    assert _kg(blocks, found) == pytest.approx(_optimum(seed), rel=1e-7)
