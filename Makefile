# carbonshift — set-up and entry points. A newcomer needs two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, pinned, from TORCH_INDEX when set. Default: whatever pip is configured with
# (a CPU wheel here). CUDA users: make demo TORCH_INDEX=https://download.pytorch.org/whl/cu128
# CPU-only users with internet: TORCH_INDEX=https://download.pytorch.org/whl/cpu (avoids GBs of CUDA wheels).
TORCH_INDEX ?=
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
export MLFLOW_DISABLE_TELEMETRY := true
export RAY_USAGE_STATS_ENABLED := 0
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install demo test test-slow typecheck results ui constraints clean

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,federated]"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# The quickstart, end to end on the shipped data (a few minutes on 2 cores): validate the panel → day-ahead
# forecasts → schedule on them → a tiny accuracy sweep on Ray → report. Tracked in ./mlruns (sqlite).
demo: $(STAMP)
	$(BIN)/carbonshift run experiments/configs/quickstart_data.yaml
	$(BIN)/carbonshift run experiments/configs/quickstart_forecast.yaml
	$(BIN)/carbonshift run experiments/configs/quickstart_schedule.yaml
	$(BIN)/carbonshift sweep experiments/configs/quickstart_sweep.yaml --resume
	$(BIN)/carbonshift report quickstart_sweep
	@echo; echo "Done. Figures and tables: reports/quickstart_*/latest/ (one folder per run id) — all runs in MLflow (./mlruns/mlflow.db): make ui"
	@echo "Next, in each new shell: source $(VENV)/bin/activate — then the README's commands (carbonshift …) work as shown."

# Tests and notebooks log to a throw-away MLflow store, never to ./mlruns or $$MLFLOW_TRACKING_URI.
TEST_ENV = env -u MLFLOW_TRACKING_URI CARBONSHIFT_RUNS_DIR=$$(mktemp -d)

# `make test` (≤ 3 min on 2 cores): the linter (ruff, pyflakes rules: pyproject.toml), every test not marked slow
# and the quick notebook. `make test-slow`: the heavy notebooks, then the tests marked slow (neural fits, real-data
# backtests, end-to-end CLI runs, sweep kill-and-resume, Flower, MILP oracle).
# test-slow ends with the marked tests and fails if none is selected (pytest exit 5), so CI's last summary
# is always a run that executed tests.
FAST_NOTEBOOKS := notebooks/01_forecast_exploration.ipynb
SLOW_NOTEBOOKS := notebooks/02_forecast_vs_reduction.ipynb notebooks/03_migration_feasibility.ipynb
test: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(TEST_ENV) $(BIN)/pytest -m "not slow" --nbmake tests $(FAST_NOTEBOOKS)

# `make typecheck`: mypy ([tool.mypy] in pyproject.toml) over the package as users import it, carbonshift.*;
# tools/typecheck.py resolves that name through a symlink tree in build/typecheck/ (README: Layout). CI runs it
# (.ci/run) before test-slow; ~1 min of CPU cold, ~10 s with its cache (build/mypy_cache).
typecheck: $(STAMP)
	$(BIN)/python tools/typecheck.py

test-slow: $(STAMP)
	$(TEST_ENV) $(BIN)/pytest --nbmake $(SLOW_NOTEBOOKS)
	$(TEST_ENV) $(BIN)/pytest -m slow tests

