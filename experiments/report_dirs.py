"""Where a run's figures and tables go on disk: ``reports/<config name>/<run id>/``, one folder per MLflow run
(``reports/`` is the project's, whatever the current directory), with ``reports/<config name>/latest`` pointing
to the name's last successful run."""
from __future__ import annotations

import os
from pathlib import Path

from carbonshift.experiments.execution import Output
from carbonshift.experiments.tracking import project_dir
from carbonshift.forecast.data.paths import inside

REPORTS_DIR = project_dir("reports")   # the project's reports/, whatever the current directory
LATEST = "latest"   # reports/<name>/latest -> the folder of the name's last successful run


def safe_name(name: str) -> str:
    """``name`` as one file-name component: characters other than letters, digits, ``-``, ``_`` and ``.`` become
    ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_reports(output: Output, out_dir: Path) -> list[Path]:
    """Write figures (PNG) and tables (CSV) of one run to ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in output.figures.items():
        (out_dir / name).write_bytes(png)
        written.append(out_dir / name)
    for name, table in output.tables.items():
        path = out_dir / f"{safe_name(name)}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    return written


def run_report_dir(reports_dir: str | Path, name: str, run_id: str) -> Path:
    """``<reports_dir>/<name>/<run_id>/``: one folder per MLflow run, so runs of one config never overwrite each
    other's figures and tables."""
    return inside(Path(reports_dir).resolve(), safe_name(name), run_id)


def point_latest(run_dir: Path) -> None:
    """Make ``<run_dir's parent>/latest`` a relative symlink to ``run_dir`` (the last successful run of that name;
    configs read e.g. ``reports/quickstart_forecast/latest/forecast_ensemble.csv``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, link)    # atomic: a reader sees the old or the new run, never no link
