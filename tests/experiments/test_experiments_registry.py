"""A kind module that fails to import does not take the other kinds down, and its error is reported."""
from __future__ import annotations

import pytest

from carbonshift.experiments import registry


def test_broken_kind_module_is_isolated_and_reported(tmp_path, monkeypatch):
    import carbonshift.experiments.kinds as kinds_pkg

    (tmp_path / "broken_kind.py").write_text("import no_such_module_for_carbonshift_tests\n")
    monkeypatch.setattr(kinds_pkg, "__path__", [*kinds_pkg.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_BROKEN", {})
    assert "panel_summary" in registry.kinds()
    with pytest.raises(KeyError, match=r"broken_kind failed to import \(ModuleNotFoundError"):
        registry.get("some_kind_of_that_module")
    assert registry.get("panel_summary").name == "panel_summary"
