"""The package installs as ``carbonshift.*``: pyproject's package list covers every source folder, a user's own
``scheduler.py`` / ``forecast.py`` / ``experiments.py`` (a notebook folder) never shadows it, and a built wheel
holds only ``carbonshift/…`` with its data files."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("forecast", "scheduler", "experiments")
SHADOW = 'raise ImportError("a user module shadowed carbonshift")\n'


def test_package_list_covers_every_source_folder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"carbonshift": "carbonshift", **{f"carbonshift.{f}": f for f in FOLDERS}}
    on_disk = {"carbonshift"} | {
        "carbonshift." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk


@pytest.mark.slow
def test_a_notebook_folder_with_its_own_scheduler_py_runs_the_quickstart(tmp_path):
    for name in FOLDERS:
        (tmp_path / f"{name}.py").write_text(SHADOW)
    plugins = ("CARBONSHIFT_KINDS", "CARBONSHIFT_POLICIES", "CARBONSHIFT_FORECASTERS")   # other tests' plug-ins live on their own PYTHONPATH
    env = {**{k: v for k, v in os.environ.items() if k not in plugins},
           "PYTHONPATH": str(tmp_path), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run([str(bin_dir / "carbonshift"), "run", str(ROOT / "experiments/configs/quickstart_schedule.yaml"),
                           "--set", "forecast.source=synthetic", "--reports-dir", str(tmp_path / "reports"), "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"status": "FINISHED"' in proc.stdout and "cooperative" in proc.stdout
    # the same from Python in that folder (cwd first on sys.path, as in a notebook)
    code = (
        "from carbonshift.scheduler.policies.registry import policy_names\n"
        "import carbonshift.scheduler as s, carbonshift.forecast as f\n"
        f"assert s.__file__.startswith({str(ROOT)!r}) and f.__file__.startswith({str(ROOT)!r})\n"
        "assert 'cooperative' in policy_names()\n"
        "try:\n    import scheduler\nexcept ImportError as e:\n    print('user module:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "user module: a user module shadowed carbonshift" in out.stdout


@pytest.mark.slow
def test_the_wheel_holds_only_carbonshift_with_its_data_files(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=600, cwd=tmp_path)
    wheel = next(tmp_path.glob("carbonshift-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"carbonshift", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}, tops
    assert "carbonshift/forecast/data/registry.json" in names and "carbonshift/experiments/configs/paper_main.yaml" in names
    assert "carbonshift/scheduler/policies/cooperative.py" in names and "carbonshift/experiments/kinds/simulate.py" in names
