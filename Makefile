# Set-up commands: `make lab` (the notebooks), `make test` and `make demo` (the terminal demo). Each
# creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install lab demo test lint chromium bench crashtest clean

# The C accelerators (simqueue/core/wal/_codec.c, simqueue/sim/_tracepack.c) are compiled by the
# install, so their sources are prerequisites too.
$(INSTALLED): pyproject.toml setup.py simqueue/core/wal/_codec.c simqueue/sim/_tracepack.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(INSTALLED)

install: $(INSTALLED)

# JupyterLab on the notebooks, on this machine only (127.0.0.1); it prints the URL with its token.
# JupyterLab refuses to run as root unless told to, so --allow-root is passed for root only.
LAB_INSTALLED := $(VENV)/.lab-installed
LAB_PORT ?= 8888
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

$(LAB_INSTALLED): pyproject.toml setup.py simqueue/core/wal/_codec.c simqueue/sim/_tracepack.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[lab]'
	touch $(LAB_INSTALLED)

lab: $(LAB_INSTALLED)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

demo: $(INSTALLED)
	MPLBACKEND=Agg $(PY) -m simqueue demo

# ruff; the import contracts of pyproject.toml (dependencies point inward, no cycles); mypy over
# the package and the benchmarks, and --strict over the engine (core and sim).
lint: $(INSTALLED)
	$(VENV)/bin/ruff check simqueue tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict simqueue/core simqueue/sim
	$(VENV)/bin/mypy benchmarks

# Every test with the C accelerator (when it is built), then the durable core's tests once more in
# pure Python, the fallback for machines without a C compiler.
PURE_TESTS := tests/core/test_codec.py tests/core/test_wal_format.py tests/core/test_wal_tail.py \
	tests/core/test_recovery.py tests/core/test_store.py tests/core/test_preallocation.py \
	tests/sim/test_simulation.py tests/testing/test_crash_campaign.py

# The browser tests (tests/browser) drive JupyterLab in the system Chromium; as root, install it
# when it is missing (Playwright is told to use it and never downloads a browser).
chromium:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then \
		apt-get update && apt-get install -y chromium; fi

test: lint chromium
	MPLBACKEND=Agg $(PY) -m pytest -q
	SIMQUEUE_PURE_PYTHON=1 MPLBACKEND=Agg $(PY) -m pytest -q $(PURE_TESTS)

bench: $(INSTALLED)
	MPLBACKEND=Agg $(PY) -m benchmarks

# The full crash-consistency campaign, crash sequences (3 crashes deep) and long seeded runs, and
# the kill -9 loop of real servers (docs/reliability.md); bounded versions run in `make test`.
crashtest: $(INSTALLED)
	$(PY) -m simqueue.testing.crashsim --json exports/crashtest.json
	$(PY) -m simqueue.testing.crashsim --sequences 240 --depth 3 --seeded 48 --crashes 60 --json exports/crashseq.json
	$(PY) -m simqueue.testing.killtest --kills 50 --json exports/killtest.json
	$(PY) -m simqueue.testing.stress --thread-jobs 2000 --thread-runs 8 --thread-kills 10 \
		--processes 4 --client-threads 8 --jobs-per-thread 500 --kills 20 --json exports/stress.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis exports
