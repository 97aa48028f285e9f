"""Shared fixtures: where the real data lives, and an isolated MLflow store per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from carbonshift.forecast.data.registry import REPO_ROOT

SHARED = Path(os.environ.get("CARBONSHIFT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"real data not found at {SHARED}; set CARBONSHIFT_DATA_DIR")
    return SHARED


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A throw-away sqlite MLflow store for one test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr("carbonshift.experiments.tracking.RUNS_DIR", tmp_path)
    return uri
