"""CLI errors after argument parsing: one or two lines saying what and how to fix, the traceback behind ``-v``
(before or after the subcommand), dates in ``--set``, ``--version``, a closed pipe, broken kind modules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from carbonshift.experiments import registry
from carbonshift.experiments.cli import build_parser, main
from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.config_doc import parse_doc, parse_overrides, read_doc

ROOT = Path(__file__).resolve().parents[2]
QUICK_SWEEP = str(ROOT / "experiments/configs/quickstart_sweep.yaml")


def test_verbose_works_before_and_after_the_subcommand():
    parser = build_parser()
    assert parser.parse_args(["report", "x", "-v"]).verbose
    assert parser.parse_args(["-v", "report", "x"]).verbose
    assert parser.parse_args(["forecast", "report", "x", "-v"]).verbose
    assert not parser.parse_args(["report", "x"]).verbose


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("carbonshift ")


def test_unquoted_date_in_set_is_the_date_as_text():
    doc, source = read_doc(QUICK_SWEEP, parse_overrides(["data.start=2024-03-15"]))
    doc.pop("sweep")
    assert parse_doc(doc, source)[1].data.start == "2024-03-15"


@pytest.mark.parametrize("dry_run", [True, False])
def test_impossible_date_is_one_clean_line(store, capsys, dry_run):
    args = ["sweep", QUICK_SWEEP, "--dry-run"] if dry_run else ["run", QUICK_SWEEP]
    assert main([*args, "--set", "data.start=2023-02-30"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert "data.start" in err and "day is out of range for month" in err and "Traceback" not in err


def test_out_of_range_set_names_the_key_once(store, capsys):
    assert main(["run", QUICK_SWEEP, "--set", "workload.n_jobs=-5"]) == 2
    err = capsys.readouterr().err
    assert err.count("n_jobs") == 1 and "must be ≥ 1, got -5" in err


def test_failed_run_is_one_line_and_recorded_traceback_with_v(store, capsys):
    config = store.write_config({"kind": "tiny", "name": "tiny_fails", "fail": True})
    assert main(["run", str(config), "--reports-dir", str(store.root / "reports")]) == 1
    out, err = capsys.readouterr()
    assert "carbonshift run: error: RuntimeError: tiny kind asked to fail" in err
    assert "Traceback" not in out + err and 'File "' not in out + err and "-v shows the traceback" in err
    run = mlflow.search_runs(experiment_names=["tiny_fails"], output_format="list")[0]
    assert run.info.status == "FAILED" and "tiny kind asked to fail" in run.data.tags["carbonshift.error"]
    assert main(["run", str(config), "--reports-dir", str(store.root / "reports"), "-v"]) == 1
    assert 'File "' in capsys.readouterr().err          # the traceback tail the runner kept


def test_unknown_run_in_report_says_so(store, capsys):
    assert main(["report", "no_such_run_anywhere"]) == 2
    assert "no MLflow sweep or run named 'no_such_run_anywhere'" in capsys.readouterr().err
    assert main(["forecast", "report", "0123456789abcdef"]) == 1
    err = capsys.readouterr().err
    assert "0123456789abcdef not found in the MLflow store" in err and "Traceback" not in err


def test_unexpected_error_is_one_line_and_a_hint_traceback_with_v(store, capsys, monkeypatch):
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("carbonshift.experiments.commands.run.run_config", boom)
    config = store.write_config({"kind": "tiny", "name": "tiny_ok"})
    assert main(["run", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["carbonshift run: error: OSError: disk full",
                                "(run `carbonshift run ... -v` for the traceback)"]
    assert main(["run", str(config), "-v"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.slow   # a CLI subprocess
def test_closed_pipe_prints_no_traceback(store):
    proc = subprocess.Popen([sys.executable, "-m", "carbonshift.experiments.cli", "sweep", QUICK_SWEEP, "--dry-run", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=store.env, cwd=ROOT)
    proc.stdout.close()          # the reader went away before the first write (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_kind_whose_module_failed_to_import_reports_the_import_error(tmp_path, monkeypatch):
    import carbonshift.experiments.kinds as kinds_pkg

    (tmp_path / "needs_extra.py").write_text("import no_such_optional_dependency_for_carbonshift\n")
    monkeypatch.setattr(kinds_pkg, "__path__", [*kinds_pkg.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_BROKEN", {})
    with pytest.raises(ConfigError, match=r"x.yaml: kind: experiment kind 'needs_extra' is unavailable: module "
                                          r"carbonshift.experiments.kinds.needs_extra failed to import \(ModuleNotFoundError"):
        parse_doc({"kind": "needs_extra", "name": "x"}, "x.yaml")
    with pytest.raises(ConfigError, match=r"unknown experiment kind 'other'.*needs_extra failed to import"):
        parse_doc({"kind": "other", "name": "x"}, "x.yaml")


def test_plugin_kind_module_that_fails_to_import_is_named(store, monkeypatch, capsys):
    monkeypatch.setenv("CARBONSHIFT_KINDS", "no_such_kind_plugin_for_carbonshift")
    config = store.write_config({"kind": "tiny", "name": "x"})
    assert main(["run", str(config)]) == 2
    assert ("CARBONSHIFT_KINDS: kind module 'no_such_kind_plugin_for_carbonshift' failed to import "
            "(ModuleNotFoundError") in capsys.readouterr().err


def test_unknown_zone_names_the_zones_there_and_how_to_add_one(store, capsys):
    config = store.write_config({"kind": "simulate", "name": "no_zone", "data": {"zones": ["XX-NOWHERE"]},
                                 "oracle": {"enabled": False}})
    assert main(["simulate", str(config), "--reports-dir", str(store.root / "reports")]) == 2   # a config error
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("carbonshift simulate: error: ") and "data.zones: 'XX-NOWHERE' in 2023 has no data: " \
        "no electricitymaps/XX-NOWHERE_2023_hourly.csv.gz or .csv in" in first
    assert "(file prefixes there: " in first and "GB, " in first
    assert "Bring your own zone" in first and "Traceback" not in err and len(err.splitlines()) == 1
