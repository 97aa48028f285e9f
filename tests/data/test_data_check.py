"""`carbonshift data check`: every malformed-input kind is rejected with file + row/time + problem;
every shipped file is accepted."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.data.check import check_file
from carbonshift.forecast.data.validate import DataValidationError


@pytest.fixture(scope="module")
def em_lines(shared_data: Path) -> list[str]:
    """Header + first 72 hours of a real Electricity Maps export (GB 2023)."""
    with gzip.open(shared_data / "electricitymaps/GB_2023_hourly.csv.gz", "rt", encoding="utf-8") as fh:
        return [next(fh) for _ in range(73)]


def _write(tmp_path: Path, lines: list[str], name: str = "GB_2023_hourly.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _set(line: str, col: int, value: str) -> str:
    cells = line.rstrip("\n").split(",")
    cells[col] = value
    return ",".join(cells) + "\n"


def _reject(path: Path, *fragments: str) -> str:
    with pytest.raises(DataValidationError) as err:
        check_file(path)
    msg = str(err.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_clean_slice_passes(tmp_path, em_lines):
    result = check_file(_write(tmp_path, em_lines))
    assert (result.kind, result.rows) == ("electricitymaps", 72)


def test_duplicate_hour(tmp_path, em_lines):
    lines = em_lines[:11] + [em_lines[10]] + em_lines[11:]
    _reject(_write(tmp_path, lines), "duplicate hour", "row 12", "2023-01-01 09:00:00")


def test_gap(tmp_path, em_lines):
    lines = em_lines[:20] + em_lines[23:]
    _reject(_write(tmp_path, lines), "gap", "3 missing hour", "at 2023-01-01 18:00:00+00:00 → 2023-01-01 22:00:00+00:00 (3 h missing)")


def test_non_monotonic(tmp_path, em_lines):
    lines = list(em_lines)
    lines[30], lines[31] = lines[31], lines[30]
    _reject(_write(tmp_path, lines), "backwards")


@pytest.mark.parametrize("col,value,problem", [
    (4, "", "missing value (NaN) in 'ci_direct'"),
    (4, "-5.0", "negative value in 'ci_direct'"),
    (5, "2500", "implausible carbon intensity"),
    (7, "130.5", "percentage outside 0–100 in 'renewable_pct'"),
    (6, "abc", "non-numeric value in 'low_carbon_pct'"),
])
def test_bad_values_name_row_and_time(tmp_path, em_lines, col, value, problem):
    lines = list(em_lines)
    lines[40] = _set(lines[40], col, value)
    _reject(_write(tmp_path, lines), problem, "row 41", "2023-01-02 15:00:00")


def test_kilograms_instead_of_grams(tmp_path, em_lines):
    lines = [em_lines[0]]
    for line in em_lines[1:]:
        cells = line.split(",")
        cells[4] = f"{float(cells[4]) / 1000:.5f}"
        cells[5] = f"{float(cells[5]) / 1000:.5f}"
        lines.append(",".join(cells))
    _reject(_write(tmp_path, lines), "looks like kgCO2eq/kWh")


def test_unparseable_timestamp(tmp_path, em_lines):
    lines = list(em_lines)
    lines[5] = _set(lines[5], 0, "2023-13-01 04:00:00")
    _reject(_write(tmp_path, lines), "unparseable timestamp", "row 6")


def test_offset_in_utc_column(tmp_path, em_lines):
    lines = [em_lines[0]] + [_set(l, 0, l.split(",")[0] + "+02:00") for l in em_lines[1:]]
    _reject(_write(tmp_path, lines), "non-zero UTC offset", "row 2")


def test_missing_or_renamed_column(tmp_path, em_lines):
    lines = [em_lines[0].replace("Renewable Percentage", "Renewables")] + em_lines[1:]
    _reject(_write(tmp_path, lines), "missing column", "renewable_pct")


def test_empty_and_truncated(tmp_path, em_lines):
    _reject(_write(tmp_path, [], "empty.csv"), "empty file")
    _reject(_write(tmp_path, em_lines[:5], "short.csv"), "truncated")
    gz = tmp_path / "cut.csv.gz"
    gz.write_bytes(gzip.compress("".join(em_lines).encode())[:300])
    _reject(gz, "cannot")


def test_sub_hourly_rejected(tmp_path, em_lines):
    lines = list(em_lines)
    lines[3] = _set(lines[3], 0, "2023-01-01 02:30:00")
    _reject(_write(tmp_path, lines), "not at the start of an hour")


def test_openmeteo_truncated_and_out_of_range(tmp_path, shared_data):
    doc = json.loads(gzip.open(shared_data / "openmeteo/GB_2023.json.gz").read())
    doc["hourly"]["cloudcover"][7] = 140
    bad = tmp_path / "GB_2023.json"
    bad.write_text(json.dumps(doc))
    _reject(bad, "cloudcover", "[7]")
    doc["hourly"]["time"] = doc["hourly"]["time"][:-10]
    bad.write_text(json.dumps(doc))
    _reject(bad, "unequal length")


def test_repair_only_when_asked_and_reported(tmp_path, em_lines):
    path = _write(tmp_path, em_lines[:20] + em_lines[22:] + [em_lines[-1]])
    _reject(path, "duplicate hour")
    result = check_file(path, repair=True)
    assert result.rows == 72
    assert result.notes and "interpolated 2 hour(s)" in result.notes[0]
    assert "2023-01-01 19:00:00" in result.notes[0]
    (tmp_path / "long").mkdir()
    long_gap = _write(tmp_path / "long", em_lines[:20] + em_lines[26:])
    with pytest.raises(DataValidationError, match="cannot be repaired"):
        check_file(long_gap, repair=True)


@pytest.mark.slow
def test_every_shipped_file_is_accepted(shared_data):
    files = sorted(shared_data.rglob("*.gz"))
    assert len(files) == 80
    kinds = {check_file(p).kind for p in files}
    assert kinds == {"electricitymaps", "openmeteo", "dacf", "dacf_forecasts", "alibaba_pods", "alibaba_nodes",
                     "letswaitawhile"}


@pytest.mark.slow   # checks a whole shipped year
def test_cli_exit_codes_and_json(tmp_path, em_lines, shared_data, capsys):
    good = shared_data / "dacf/PJM_2019_clean.csv.gz"
    bad = _write(tmp_path, em_lines[:11] + [em_lines[10]] + em_lines[11:])
    assert main(["data", "check", str(good)]) == 0
    capsys.readouterr()
    assert main(["data", "check", str(good), str(bad), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] == 1 and doc["invalid"] == 1
    assert "duplicate hour" in doc["errors"][0]["error"]


def _edit(em_lines: list[str], edit) -> list[str]:
    """Header + every data line passed through ``edit(cells)`` (cells: 4 direct, 5 LCA, 6 low-carbon %,
    7 renewable %)."""
    out = [em_lines[0]]
    for line in em_lines[1:]:
        cells = line.rstrip("\n").split(",")
        edit(cells)
        out.append(",".join(cells) + "\n")
    return out


def test_percentages_given_as_fractions_are_an_error(tmp_path, em_lines):
    def to_fraction(cells):
        cells[7] = f"{float(cells[7]) / 100:.4f}"
    _reject(_write(tmp_path, _edit(em_lines, to_fraction)),
            "'renewable_pct' looks like 0–1 fractions, not percentages", "multiply by 100")


def test_lifecycle_below_direct_is_an_error_naming_rows(tmp_path, em_lines):
    lines = list(em_lines)
    lines[40] = _set(lines[40], 5, "10.0")  # LCA 10 < direct (≈ 60–200 in GB)
    _reject(_write(tmp_path, lines), "'ci_lca' below 'ci_direct' in 1 row(s)",
            "life-cycle intensity includes the direct emissions", "row 41", "2023-01-02 15:00:00")


def test_low_carbon_below_renewable_is_an_error(tmp_path, em_lines):
    def swap(cells):  # the shares swapped: low-carbon (≈ 85 %) now under renewable (≈ 60 %)
        cells[6], cells[7] = cells[7], cells[6]
    _reject(_write(tmp_path, _edit(em_lines, swap)), "'low_carbon_pct' below 'renewable_pct' in 72 row(s)",
            "renewables are low-carbon", "row 2")


def test_equal_shares_and_rounding_are_accepted(tmp_path, em_lines):
    def equal(cells):  # a grid whose only low-carbon power is renewable (AU-NSW, SG in the bundle)
        cells[6] = f"{float(cells[7]) - 0.01:.2f}"  # and the export rounded one down by 0.01
    assert check_file(_write(tmp_path, _edit(em_lines, equal))).rows == 72


def test_a_day_long_flat_line_is_a_warning_with_rows(tmp_path, em_lines, capsys):
    lines = list(em_lines)
    for i in range(11, 36):  # rows 12–36 (25 h) hold one LCA value
        lines[i] = _set(lines[i], 5, "423.45")
    path = _write(tmp_path, lines)
    notes = check_file(path).notes
    assert notes == ["warning: 'ci_lca' flat at 423.45 for 25 h, rows 12–36 (2023-01-01 10:00:00+00:00 → "
                     "2023-01-02 10:00:00+00:00): a stuck or filled-in feed?"]
    assert main(["data", "check", str(path)]) == 0 and "warning: 'ci_lca' flat" in capsys.readouterr().out
    lines[35] = _set(lines[35], 5, "423.46")  # 24 h flat: still flagged; 23 h is not
    assert len(check_file(_write(tmp_path, lines)).notes) == 1
    lines[34] = _set(lines[34], 5, "423.47")
    assert check_file(_write(tmp_path, lines)).notes == []
