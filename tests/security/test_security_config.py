"""Hostile configs fail fast and short: one clear line, exit status 2, never a traceback or an expansion."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from carbonshift.experiments.cli import main
from carbonshift.experiments.config import MAX_DEPTH, ConfigError, load_yaml, parse, safe_yaml, shown
from carbonshift.forecast.bounds import bounded

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"
OK = (CONFIGS / "quickstart_schedule.yaml").read_text() + "\nsweep: {seed: [0, 1]}\n"
POLICIES = "policies: [performance_first, cooperative, risk_aware]"


def laughs(levels: int = 9) -> str:
    """A billion-laughs value: 9 levels of 9 aliases = 9^9 ≈ 387 million strings once expanded."""
    chain = ["&x0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"] + [
        "&x%d [%s]" % (i, ",".join([f"*x{i - 1}"] * 9)) for i in range(1, levels)]
    return "[[" + ", ".join(chain) + "]]"


def one_line_exit_2(capsys, argv: list[str], expected: str) -> None:
    started = time.monotonic()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err, err
    assert len(err) < 600 and time.monotonic() - started < 30   # imports included; an unbounded bomb takes far longer


@pytest.mark.parametrize("name, text, expected", [
    ("laughs", OK.replace(POLICIES, f"policies: {laughs()}"), "aliases expand to more than 100000 values"),
    ("deep", OK.replace(POLICIES, "policies: " + "[" * 50_000 + "]" * 50_000), "nested deeper than 32 levels"),
    ("hugeint", OK.replace("n_jobs: 200", "n_jobs: " + "9" * 5000), "invalid YAML value (ValueError)"),
])
def test_hostile_yaml_file_is_one_line(tmp_path, capsys, name, text, expected):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    one_line_exit_2(capsys, ["sweep", "--dry-run", str(path)], expected)


def test_binary_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 100)
    one_line_exit_2(capsys, ["sweep", "--dry-run", str(path)], "not UTF-8 text (byte 0)")
    one_line_exit_2(capsys, ["run", str(path)], "not UTF-8 text (byte 0)")


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("item, expected", [
    ("workload.n_jobs=[1,", "invalid YAML"),
    ("workload.n_jobs={", "invalid YAML"),
    ("workload.n_jobs", "expected KEY=VALUE"),
    (f"policies={laughs()}", "aliases expand to more than 100000 values"),
])
def test_bad_set_is_one_line(tmp_path, capsys, command, item, expected):
    path = tmp_path / "ok.yaml"
    path.write_text(OK)
    extra = ["--dry-run"] if command == "sweep" else []
    one_line_exit_2(capsys, [command, *extra, str(path), "--set", item], expected)


def test_depth_limit_is_exact():
    assert safe_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "x") is not None
    with pytest.raises(ConfigError, match="nested deeper"):
        safe_yaml("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH, "x")


def test_small_aliases_still_work(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("base: &b {x: 1}\nother: *b\n")
    assert load_yaml(path) == {"base": {"x": 1}, "other": {"x": 1}}


def test_messages_truncate_values():
    assert len(shown("x" * 10_000)) <= 81 and shown(10**5000) == "<int too large to show>"
    assert len(shown([[list(range(1000))] * 1000] * 1000)) <= 81


def test_bounded_fields_are_checked_at_parse_time():
    from dataclasses import dataclass

    @dataclass
    class Section:
        n: int = bounded(1, ge=1, le=100)
        rate: float = bounded(1.0, gt=0)
        opt: float | None = bounded(None, ge=0)

    assert parse({"n": 100, "opt": None}, Section).n == 100
    for doc, message in [({"n": 0}, "n: must be ≥ 1, got 0"), ({"n": 101}, "n: must be ≤ 100, got 101"),
                         ({"rate": 0.0}, "rate: must be > 0, got 0.0"), ({"opt": -1}, "opt: must be ≥ 0, got -1.0"),
                         ({"rate": float("nan")}, "rate: must be a number, got nan")]:
        with pytest.raises(ConfigError, match=message):
            parse(doc, Section, "s.yaml")


@pytest.mark.parametrize("item, message", [
    ("workload.n_jobs=1000000000", "workload.n_jobs: must be ≤ 1e+06, got 1000000000"),
    ("workload.n_jobs=0", "workload.n_jobs: must be ≥ 1, got 0"),
    ("datacenters.wan_gbps=0", "datacenters.wan_gbps: must be > 0, got 0.0"),
    ("datacenters.network_kwh_per_gb=-0.1", "datacenters.network_kwh_per_gb: must be ≥ 0, got -0.1"),
    ("oracle.time_limit_s=0", "oracle.time_limit_s: must be > 0, got 0.0"),
    ("oracle.time_limit_s=.nan", "oracle.time_limit_s: must be a number, got nan"),
    ("oracle.max_jobs_milp=-1", "oracle.max_jobs_milp: must be ≥ 0, got -1"),
    # keyed once from the root (was forecast.forecast.horizon_h), NaN never switches a term off, and a scheduler
    # dataclass's ValueError is a config error (exit 2), not a failed run
    ("forecast.horizon_h=0", "ok.yaml: forecast.horizon_h: must be ≥ 1"),
    ("forecast.k=-1", "forecast.k: σ/mean must be a finite number ≥ 0, got -1.0"),
    ("forecast.e=.nan", "forecast.e: the ±e/2 width must be a finite number ≥ 0, got nan"),
    ("policy_options.risk_lambda=.nan", "policy_options.risk_lambda: expected a finite number ≥ 0, got nan"),
    ("policy_options.delay_weight_kg_per_h=.nan", "policy_options.delay_weight_kg_per_h: expected a finite number"),
    ("policy_options.risk_alpha=0.3", "policy_options.risk_alpha: expected one of"),
])
def test_simulate_ranges_are_checked_at_parse_time(tmp_path, capsys, item, message):
    path = tmp_path / "ok.yaml"
    path.write_text(OK)
    one_line_exit_2(capsys, ["sweep", "--dry-run", str(path), "--set", item], message)


def test_scaling_n_jobs_upper_bound(capsys):
    one_line_exit_2(capsys, ["run", str(CONFIGS / "scaling.yaml"), "--set", "workload.n_jobs=1000000000"],
                    "workload.n_jobs: must be ≤ 1e+06")


GRID_1E9 = ("{seed: [0,1,2,3,4,5,6,7,8,9], forecast.accuracy: [0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0], "
            + ", ".join(f"{key}: [{', '.join(str(i + 1) for i in range(10))}]" for key in
                        ("forecast.correlation_h", "forecast.issue_every_h", "workload.gpu_kw", "datacenters.pue",
                         "datacenters.wan_gbps", "oracle.time_limit_s", "workload.max_deadline_h")) + "}")


@pytest.mark.parametrize("name, sweep, expected", [
    # issue 24: 5.5 GB then an empty MemoryError (exit 1); a NaN step or an infinite stop was exit 1
    ("tiny_step", "{workload.flexibility: {start: 0, stop: 100000000, step: 1.0e-300}}",
     "tiny_step.yaml: sweep.workload.flexibility: 0 to 100000000 in steps of 1e-300 is 1e+308 values, more than "
     "a sweep's 10,000 trials"),
    ("long_range", "{seed: {start: 0, stop: 1000000000}}", "long_range.yaml: sweep.seed: 0 to 1000000000"),
    ("grid_1e9", GRID_1E9, "grid_1e9.yaml: sweep: 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 = 1,000,000,000 trials"),
    ("two_grids", "[{seed: {start: 0, stop: 99}, forecast.accuracy: {start: 0.01, stop: 1.0, step: 0.01}}, "
                  "{seed: [0], workload.flexibility: [0.1]}]", "two_grids.yaml: sweep: 100 × 100 + 1 × 1 = 10,001 trials"),
    ("nan_step", "{workload.flexibility: {start: 0.1, stop: 0.6, step: .nan}}",
     "nan_step.yaml: sweep.workload.flexibility.step: expected a finite number, got nan"),
    ("inf_stop", "{seed: {start: 0, stop: .inf}}", "inf_stop.yaml: sweep.seed.stop: expected a finite number, got inf"),
    ("nan_start", "{seed: {start: .nan, stop: 3}}", "nan_start.yaml: sweep.seed.start: expected a finite number"),
])
def test_sweep_sizes_are_refused_before_anything_is_built(tmp_path, capsys, name, sweep, expected):
    path = tmp_path / f"{name}.yaml"
    path.write_text(OK.replace("sweep: {seed: [0, 1]}", f"sweep: {sweep}"))
    started = time.monotonic()
    one_line_exit_2(capsys, ["sweep", "--dry-run", str(path)], expected)
    assert time.monotonic() - started < 1.0          # imports already loaded: the refusal itself


@pytest.mark.parametrize("stem, item, expected", [
    # each sized an allocation and passed --dry-run (issue 24: history_jobs=1e9 allocated 7.45 GiB at run time)
    ("quickstart_schedule", "duration.history_jobs=1000000000", "duration.history_jobs: must be ≤ 1e+06"),
    ("quickstart_schedule", "forecast.horizon_h=1000000000", "quickstart_schedule.yaml: forecast.horizon_h: must be ≤ 168"),
    ("quickstart_schedule", "data.span_days=1000000000", "data.span_days: must be ≤ 3660"),   # was OutOfBoundsTimedelta
    ("quickstart_schedule", "data.tail_days=1000000000", "data.tail_days: must be ≤ 3660"),
    ("migration", "forecast.horizon_h=1000000000", "migration.yaml: forecast.horizon_h: must be ≤ 168"),
    ("migration", "workload.n_jobs=1000000000", "migration.yaml: workload.n_jobs: must be ≤ 1e+06"),
    ("migration", "feasibility.points=1000000000", "migration.yaml: feasibility.points: must be ≤ 1000"),
    ("migration", "data.span_days=1000000000", "migration.yaml: data.span_days: must be ≤ 3660"),
    ("topology", "workload.n_jobs=1000000000", "topology.yaml: workload.n_jobs: must be ≤ 1e+06"),
    ("topology", "data.span_days=1000000000", "topology.yaml: data.span_days: must be ≤ 3660"),
    ("scale_bench", "job_counts=[100, 1000000000]", "scale_bench.yaml: job_counts: one or more job counts, each 1 to"),
    ("scale_bench", "horizon_h=1000000000", "scale_bench.yaml: horizon_h: must be ≤ 168"),
    ("scaling", "workload.span_h=1000000000", "scaling.yaml: workload.span_h: must be ≤ 87840"),
    ("curtailment_training", "model.d_model=1000000000", "curtailment_training.yaml: model.d_model: must be ≤ 4096"),
    ("curtailment_training", "data.span_days=1000000000", "curtailment_training.yaml: data.span_days: must be ≤ 3660"),
    ("curtailment_forecast", "forecast_windows.val_days=1000000000",
     "curtailment_forecast.yaml: forecast_windows.val_days: must be ≤ 3660"),
    ("tft_gpu_bench", "issue_hour=1000000000", "tft_gpu_bench.yaml: issue_hour: must be 0–23 (UTC)"),   # was unchecked
    # issue 24, second round: sizes still accepted at 1e9 (exit 0 from --dry-run), each now refused by its bound
    *[(stem, f"{key}=1000000000", f"{stem}.yaml: {key}: must be ≤ {bound}") for stem, key, bound in [
        ("quickstart_schedule", "datacenters.gpus_per_region", "1e+06"),
        ("quickstart_schedule", "oracle.max_jobs_milp", "1e+06"),
        ("quickstart_schedule", "oracle.time_limit_s", "86400"),
        ("quickstart_schedule", "forecast.issue_every_h", "87840"),
        ("quickstart_schedule", "workload.max_deadline_h", "87840"),
        ("quickstart_schedule", "workload.gpu_scale", "1024"),
        ("quickstart_schedule", "duration.update_every", "1e+06"),
        ("quickstart_schedule", "duration.max_iter", "10000"),
        ("migration", "forecast.issue_every_h", "87840"),
        ("forecast_quick", "backtest.ensemble_window_days", "3660"),
        ("forecast_quick", "backtest.calibration_window_days", "3660"),
        ("scale_bench", "gpus_per_region", "1e+06"),
        ("scale_bench", "repeats", "1000"),
        ("scale_bench", "adapt_events", "100000"),
        ("scale_bench", "capacity_factor", "1000"),
        ("curtailment_training", "corpus.max_bytes_per_site", "1e+08"),
        ("curtailment_training", "corpus.val_bytes", "1e+08"),
        ("curtailment_training", "corpus.val_every", "1e+06"),
        ("curtailment_training", "training.total_steps", "1e+06"),
        ("curtailment_training", "training.steps_per_hour", "1e+06"),
        ("curtailment_training", "flower.ray_num_cpus", "1024"),
        ("curtailment_training", "flower.torch_threads", "1024"),
        ("curtailment_forecast", "forecast_windows.warmup_h", "87840"),
        ("duration", "duration.k", "1e+06"),
        ("duration", "duration.min_kind_count", "1e+06"),
        ("duration", "duration.max_iter", "10000"),
        ("duration", "duration.recent_window", "1e+06"),
        ("duration", "duration.feedback_chunks", "1000"),
        ("duration", "duration.max_tasks", "1e+06"),
        ("forecast_tune", "num_samples", "10000"),
        ("forecast_tune", "asha.grace_period", "10000"),
        ("forecast_tune", "gpus_per_trial", "1024"),
        ("forecast_tune", "num_cpus", "1024"),
    ]],
    # issue 24, third round: the library dataclasses configs expose (forecast models, scheduler options), declared
    # with the same forecast.bounds.bounded and checked by the same parser
    *[(stem, f"{key}=1000000000", f"{stem}.yaml: {key}: must be ≤ {bound}") for stem, key, bound in [
        ("forecast_dacf", "models.gbm.max_iter", "10000"),
        ("forecast_dacf", "models.gbm.max_leaf_nodes", "100000"),
        ("forecast_dacf", "models.gbm.min_samples_leaf", "1e+06"),
        ("forecast_dacf", "models.gbm.n_threads", "1024"),
        ("forecast_dacf", "models.gbm.train_days", "3660"),
        ("forecast_dacf", "models.prophet.train_days", "3660"),
        ("forecast_dacf", "models.lstm.encoder_h", "8784"),
        ("forecast_dacf", "models.lstm.hidden", "4096"),
        ("forecast_dacf", "models.lstm.layers", "64"),
        ("forecast_dacf", "models.lstm.max_epochs", "10000"),
        ("forecast_dacf", "models.lstm.batch_size", "65536"),
        ("forecast_dacf", "models.lstm.patience", "10000"),
        ("forecast_dacf", "models.lstm.stride_h", "87840"),
        ("forecast_dacf", "models.lstm.train_days", "3660"),
        ("forecast_dacf", "models.tft.encoder_h", "8784"),
        ("forecast_dacf", "models.tft.hidden", "4096"),
        ("forecast_dacf", "models.tft.attention_heads", "64"),
        ("forecast_dacf", "models.tft.max_epochs", "10000"),
        ("forecast_dacf", "models.tft.batch_size", "65536"),
        ("forecast_dacf", "models.tft.patience", "10000"),
        ("forecast_dacf", "models.tft.limit_train_batches", "1e+06"),
        ("forecast_dacf", "models.tft.stride_h", "87840"),
        ("forecast_dacf", "models.tft.train_days", "3660"),
        ("forecast_tune", "models.lstm.hidden", "4096"),
        ("forecast_tune", "models.tft.encoder_h", "8784"),
        ("tft_gpu_bench", "tft.encoder_h", "8784"),
        ("tft_gpu_bench", "tft.batch_size", "65536"),
        ("migration", "migration.lookahead_h", "168"),
        ("migration", "migration.decide_every_h", "87840"),
        ("migration", "migration.ckpt_gb_per_gpu", "10000"),
        ("migration_forecast", "windows.min_hours", "87840"),
        ("curtailment_training", "windows.min_hours", "87840"),
        ("paper_main", "policy_options.milp_time_limit_s", "86400"),
    ]],
    ("paper_capacity", "datacenters.overrides={GB: {gpus: 1000000000}}",
     "paper_capacity.yaml: datacenters.overrides.GB.gpus: must be ≤ 1e+06"),
    ("paper_capacity", "datacenters.overrides={GB: {gpus: 0}}",
     "paper_capacity.yaml: datacenters.overrides.GB.gpus: must be ≥ 1"),
    ("paper_capacity", "datacenters.overrides={GB: {pue: 0.5}}",
     "paper_capacity.yaml: datacenters.overrides.GB.pue: must be ≥ 1"),
    ("paper_capacity", "datacenters.overrides={GB: {gpu: 64}}",      # a typo was ignored: GB kept its default
     "paper_capacity.yaml: datacenters.overrides.GB: unknown setting(s) 'gpu'; known: gpus, pue"),
    # a tune search samples inside the same ranges
    ("forecast_tune", "search.lstm.hidden=[32, 1000000000]", "forecast_tune.yaml: search.lstm.hidden[1]: must be ≤ 4096"),
    ("forecast_tune", "search.tft.max_epochs={low: 1, high: 1000000000}",
     "forecast_tune.yaml: search.tft.max_epochs.high: must be ≤ 10000"),
])
def test_every_size_a_config_names_is_bounded_at_parse_time(capsys, stem, item, expected):
    one_line_exit_2(capsys, ["sweep", "--dry-run", str(CONFIGS / f"{stem}.yaml"), "--set", "sweep.seed=[0]",
                             "--set", item], expected)


def test_a_config_is_read_within_its_byte_budget_and_only_from_a_regular_file(tmp_path):
    import os

    from carbonshift.experiments.config import MAX_YAML_BYTES

    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_YAML_BYTES + 10))
    with pytest.raises(ConfigError, match="big.yaml: larger than 1000000 bytes"):
        load_yaml(big)
    with pytest.raises(ConfigError, match="zero: not a regular file"):
        load_yaml("/dev/zero")                      # would fill memory if read to its end
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="pipe.yaml: not a regular file"):
        load_yaml(fifo)                             # opening a FIFO with no writer would block forever
    assert time.perf_counter() - t0 < 5
    with pytest.raises(ConfigError, match="no such config file"):
        load_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "/etc", "a\x00b", "a\nb", "", " x", "x" * 101, 7])
def test_a_run_name_is_never_a_path(tmp_path, capsys, name):
    from carbonshift.experiments.config_doc import parse_doc

    with pytest.raises(ConfigError, match="name: .* is not a run name"):
        parse_doc({"kind": "simulate", "name": name}, "x.yaml")
    if isinstance(name, str) and "\x00" not in name:              # and from a file, before anything runs
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({"kind": "simulate", "name": name}))
        assert main(["run", str(cfg)]) == 2
        assert "is not a run name" in capsys.readouterr().err


def test_ordinary_run_names_pass():
    from carbonshift.experiments.config import RUN_NAME

    assert all(RUN_NAME.fullmatch(n) for n in ["paper_main", "sweep-2.v1", "A1", "x" * 100])
