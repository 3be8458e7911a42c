# TraderAgent — the two commands are `make demo` and `make test`.
# Both create .venv from the pinned locks on first use; nothing else needs installing by hand:
# `make demo` installs requirements.lock (the runtime), `make test` requirements-dev.lock (runtime + test tools).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# requirements.lock: the runtime and the extras every command uses (no test tools, no notebooks)
RUNTIME_EXTRAS := --extra research --extra db --extra exchange --extra live
PYTEST_ARGS ?=
# Python caches compiled bytecode next to the sources; some environments switch that off, which makes every
# process recompile pandas/vectorbt from source (2-4x slower start-up). Our commands always allow it.
unexport PYTHONDONTWRITEBYTECODE

STUDY ?= research/trend_follower.yaml
WORKERS ?= 2

.PHONY: demo test bench optimize lint sample coverage lock clean help site paper

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{gsub(/\$$\$$/, "$$", $$2); printf "  make %-10s %s\n", $$1, $$2}'

$(UV_STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

# `uv pip install` adds to the environment: after `make test` the venv holds both sets, which `make demo` accepts.
$(STAMP): requirements.lock pyproject.toml | $(UV_STAMP)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(UV_STAMP)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@ $(STAMP)

lock: $(UV_STAMP)  ## recompile both lock files from pyproject.toml (keeps current pins unless a range excludes them)
	$(UV) pip compile --quiet pyproject.toml --all-extras --python-version 3.11 -o requirements-dev.lock
	$(UV) pip compile --quiet pyproject.toml $(RUNTIME_EXTRAS) --python-version 3.11 -c requirements-dev.lock \
		-o requirements.lock

sample: $(STAMP)  ## fill data/ with the bundled sample candles ($$TRADERAGENT_SAMPLE_DIR, ../shared/data, or download)
	$(PY) -m traderagent data sample

paper: sample  ## paper-trade the bundled candles with live/config.yaml (run again to continue where it stopped)
	$(PY) -m traderagent live run --config live/config.yaml --replay data/ --start 2025-06-01 --max-bars 3000

demo: sample  ## run the main job on the bundled data: Trend-Follower backtest on BTC/USDT 1h + HTML report
	$(PY) -m traderagent data inspect data/BTC_USDT-15m.csv.gz
	$(PY) -m traderagent backtest --strategy trend_follower --symbol BTC/USDT --timeframe 1h \
		--data data/BTC_USDT-15m.csv.gz --report reports/trend_follower-BTC_USDT-1h.html

test: $(DEV_STAMP) sample  ## lint, then run the whole test suite
	$(VENV)/bin/ruff check --quiet traderagent tests bench tools
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)  ## ruff
	$(VENV)/bin/ruff check traderagent tests bench tools

# The unit tests again with NUMBA_DISABLE_JIT=1 (about 4 minutes), so the kernels' Python bodies count. Left out:
# the tests that run a state machine whose kernels assign numba record fields (`state.n = ...`, `fill.bar = ...`),
# which numpy records do not support without the JIT: the order strategies (grid, dca, hybrid, regime,
# portfolio) and, since the risk guard, the signal engine (engine, integrity, metrics, ledger, and the two tests
# below that backtest); one bit-identity test against vectorbt's compiled engine (pure Python rounds differently
# in the last bits); and the causality property tests (hundreds of full replays: minutes per test as Python).
KERNEL_TESTS := tests/unit tests/property/test_resample_align.py
KERNEL_SKIP := $(foreach t,grid dca hybrid regime portfolio engine integrity metrics vbt_ledger,\
	--ignore=tests/unit/test_$(t).py) \
	--deselect tests/unit/test_sweep.py::test_bit_identical_to_vectorbt_numba_engine \
	--deselect tests/unit/test_folds.py::test_oos_bars_never_reach_an_in_sample_evaluation \
	--deselect tests/unit/test_smc_strategy.py::test_cli_backtest_json_on_btc_trades_with_integrity

# A failing test does not hide the figures: both passes run, the report prints, then the exit status says so.
coverage: $(DEV_STAMP) sample  ## line coverage per package: the suite, then the kernel tests as Python (no JIT)
	@rm -f .coverage .coverage.*
	@status=0; \
	$(PY) -m coverage run -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) || status=1; \
	NUMBA_DISABLE_JIT=1 $(PY) -m coverage run -m pytest -q -p no:cacheprovider $(KERNEL_TESTS) $(KERNEL_SKIP) \
		|| status=1; \
	$(PY) -m coverage combine -q && $(PY) tools/coverage_by_package.py || status=1; \
	if [ $$status -ne 0 ]; then echo "make coverage: a test failed (above); the figures count what ran"; fi; \
	exit $$status

bench: $(DEV_STAMP) sample  ## benchmarks (on demand, not part of make test); names every missed target
	$(PY) bench/run.py

optimize: sample  ## walk-forward study: make optimize STUDY=research/<name>.yaml WORKERS=4 [STORAGE=url] [TRIALS=n] [FRESH=1]
	$(PY) -m traderagent optimize $(STUDY) --workers $(WORKERS) $(if $(STORAGE),--storage $(STORAGE)) \
		$(if $(TRIALS),--trials $(TRIALS)) $(if $(FRESH),--fresh)

# The report site on the bundled data: the demo runs (every strategy on the whole sample), the shipped studies and
# the packaged config's portfolio, then `traderagent report site` (what .github/workflows/site.yml publishes).
SITE ?= reports/site
SITE_RUNS := trend_follower:BTC/USDT:1h trend_follower:ETH/USDT:1h smc:BTC/USDT:15m grid:BTC/USDT:15m \
	dca:BTC/USDT:15m hybrid:BTC/USDT:15m
site: $(DEV_STAMP) sample  ## report site: demo runs + shipped studies + portfolio -> $(SITE) (make site SITE=dir WORKERS=n)
	@set -e; for run in $(SITE_RUNS); do IFS=: read -r strategy symbol tf <<< "$$run"; \
		$(PY) -m traderagent backtest --strategy $$strategy --symbol $$symbol --timeframe $$tf \
			--report reports/$$strategy-$${symbol/\//_}-$$tf.html > /dev/null; \
		echo "site: backtest $$strategy $$symbol $$tf"; done
	@set -e; for study in research/*.yaml; do \
		$(PY) -m traderagent optimize $$study --workers $(WORKERS) --quiet $(if $(FRESH),--fresh) > /dev/null; \
		echo "site: study $$study"; done
	$(PY) -m traderagent report site --out $(SITE) --portfolio

clean:  ## remove the virtualenv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .hypothesis .coverage .coverage.*
