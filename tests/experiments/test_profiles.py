"""Run profiles: every override of a shipped profile parses against its config; the CLI applies and records it."""
import json
import re
from pathlib import Path

import pytest

from carbonshift.experiments.cli import main
from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.profiles import CONFIG_DIR, FULL, load_profile, profile_names, profile_overrides
from carbonshift.experiments.config_doc import parse_doc, read_doc
from carbonshift.experiments.sweep import expand, plan


@pytest.mark.slow                      # parses every reduced trial (≈ 10 s on 2 cores)
@pytest.mark.parametrize("name", [n for n in profile_names() if n != FULL])
def test_every_profile_override_parses_against_its_shipped_config(name):
    entries = load_profile(name)
    assert entries, f"profile {name} overrides nothing"
    for stem, overrides in entries.items():
        path = CONFIG_DIR / f"{stem}.yaml"
        doc, source = read_doc(path, overrides)
        if "sweep" in doc:
            n_full = len(expand(read_doc(path)[0]["sweep"]))
            assert len(plan(path, overrides).trials) < n_full, f"{name}: {stem} does not reduce its sweep"
        else:
            raw = read_doc(path)[0]
            for key in overrides:                    # a key the config itself sets (no typo beside it)
                node = raw
                for part in key.split(".")[:-1]:
                    node = node[part]
                assert key.split(".")[-1] in node, f"{name}: {stem}: {key} is not a key the config sets"
            if stem in NEEDS_A_PRIOR_RUN:                # parsing reads what the prior run writes
                continue
            doc.pop("sweep", None)
            assert parse_doc(doc, source)[1] != parse_doc(*read_doc(path))[1], f"{name}: {stem} changes nothing"


#: shipped configs whose parse reads another run's output (forecast_tune's best parameters)
NEEDS_A_PRIOR_RUN = {"forecast_dacf_tuned"}


def test_two_core_cuts_only_what_it_says():
    two = load_profile("two_core")
    assert two["forecast_em"] == {"targets": ["ci_direct"], "windows.test_end": "2023-03-31"}
    assert profile_overrides("two_core", "elsewhere/forecast_em.yaml") == two["forecast_em"]   # matched by stem
    assert profile_overrides("two_core", "own_zone.yaml") == {}
    assert profile_overrides(FULL, CONFIG_DIR / "forecast_em.yaml") == {}


def test_unknown_profile_is_a_config_error_naming_the_available_ones(capsys):
    with pytest.raises(ConfigError, match="unknown profile.*two_core"):
        profile_overrides("laptop", "paper_main.yaml")
    assert main(["sweep", str(CONFIG_DIR / "sweep_flexibility.yaml"), "--profile", "laptop", "--dry-run"]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_sweep_dry_run_under_a_profile_lists_its_reduced_grid(capsys):
    assert main(["sweep", str(CONFIG_DIR / "sweep_flexibility.yaml"), "--profile", "two_core", "--dry-run",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_trials"] == 6


#: shipped configs `make results` does not run (the Makefile says why)
NOT_IN_RESULTS = {"quickstart_data", "quickstart_forecast", "quickstart_schedule", "quickstart_sweep", "own_zone",
                  "forecast_quick", "tft_gpu_bench"}


def _chain(make: str, var: str) -> list[tuple[str, str]]:
    block = make.split(f"{var} :=")[1].split(":=")[0]
    return re.findall(r"\b(run|sweep):(\w+)", block)


def test_make_results_runs_every_shipped_config_after_the_tables_it_reads():
    make = (Path(__file__).parents[2] / "Makefile").read_text()
    chains = [_chain(make, "RESULTS_CHAIN_1"), _chain(make, "RESULTS_CHAIN_2")]
    steps = chains[0] + chains[1]
    names = [n for _, n in steps]
    assert len(names) == len(set(names))
    assert set(names) == {p.stem for p in CONFIG_DIR.glob("*.yaml")} - NOT_IN_RESULTS
    assert all((kind == "sweep") == ("sweep" in read_doc(CONFIG_DIR / f"{n}.yaml")[0]) for kind, n in steps)
    # the chains run side by side: a run that reads a table is in the same chain, after it
    for reader, table in [("sweep_forecasters", "forecast_members"), ("forecast_dacf_tuned", "forecast_tune"),
                          ("sweep_accuracy_ensemble", "forecast_paper_period")]:
        chain = next([n for _, n in c] for c in chains if reader in [n for _, n in c])
        assert table in chain and chain.index(table) < chain.index(reader)