# Every shipped experiment and sweep, then RESULTS.md from MLflow, all from one code version. PROFILE=two_core
# (default) is the reduced profile for 2 cores (experiments/profiles/two_core.yaml says what it cuts); PROFILE=full
# runs every config as written (hours on 2 cores: a Ray cluster, RAY_ADDRESS). Two chains run side by side, each
# on one core (single-threaded GBM/Prophet fits, one simulation at a time, torch and BLAS held to one thread: two
# torch fits of two threads each oversubscribe 2 cores — RESULTS.md's run, before this limit, had one chain's TFT
# fit paused by hand for 224 s so the other's could finish), split so that their measured step times are about
# equal. Measured (RESULTS.md's run, eddeee0, two_core, 2 cores, helpers' tests beside it): 4,932 s = 1 h 22 min
# wall; chain 1 (every scheduling run and sweep + forecast_tune → forecast_dacf_tuned) 4,205 s, chain 2 (the other
# forecasting runs) 4,932 s including that pause; steps sum to 9,137 s. A run that reads another's table is in
# the same chain, after it (forecast_members → sweep_forecasters, forecast_paper_period → sweep_accuracy_ensemble,
# forecast_tune → forecast_dacf_tuned). A chain stops at its first failed step; the other finishes. Sweeps resume:
# trials that already finished under the same code and profile are not rerun. Each step's wall time goes to
# reports/results_timing.tsv, each chain's output to reports/results_chain<N>.log. Not in it: the quickstart (make
# demo), own_zone (a user's files), forecast_quick and tft_gpu_bench (a GPU benchmark).
PROFILE ?= two_core
RESULTS_CHAIN_1 := run:forecast_tune run:forecast_dacf_tuned run:paper_main run:paper_capacity run:duration_mismatch \
        run:temporal_only run:regional run:scale_bench run:duration_feedback run:migration run:migration_forecast \
        run:curtailment_training run:curtailment_forecast run:topology run:duration run:scaling sweep:sweep_accuracy \
        sweep:sweep_flexibility sweep:sweep_regions sweep:sweep_composition sweep:scale
RESULTS_CHAIN_2 := run:forecast_dacf run:forecast_em run:forecast_members sweep:sweep_forecasters \
        run:forecast_paper_period sweep:sweep_accuracy_ensemble run:forecast_level_shift run:forecast_level_shift_refit
results: $(STAMP)
	@mkdir -p reports && printf 'step\tprofile\tseconds\texit\n' > reports/results_timing.tsv
	@start=$$(date +%s); \
	chain() { export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1; for step in "$$@"; do \
	  cmd=$${step%%:*}; name=$${step#*:}; t0=$$(date +%s); echo "$$(date -u +%H:%M:%S) start $$step"; \
	  if [ $$cmd = sweep ]; then $(BIN)/carbonshift sweep experiments/configs/$$name.yaml --resume --profile $(PROFILE); \
	  else $(BIN)/carbonshift run experiments/configs/$$name.yaml --profile $(PROFILE); fi; rc=$$?; \
	  printf '%s\t%s\t%s\t%s\n' $$step $(PROFILE) $$(( $$(date +%s) - t0 )) $$rc >> reports/results_timing.tsv; \
	  [ $$rc = 0 ] || return $$rc; done; }; \
	chain $(RESULTS_CHAIN_1) > reports/results_chain1.log 2>&1 & c1=$$!; \
	chain $(RESULTS_CHAIN_2) > reports/results_chain2.log 2>&1 & c2=$$!; \
	wait $$c1; r1=$$?; wait $$c2; r2=$$?; \
	echo "make results ($(PROFILE)): $$(( $$(date +%s) - start )) s; chain 1 exit $$r1, chain 2 exit $$r2 (reports/results_chain*.log)"; \
	[ $$r1 = 0 ] && [ $$r2 = 0 ]
	$(BIN)/carbonshift results --output RESULTS.md

# The MLflow UI of the store the CLI uses: $$MLFLOW_TRACKING_URI, else $$CARBONSHIFT_RUNS_DIR (default ./mlruns);
# a tracking server (http/https) has its own UI. `make ui PORT=5001` picks another port.
PORT ?= 5000
ui: $(STAMP)
	@uri="$${MLFLOW_TRACKING_URI:-sqlite:///$$(realpath -m "$${CARBONSHIFT_RUNS_DIR:-$(CURDIR)/mlruns}")/mlflow.db}"; \
	case "$$uri" in \
	  http://*|https://*) echo "MLFLOW_TRACKING_URI=$$uri is a tracking server: open it in a browser" ;; \
	  *) echo "MLflow UI of $$uri on http://127.0.0.1:$(PORT)"; \
	     exec $(BIN)/mlflow ui --backend-store-uri "$$uri" --host 127.0.0.1 --port $(PORT) --workers 1 ;; \
	esac

# Re-pin every package from the current .venv (after changing pyproject.toml dependencies and installing them).
constraints: $(STAMP)
	@{ echo "# Exact versions of every package (generated by \`make constraints\` from a working .venv; do not edit by hand)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/'; } > constraints.txt

clean:
	rm -rf $(VENV) mlruns reports lightning_logs .pytest_cache
