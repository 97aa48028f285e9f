"""A user's data dir: any zone, year or DACF region with the bundle's layout, validated like shipped files."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from carbonshift.forecast.data.panel import load_dacf_panel, load_panel
from carbonshift.forecast.data.validate import DataValidationError


def _user_zone(shared: Path, dest: Path, zone: str = "ZZ-TEST", year: int = 2024, src: str = "GB_2023",
               shift_days: int = 365) -> Path:
    """A shipped export turned into ``zone``'s ``year`` (Zone Id rewritten, times moved by ``shift_days``)."""
    frame = pd.read_csv(shared / "electricitymaps" / f"{src}_hourly.csv.gz", dtype=str, keep_default_na=False)
    frame["Zone Id"] = zone
    frame["Datetime (UTC)"] = (pd.to_datetime(frame["Datetime (UTC)"]) + pd.Timedelta(days=shift_days)).dt.strftime(
        "%Y-%m-%d %H:%M:%S")
    path = dest / "electricitymaps" / f"{zone}_{year}_hourly.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_unknown_zone_and_later_year_from_a_user_dir(shared_data, tmp_path):
    _user_zone(shared_data, tmp_path)
    panel = load_panel(["ZZ-TEST"], [2024], weather=False, data_dir=tmp_path)
    assert panel["region"].unique().tolist() == ["ZZ-TEST"]
    assert panel["time"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC") and len(panel) == 8760
    shipped = load_panel(["GB"], [2023], weather=False, data_dir=tmp_path)   # the bundle still resolves behind it
    assert (panel["ci_direct"].to_numpy() == shipped["ci_direct"].to_numpy()).all()


def test_zone_id_and_year_must_match_the_file_name(shared_data, tmp_path):
    path = _user_zone(shared_data, tmp_path)
    path.rename(path.with_name("OTHER_2024_hourly.csv"))
    with pytest.raises(DataValidationError, match="'Zone Id' is 'ZZ-TEST' but the file name says zone 'OTHER'"):
        load_panel(["OTHER"], [2024], weather=False, data_dir=tmp_path)
    _user_zone(shared_data, tmp_path, year=2025)
    with pytest.raises(DataValidationError, match=r"hour outside UTC year 2025 .* at row 2 \(2024-01-01"):
        load_panel(["ZZ-TEST"], [2025], weather=False, data_dir=tmp_path)


def test_ci_column_holding_mw_is_named_and_can_be_excluded(shared_data, tmp_path):
    path = _user_zone(shared_data, tmp_path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    lca = "Carbon Intensity gCO₂eq/kWh (LCA)"
    frame[lca] = (pd.to_numeric(frame[lca]) * 95.0).round(1).astype(str)   # ~20 000: MW, not gCO2eq/kWh
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"'ci_lca' holds power, not carbon intensity .* at row 2 "):
        load_panel(["ZZ-TEST"], [2024], weather=False, data_dir=tmp_path)
    panel = load_panel(["ZZ-TEST"], [2024], weather=False, data_dir=tmp_path, exclude=["ci_lca"])
    assert "ci_lca" not in panel.columns and panel["ci_direct"].notna().all()


def test_user_weather_json_is_found_next_to_the_export(shared_data, tmp_path):
    _user_zone(shared_data, tmp_path, year=2021, src="GB_2021", shift_days=0)
    (tmp_path / "openmeteo").mkdir()
    with gzip.open(shared_data / "openmeteo" / "GB_2021.json.gz", "rb") as src:
        (tmp_path / "openmeteo" / "ZZ-TEST_2021.json").write_bytes(src.read())
    panel = load_panel(["ZZ-TEST"], [2021], weather=True, data_dir=tmp_path)
    gb = load_panel(["GB"], [2021], weather=True, data_dir=tmp_path)
    assert panel["obs_temperature_c"].equals(gb["obs_temperature_c"])


def test_unknown_dacf_region_from_a_user_dir(shared_data, tmp_path):
    (tmp_path / "dacf").mkdir()
    with gzip.open(shared_data / "dacf" / "SE_2019_clean.csv.gz", "rb") as src:
        (tmp_path / "dacf" / "NO1_2019_clean.csv").write_bytes(src.read())
    panel = load_dacf_panel(["NO1", "CISO"], data_dir=tmp_path)
    assert panel.groupby("region").size().to_dict() == {"NO1": 26304, "CISO": 26304}
    with pytest.raises(FileNotFoundError, match=r"no dacf/XX_2019_clean\.csv\.gz or \.csv in "):
        load_dacf_panel(["XX"], data_dir=tmp_path)


def test_dacf_carbon_intensity_holding_mw_names_the_file_column(shared_data, tmp_path):
    (tmp_path / "dacf").mkdir()
    frame = pd.read_csv(shared_data / "dacf" / "SE_2019_clean.csv.gz", index_col=0)
    frame.loc[frame.index[:], "carbon_intensity"] = frame["hydro"]   # upstream defect: a generation column (MW)
    frame.to_csv(tmp_path / "dacf" / "NO1_2019_clean.csv")
    with pytest.raises(DataValidationError, match=r"NO1_2019_clean\.csv: 'carbon_intensity' holds power, not carbon "
                                                  r"intensity .* at row 2 \(2019-01-01"):
        load_dacf_panel(["NO1"], data_dir=tmp_path)
    panel = load_dacf_panel(["NO1"], data_dir=tmp_path, exclude=["ci_lca"])
    assert "ci_lca" not in panel.columns and panel["ci_direct"].notna().all()


def test_config_rejects_excluding_a_target():
    from carbonshift.experiments.config import ConfigError, parse
    from carbonshift.experiments.kinds.backtest import BacktestConfig

    doc = {"kind": "backtest", "name": "t", "data": {"source": "electricitymaps", "regions": ["CA-ON"], "years": [2024],
                                                      "exclude_columns": ["ci_direct"]},
           "windows": {"train_end": "2024-02-29", "val_start": "2024-03-01", "val_end": "2024-03-14",
                       "test_start": "2024-03-15", "test_end": "2024-03-28"}}
    with pytest.raises(ConfigError, match="target 'ci_direct' is in data.exclude_columns"):
        parse(doc, BacktestConfig, "x.yaml")
    doc["data"]["exclude_columns"] = ["ci_lca"]
    assert parse(doc, BacktestConfig, "x.yaml").data.exclude_columns == ["ci_lca"]


def test_data_list_shows_and_validates_user_files(shared_data, tmp_path, capsys):
    import json

    from carbonshift.experiments.cli import main

    _user_zone(shared_data, tmp_path)
    bad = _user_zone(shared_data, tmp_path, zone="BAD", year=2023, shift_days=0)
    bad.write_text(bad.read_text().replace("2023-03-01 05:00:00", "2023-03-01 04:00:00"))   # a duplicate hour
    assert main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    rows = {r["file"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    ours = rows["electricitymaps/ZZ-TEST_2024_hourly.csv"]
    assert ours["upstream"] == "your data dir (not in the registry)" and ours["rows"] == 8760
    assert rows["electricitymaps/BAD_2023_hourly.csv"]["start"] == "invalid: duplicate hour"
    assert rows["electricitymaps/GB_2023_hourly.csv.gz"]["resolved"] == str(shared_data)
