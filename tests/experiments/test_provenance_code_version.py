"""Code version: one definition, in every run's tags/summary/--json, in the trial identity used by
``--resume``, and listed (with a warning when mixed) in RESULTS.md, which holds no machine paths."""
from __future__ import annotations

import json
import subprocess

import mlflow
import pytest

from carbonshift.experiments import provenance
from carbonshift.forecast import version as forecast_version
from carbonshift.experiments.cli import main
from carbonshift.experiments.results import write_results
from carbonshift.experiments.config_doc import parse_doc
from carbonshift.experiments.run_tags import config_hash
from carbonshift.experiments.runner import run_config


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A throw-away git checkout standing in for the project root."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "a.py").write_text("x = 1\n")
    _git(root, "add", "a.py")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    monkeypatch.setattr(forecast_version, "PROJECT_ROOT", root)
    return root


def test_code_version_is_the_commit_plus_a_dirty_flag(repo):
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert provenance.code_version() == sha
    (repo / "untracked.py").write_text("y = 2\n")          # untracked files are not part of the version
    assert provenance.code_version() == sha
    (repo / "a.py").write_text("x = 2\n")
    assert provenance.code_version() == f"{sha}-dirty"
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "second")
    second = provenance.code_version()
    assert second != sha and "dirty" not in second and len(second) == 12      # another commit, another version


def test_code_version_outside_a_checkout_and_when_git_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(forecast_version, "PROJECT_ROOT", tmp_path)              # no .git
    assert provenance.code_version() == "carbonshift 0.1.0"
    (tmp_path / ".git").mkdir()

    def broken(*args, **kwargs):
        raise OSError("no git here")

    monkeypatch.setattr(forecast_version.subprocess, "run", broken)
    assert provenance.code_version() == "carbonshift 0.1.0"                              # never fails


def test_project_relative_paths():
    root = provenance.PROJECT_ROOT
    assert provenance.project_relative(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}") == "sqlite:///mlruns/mlflow.db"
    assert provenance.project_relative(root / "experiments/configs/x.yaml") == "experiments/configs/x.yaml"
    assert provenance.project_relative("/elsewhere/data/db.sqlite") == "<outside the project>/db.sqlite"
    assert provenance.project_relative("configs/x.yaml") == "configs/x.yaml"


def test_trial_identity_includes_the_code_version(store, monkeypatch):
    kind, cfg = parse_doc({"kind": "tiny", "name": "t"}, "t")
    assert config_hash(kind.name, cfg, "aaa") != config_hash(kind.name, cfg, "bbb")
    monkeypatch.setattr("carbonshift.experiments.run_tags.code_version", lambda: "ccc")
    assert config_hash(kind.name, cfg) == config_hash(kind.name, cfg, "ccc")       # default: this checkout


@pytest.mark.slow   # a run logged to MLflow; the fast tag check: test_every_tracked_run_is_tagged
def test_run_json_tags_and_summary_carry_the_code_version(store, capsys, monkeypatch):
    monkeypatch.setattr("carbonshift.experiments.runner.code_version", lambda: "dddd5555eeee")
    path = store.write_config({"kind": "tiny", "name": "tiny_cv"})
    assert main(["run", str(path), "--json", "--reports-dir", str(store.root / "reports")]) == 0
    doc = json.loads(capsys.readouterr().out)
    version = "dddd5555eeee"
    assert doc["code_version"] == version and doc["summary"]["code_version"] == version
    c = mlflow.MlflowClient(store.uri)
    assert c.get_run(doc["run_id"]).data.tags[provenance.TAG] == version
    summary = json.loads(open(c.download_artifacts(doc["run_id"], "summary.json", str(store.root))).read())
    assert summary["code_version"] == version


