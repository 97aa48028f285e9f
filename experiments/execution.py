"""Run one kind in this process and make its :class:`~experiments.registry.Result` portable (:class:`Output`:
picklable across Ray workers, figures rendered to PNG bytes).

:func:`execute` adds ``trial_seconds`` (wall clock, s) and ``trial_peak_rss_mb`` (peak resident memory of the
process that ran the kind, MB) to the metrics, and records the data files the kind read from the data dir
(``forecast.data.registry.used_files``) with their sha256. An exception inside the kind becomes
``Output.error``, so one failing trial does not bring down a sweep.
"""
from __future__ import annotations

import hashlib
import io
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import registry
from carbonshift.experiments.figures import add_caption, run_caption
from carbonshift.forecast.data.registry import reset_used, used_files


@dataclass
class Output:
    """A kind's :class:`~experiments.registry.Result` made portable (picklable across Ray workers):
    figures rendered to PNG bytes and extra files read into memory."""

    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    data_files: dict[str, str] = field(default_factory=dict)   # <folder>/<file> read -> sha256


def data_checksums(paths: list[Path]) -> dict[str, str]:
    """``<folder>/<file> -> sha256`` of the data files a run read (as found in the data dir, compressed or not)."""
    return {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def execute(run_fn: Any, config: Any, ctx: registry.Context) -> Output:
    """Run one kind in this process; adds ``trial_seconds`` and ``trial_peak_rss_mb``.

    An exception inside the kind becomes ``Output.error`` (type, message and the last traceback
    lines) so one failing trial does not bring down a sweep."""
    import traceback

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    reset_used()
    try:
        result = run_fn(config, ctx)
    except Exception as exc:  # reported per trial; the caller marks the MLflow run FAILED
        tail = "".join(traceback.format_exception(exc)[-3:])
        return Output(metrics={"trial_seconds": time.perf_counter() - start},
                      error=f"{type(exc).__name__}: {exc}\n{tail}", data_files=data_checksums(used_files()))
    seconds = time.perf_counter() - start
    figures = {}
    caption = run_caption(str(getattr(config, "name", "")), getattr(config, "seed", None), result.summary,
                          ctx.trial)
    for name, fig in result.figures.items():
        add_caption(fig, caption)   # every run figure says which run, seed and where/when it shows
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        figures[name if name.endswith(".png") else f"{name}.png"] = buf.getvalue()
    metrics = {k: float(v) for k, v in result.metrics.items()}
    metrics["trial_seconds"] = seconds
    metrics["trial_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    files = {Path(p).name: Path(p).read_bytes() for p in result.files}
    return Output(metrics, dict(result.tables), figures, files, dict(result.summary),
                  data_files=data_checksums(used_files()))
