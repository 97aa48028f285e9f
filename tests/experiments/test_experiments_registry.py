"""A kind module that fails to import does not take the other kinds down, and its error is reported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from carbonshift.experiments import registry

ROOT = Path(__file__).parents[2]


def test_broken_kind_module_is_isolated_and_reported(tmp_path, monkeypatch):
    import carbonshift.experiments.kinds as kinds_pkg

    (tmp_path / "broken_kind.py").write_text("import no_such_module_for_carbonshift_tests\n")
    monkeypatch.setattr(kinds_pkg, "__path__", [*kinds_pkg.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_BROKEN", {})
    assert "panel_summary" in registry.kinds()
    with pytest.raises(KeyError, match=r"broken_kind failed to import \(ModuleNotFoundError"):
        registry.get("some_kind_of_that_module")
    assert registry.get("panel_summary").name == "panel_summary"


def test_looking_up_a_kind_imports_only_its_module():
    """A config error is refused in well under a second (issue 24): finding kind ``simulate`` imports
    experiments/kinds/simulate.py alone, and parsing its config loads neither scikit-learn, scipy, matplotlib nor
    MLflow (seconds of imports)."""
    code = ("import sys; from carbonshift.experiments import registry; registry.get('simulate'); "
            "from carbonshift.experiments.config_doc import parse_doc, read_doc; "
            "parse_doc(*read_doc('experiments/configs/paper_main.yaml', {})); "
            "print(sorted(m for m in sys.modules if m.startswith('carbonshift.experiments.kinds.') "
            "or m.split('.')[0] in ('sklearn', 'scipy', 'matplotlib', 'mlflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert out.stdout.strip() == "['carbonshift.experiments.kinds.simulate']", out.stdout


def test_every_shipped_kind_lives_in_the_module_of_its_name():
    """:func:`registry.get` imports ``experiments/kinds/<name>.py`` first; a kind named otherwise would cost the
    import of every kind module."""
    shipped = {n: k for n, k in registry.kinds().items() if k.run.__module__.startswith("carbonshift.experiments.kinds.")}
    assert shipped and all(k.run.__module__ == f"carbonshift.experiments.kinds.{n}" for n, k in shipped.items())
