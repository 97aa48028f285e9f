"""Log one run's :class:`~experiments.execution.Output` to its MLflow run — the one place that logs a
``Result``: metrics (batches of 900), artifacts ``tables/<name>.csv``, ``figures/<file>.png``, ``files/<file>``,
``summary.json``, ``data_files.json`` with tag :data:`~experiments.run_tags.DATA_TAG`, and ``error.txt``."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from carbonshift.experiments.execution import Output
from carbonshift.experiments.report_dirs import safe_name
from carbonshift.experiments.run_tags import DATA_TAG, data_tag


def log_output(client: Any, run_id: str, output: Output) -> None:
    """Log metrics, tables, figures, files and summary of ``output`` to MLflow run ``run_id``."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in sorted(output.metrics.items())]
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("tables", "figures", "files"):
            (root / folder).mkdir()
        for name, table in output.tables.items():
            table.to_csv(root / "tables" / f"{safe_name(name)}.csv", index=False)
        for name, png in output.figures.items():
            (root / "figures" / name).write_bytes(png)
        for name, data in output.files.items():
            (root / "files" / name).write_bytes(data)
        (root / "summary.json").write_text(json.dumps(output.summary, indent=1, default=str))
        if output.data_files:
            (root / "data_files.json").write_text(json.dumps(output.data_files, indent=1))
            client.set_tag(run_id, DATA_TAG, data_tag(output.data_files))
        if output.error:
            (root / "error.txt").write_text(output.error)
        for child in sorted(root.iterdir()):
            if child.is_dir() and any(child.iterdir()):
                client.log_artifacts(run_id, str(child), artifact_path=child.name)
            elif child.is_file():
                client.log_artifact(run_id, str(child))
