"""Docs and entry points that must stay true: the licence matches pyproject, every shipped dataset has its
licence in the README, the source papers are cited (not "the seed"), ``make ui`` follows the CLI's store."""
from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_license_file_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert (ROOT / "LICENSE").read_text().splitlines()[0] == f"{declared} License"


def test_every_dataset_of_the_registry_has_a_licence_in_the_readme():
    registry = json.loads((ROOT / "forecast/data/registry.json").read_text())
    text = json.dumps(registry)
    folders = {f for f in ("electricitymaps", "openmeteo", "dacf", "alibaba_gpu_v2023", "letswaitawhile")
               if f"{f}/" in text}
    assert folders, "registry.json lists no dataset folder"
    rows = {line.split("|")[1].strip(" `/"): line.split("|")[-2].strip() for line in README.splitlines()
            if line.startswith("| `") and line.count("|") == 5}
    for folder in folders:
        assert rows.get(folder), f"README data table: no licence for {folder}/"


def test_source_papers_are_cited_in_full():
    section = README[README.index("## Source papers"):README.index("## Notebooks")]
    for needle in ("Haojun Weng and Xiaoying Li", "Renewable-Aware Cooperative Scheduling",
                   "Green Distributed AI Training", "Stefano Salsano", "arXiv:2602.22760"):
        assert needle in section
    assert "the seed" not in README


def _make_ui(tmp_path: Path, **env: str) -> str:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "mlflow").write_text('#!/bin/sh\necho "mlflow $*"\n')
    (fake / "mlflow").chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CARBONSHIFT_RUNS_DIR")}
    out = subprocess.run(["make", "-s", "ui", f"BIN={fake}", *[f"{k}={v}" for k, v in env.items() if k == "PORT"]],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**base, **{k: v for k, v in env.items() if k != "PORT"}})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_ui_honours_the_tracking_uri_and_port(tmp_path):
    assert f"--backend-store-uri sqlite:///{ROOT}/mlruns/mlflow.db --host 127.0.0.1 --port 5000" in _make_ui(tmp_path)
    out = _make_ui(tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/x.db", PORT="5123")
    assert f"--backend-store-uri sqlite:///{tmp_path}/x.db --host 127.0.0.1 --port 5123" in out
    out = _make_ui(tmp_path, CARBONSHIFT_RUNS_DIR=str(tmp_path / "runs"))
    assert f"--backend-store-uri sqlite:///{tmp_path}/runs/mlflow.db" in out
    out = _make_ui(tmp_path, MLFLOW_TRACKING_URI="http://mlflow.example:5000")
    assert "is a tracking server" in out and "mlflow ui" not in out


def test_readme_python_example_runs_and_returns_dataframes(store, monkeypatch, capsys):
    import re

    import pandas as pd

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("carbonshift.experiments.runner.REPORTS_DIR", store.root / "reports")
    section = README[README.index("### From Python"):README.index("### Metric glossary")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), scope)
    assert scope["rec"].status == "FINISHED" and isinstance(scope["policies"], pd.DataFrame)
    assert list(scope["policies"]["policy"]) == ["performance_first", "greedy_carbon", "cooperative"]
    assert scope["rec"].report_dir.parent.parent == store.root / "reports"
    assert scope["rec"].run_id in set(scope["runs"]["run_id"])
