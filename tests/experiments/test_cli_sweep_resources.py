"""Ray trials request GPUs for neural training (``num_gpus``), and a sweep on an existing cluster ships the package
and the environment its trials need (``runtime_env``)."""
from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import mlflow
import pytest

from carbonshift.experiments import ray_setup, sweep
from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.config_doc import parse_doc, read_doc

ROOT = Path(__file__).resolve().parents[2]


def _config(name: str):
    doc, source = read_doc(ROOT / "experiments/configs" / name)
    doc.pop("sweep", None)
    return parse_doc(doc, source)[1]


def test_neural_trials_request_a_gpu_when_the_cluster_has_one():
    neural, plain = _config("forecast_dacf.yaml"), _config("quickstart_schedule.yaml")
    assert sweep.trains_neural(neural) and not sweep.trains_neural(plain)
    on_cpu = dataclasses.replace(neural, trainer=dataclasses.replace(neural.trainer, accelerator="cpu"))
    assert sweep.trial_resources(on_cpu, None, cluster_gpus=4)["num_gpus"] == 0.0     # trainer.accelerator: cpu
    assert sweep.trial_resources(neural, None, cluster_gpus=4) == {"num_cpus": 1, "num_gpus": 1.0}
    assert sweep.trial_resources(neural, None, cluster_gpus=0) == {"num_cpus": 1, "num_gpus": 0.0}
    assert sweep.trial_resources(plain, None, cluster_gpus=4) == {"num_cpus": 1, "num_gpus": 0.0}
    assert sweep.trial_resources(plain, 0.5, cluster_gpus=1) == {"num_cpus": 1, "num_gpus": 0.5}
    with pytest.raises(ConfigError, match=r"--gpus-per-trial 2: expected 0 to the Ray cluster's 1 GPUs"):
        sweep.trial_resources(neural, 2, cluster_gpus=1)


@pytest.mark.slow
def test_the_request_reaches_ray(store, ray_local, monkeypatch):
    seen: list[dict] = []
    real = sweep.trial_resources

    def spy(config, gpus_per_trial, cluster_gpus):
        seen.append(real(config, gpus_per_trial, cluster_gpus))
        return seen[-1]

    monkeypatch.setattr(sweep, "trial_resources", spy)
    doc = {"kind": "tiny", "name": "tiny_gpu_request", "sweep": {"seed": [0, 1]}}
    rec = sweep.run_sweep(doc, reports_dir=store.root / "reports", progress=False)
    assert rec.n_run == 2 and seen == [{"num_cpus": 1, "num_gpus": 0.0}] * 2
    with pytest.raises(ConfigError, match="--gpus-per-trial 1: expected 0 to the Ray cluster's 0 GPUs"):
        sweep.run_sweep({**doc, "seed": 5}, reports_dir=store.root / "reports", progress=False, gpus_per_trial=1)
    parents = mlflow.search_runs(experiment_names=["tiny_gpu_request"], output_format="list",
                                 filter_string="tags.`carbonshift.role` = 'sweep'")
    assert sorted(r.info.status for r in parents) == ["FAILED", "FINISHED"]       # none left RUNNING


def test_cluster_runtime_env_ships_the_package_and_the_environment(monkeypatch):
    monkeypatch.setenv("CARBONSHIFT_DATA_DIR", "/shared/carbon-data")
    monkeypatch.setenv("CARBONSHIFT_POLICIES", "my_policies")
    monkeypatch.delenv("CARBONSHIFT_KINDS", raising=False)
    env = ray_setup.cluster_runtime_env()
    assert env["working_dir"] == str(ROOT) and ".venv" in env["excludes"] and "mlruns" in env["excludes"]
    assert env["env_vars"]["CARBONSHIFT_DATA_DIR"] == "/shared/carbon-data"
    assert env["env_vars"]["CARBONSHIFT_POLICIES"] == "my_policies" and "CARBONSHIFT_KINDS" not in env["env_vars"]



SECRETS = [".env", ".env.production", "prod.env", ".envrc", "credentials", "credentials.json", "gcp-credentials.json",
           "aws/credentials", ".aws/config", "certs/server.pem", "certs/server.key", "keys/id_rsa", "keys/id_ed25519.pub",
           ".netrc", ".git-credentials", "notebooks/.env", "deep/er/client_secret.json", "hf_token.json", ".kube/config",
           "store.p12"]
KEPT = ["carbonshift/__init__.py", "forecast/live/transport.py", "forecast/live/redact.py", "experiments/configs/a.yaml",
        "README.md", "pyproject.toml", "keys/README.md"]


def test_cluster_working_dir_leaves_out_secret_looking_files(tmp_path):
    """What Ray's own packaging (the code that zips ``working_dir``) ships of a project folder holding secrets."""
    from ray._private.runtime_env.packaging import create_package

    project = tmp_path / "project"
    for name in [*SECRETS, *KEPT]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    target = tmp_path / "pkg.zip"
    create_package(str(project), target, include_gitignore=False, excludes=list(ray_setup.SHIP_EXCLUDES))
    with zipfile.ZipFile(target) as z:
        shipped = {n.rstrip("/") for n in z.namelist()}
    assert set(KEPT) <= shipped  # the package still travels
    leaked = [n for n in SECRETS if n in shipped]
    assert leaked == [], leaked
    from ray._private.runtime_env.packaging import _get_excludes

    excluded = _get_excludes(ROOT, list(ray_setup.SECRET_EXCLUDES))
    modules = [p for folder in ("forecast", "scheduler", "experiments") for p in (ROOT / folder).rglob("*.py")]
    assert len(modules) > 50 and [p for p in modules if excluded(p)] == []  # no module of the package is dropped


HEAD = """
import sys, ray
ray.init(num_cpus=2, _temp_dir=sys.argv[1], _node_ip_address="127.0.0.1", include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()          # until the test closes stdin
ray.shutdown()
"""


@pytest.mark.slow
def test_sweep_on_an_existing_cluster_ships_the_package_and_reports_worker_errors(store, tmp_path):
    """A Ray instance started by another process stands in for a cluster: the sweep connects with RAY_ADDRESS
    (runtime_env: the package as working_dir, PYTHONPATH forwarded so trials import the tiny kind), and a failing
    trial's error reaches the driver and its MLflow run. The head is this test's own child process, ended by
    closing its stdin."""
    import subprocess
    import sys

    env = {**store.env, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen([sys.executable, "-c", HEAD, store.env["CARBONSHIFT_RAY_TMP"]], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        config = store.write_config({"kind": "tiny", "name": "tiny_cluster", "sweep": {"fail": [False, True]}})
        proc = subprocess.run([sys.executable, "-m", "carbonshift.experiments.cli", "sweep", str(config), "--json",
                               "--reports-dir", str(tmp_path / "reports")], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={**env, "RAY_ADDRESS": address})
    finally:
        head.stdin.close()
        head.wait(timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "tiny kind asked to fail" in proc.stderr            # the worker's error, on the driver
    client = mlflow.MlflowClient(store.uri)                   # the sweep's store, whatever this process's default
    failed = client.search_runs([client.get_experiment_by_name("tiny_cluster").experiment_id],
                                filter_string="tags.`carbonshift.role` = 'trial' and attributes.status = 'FAILED'")
    assert len(failed) == 1 and "tiny kind asked to fail" in failed[0].data.tags["carbonshift.error"]
