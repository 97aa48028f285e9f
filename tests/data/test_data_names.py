"""A data dir fails clearly instead of falling back, and `data check` checks exactly what a run reads:
file names (zone and UTC year) included, whole folders, `--data-dir`."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.data.check import check_file
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.registry import DataDirError
from carbonshift.forecast.data.validate import DataValidationError


def _export(shared: Path, path: Path, zone: str, shift_days: int, hours: int = 72) -> Path:
    """The first ``hours`` of the shipped GB 2023 export as ``zone``, times moved by ``shift_days``."""
    frame = pd.read_csv(shared / "electricitymaps/GB_2023_hourly.csv.gz", dtype=str, keep_default_na=False,
                        nrows=hours)
    frame["Zone Id"] = zone
    frame["Datetime (UTC)"] = (pd.to_datetime(frame["Datetime (UTC)"]) + pd.Timedelta(days=shift_days)).dt.strftime(
        "%Y-%m-%d %H:%M:%S")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_check_runs_the_loaders_name_checks(shared_data, tmp_path):
    em = tmp_path / "electricitymaps"
    kr = _export(shared_data, em / "CA-ON_2024_hourly.csv", "KR", 365)
    with pytest.raises(DataValidationError, match="'Zone Id' is 'KR' but the file name says zone 'CA-ON'.*KR_2024_hourly"):
        check_file(kr)
    late = _export(shared_data, em / "GB_2022_hourly.csv", "GB", 0)
    with pytest.raises(DataValidationError, match=r"hour outside UTC year 2022 .* at row 2 \(2023-01-01"):
        check_file(late)
    odd = _export(shared_data, em / "gb-export-2023.csv", "GB", 0)
    with pytest.raises(DataValidationError, match="file name is not <ZONE>_<YEAR>_hourly.csv.*no run reads it"):
        check_file(odd)
    assert check_file(_export(shared_data, em / "CA-ON_2023_hourly.csv", "CA-ON", 0)).rows == 72
    assert check_file(shared_data / "electricitymaps/DE-LU_2023_hourly.csv.gz").kind == "electricitymaps"  # zone DE


def test_check_takes_folders_and_data_dir(shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CARBONSHIFT_DATA_DIR", raising=False)
    em = tmp_path / "electricitymaps"
    _export(shared_data, em / "CA-ON_2023_hourly.csv", "CA-ON", 0)
    _export(shared_data, em / "CA-ON_2024_hourly.csv", "KR", 365)
    (tmp_path / "README.md").write_text("notes\n")
    assert main(["data", "check", str(tmp_path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["valid"], doc["invalid"]) == (1, 1)
    assert doc["errors"][0]["file"].endswith("CA-ON_2024_hourly.csv")
    assert main(["data", "check", "--data-dir", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["invalid"] == 1
    (em / "CA-ON_2024_hourly.csv").unlink()
    monkeypatch.setenv("CARBONSHIFT_DATA_DIR", str(tmp_path))
    assert main(["data", "check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] == 1


def test_a_missing_data_dir_is_an_error_not_the_bundle(shared_data, tmp_path, capsys, monkeypatch):
    missing = tmp_path / "nonexistent"
    with pytest.raises(DataDirError, match=f"--data-dir={missing}: no such folder"):
        load_panel(["GB"], [2023], weather=False, data_dir=missing)
    monkeypatch.setenv("CARBONSHIFT_DATA_DIR", str(missing))
    with pytest.raises(DataDirError, match="CARBONSHIFT_DATA_DIR=.*no such folder.*unset CARBONSHIFT_DATA_DIR"):
        load_panel(["GB"], [2023], weather=False)
    assert main(["data", "list"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_csv_and_csv_gz_of_one_file_is_ambiguous(shared_data, tmp_path):
    em = tmp_path / "electricitymaps"
    _export(shared_data, em / "GB_2023_hourly.csv", "GB", 0)
    (em / "GB_2023_hourly.csv.gz").write_bytes((shared_data / "electricitymaps/GB_2023_hourly.csv.gz").read_bytes())
    with pytest.raises(DataDirError, match="both GB_2023_hourly.csv.gz and GB_2023_hourly.csv .* ambiguous"):
        load_panel(["GB"], [2023], weather=False, data_dir=tmp_path)
