"""What a reported value averages, in words for a figure's title: how many seeds (and the spread shown), or how
many trials a value pools over which swept keys."""
from __future__ import annotations

import pandas as pd

from carbonshift.experiments.figures import key_words


def seeds_note(n: pd.Series) -> str:
    """``mean ± std over N seeds`` (``N–M`` when groups differ), or ``1 seed`` (no spread); ``n``: runs per
    group (the ``n`` column of :func:`experiments.report.frame.aggregate`)."""
    if n.empty:
        return "no runs"
    lo, hi = int(n.min()), int(n.max())
    if hi <= 1:
        return "1 seed"
    return f"mean ± std over {lo if lo == hi else f'{lo}–{hi}'} seeds"


def spread_note(n: pd.Series) -> str:
    """:func:`seeds_note` plus what the error bars are, when there are any (more than one seed)."""
    note = seeds_note(n)
    return note if note in ("1 seed", "no runs") else f"{note}; error bars = std"


def pooled_note(n_runs: int, varied: list[str]) -> str:
    """What a value pooled over ``n_runs`` runs is: ``1 seed``, ``mean over 3 seeds``, or ``mean over 12 trials
    pooling <swept keys> and seeds``."""
    if n_runs <= 1:
        return "1 seed"
    if not varied:
        return f"mean over {n_runs} seeds"
    return f"mean over {n_runs} trials, pooling every {' × '.join(key_words(k) for k in varied)} value and seeds"