@pytest.mark.slow
def test_resume_reruns_trials_finished_under_other_code(store, ray_local, monkeypatch):
    from carbonshift.experiments.sweep import run_sweep

    path = store.write_config({"kind": "tiny", "name": "tiny_resume_cv", "sweep": {"seed": [0, 1]}})
    monkeypatch.setattr("carbonshift.experiments.runner.code_version", lambda: "old-code")
    monkeypatch.setattr("carbonshift.experiments.sweep.code_version", lambda: "old-code")
    first = run_sweep(path, reports_dir=store.root / "reports", progress=False)
    assert first.n_run == 2 and first.code_version == "old-code"
    same = run_sweep(path, resume=True, reports_dir=store.root / "reports", progress=False)
    assert same.n_skipped == 2 and same.n_run == 0
    monkeypatch.setattr("carbonshift.experiments.runner.code_version", lambda: "new-code")
    monkeypatch.setattr("carbonshift.experiments.sweep.code_version", lambda: "new-code")
    newer = run_sweep(path, resume=True, reports_dir=store.root / "reports", progress=False)
    assert newer.n_skipped == 0 and newer.n_run == 2
    trials = mlflow.MlflowClient(store.uri).search_runs(
        [mlflow.MlflowClient(store.uri).get_experiment_by_name("tiny_resume_cv").experiment_id],
        filter_string="tags.`carbonshift.role` = 'trial'")
    assert sorted(t.data.tags[provenance.TAG] for t in trials) == ["new-code", "new-code", "old-code", "old-code"]


@pytest.mark.slow
def test_results_list_code_versions_warn_when_mixed_and_hold_no_machine_paths(store, tmp_path, monkeypatch):
    monkeypatch.setattr("carbonshift.experiments.runner.code_version", lambda: "aaaa11112222")
    run_config({"kind": "tiny", "name": "tiny_a"}, reports_dir=tmp_path / "reports")
    monkeypatch.setattr("carbonshift.experiments.results.RUN_TABLES", {"tiny_a": [("policies", None)]})
    out = tmp_path / "RESULTS.md"
    write_results(out)
    text = out.read_text()
    assert "Code version of the runs shown: `aaaa11112222` (tiny_a)." in text and "Warning" not in text
    monkeypatch.setattr("carbonshift.experiments.runner.code_version", lambda: "bbbb33334444-dirty")
    run_config({"kind": "tiny", "name": "tiny_b"}, reports_dir=tmp_path / "reports")
    monkeypatch.setattr("carbonshift.experiments.results.RUN_TABLES", {"tiny_a": [("policies", None)],
                                                           "tiny_b": [("policies", None)]})
    write_results(out)
    text = out.read_text()
    assert "`aaaa11112222` (tiny_a); `bbbb33334444-dirty` (tiny_b)" in text
    assert "**Warning: these results come from 2 different code versions**" in text and "uncommitted changes" in text
    for machine in (str(store.root), str(tmp_path), "/tmp/", "/root/", "/home/", "/work/"):
        assert machine not in text


def test_sweep_dry_run_json_names_the_code_version(store, capsys, monkeypatch):
    monkeypatch.setattr("carbonshift.experiments.sweep.code_version", lambda: "ffff6666aaaa")
    path = store.write_config({"kind": "tiny", "name": "tiny_dry", "sweep": {"seed": [0, 1]}})
    assert main(["sweep", str(path), "--dry-run", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["code_version"] == "ffff6666aaaa" and doc["n_trials"] == 2


def test_every_tracked_run_is_tagged(store, monkeypatch):
    from carbonshift.experiments import tracking

    monkeypatch.setattr("carbonshift.experiments.provenance.code_version", lambda: "1234abcd5678")
    with tracking.run("tagged", "plain", {"a": 1}) as active:                 # e.g. `forecast train`
        rid = active.info.run_id
    with tracking.run("tagged", "given", tags={provenance.TAG: "given-version"}) as active:
        given = active.info.run_id
    c = mlflow.MlflowClient(store.uri)
    assert c.get_run(rid).data.tags[provenance.TAG] == "1234abcd5678"
    assert c.get_run(given).data.tags[provenance.TAG] == "given-version"
