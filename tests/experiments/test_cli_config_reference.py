"""docs/config_reference.md is generated from the config dataclasses and kept current by this test."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from carbonshift.experiments import registry
from carbonshift.experiments.cli import main
from carbonshift.forecast.bounds import bounded

ROOT = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    committed = (ROOT / registry.REFERENCE_PATH).read_text()
    assert committed == registry.config_reference() + "\n", (
        "docs/config_reference.md is stale: run `carbonshift config-reference --output docs/config_reference.md`")


@dataclass
class Inner:
    rate: float = bounded(0.5, gt=0, le=1)   # share of jobs, fraction


@dataclass
class Outer:
    kind: str
    inner: Inner = field(default_factory=Inner)
    extra: Inner | None = None


def test_reference_rows_show_sections_types_defaults_ranges_and_comments():
    rows = registry._reference_rows(Outer, "")
    assert rows == ["| `kind` | str | **required** |  |  |",
                    "| `inner` | section | present | |  |",
                    "| `inner.rate` | float | `0.5` | > 0, ≤ 1 | share of jobs, fraction |",
                    "| `extra` | section | absent | |  (optional: present = enabled) |",
                    "| `extra.rate` | float | `0.5` | > 0, ≤ 1 | share of jobs, fraction |"]


def test_command_prints_every_shipped_kind(capsys):
    assert main(["config-reference"]) == 0
    out = capsys.readouterr().out
    for kind in ("simulate", "backtest", "plan_bench"):
        assert f"## kind: `{kind}`" in out
    assert "| `workload.n_jobs` | int | `1000` | ≥ 1, ≤ 1e+06 |" in out and "tiny" not in out
