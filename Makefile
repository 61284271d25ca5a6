# Two set-up commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lint bench crashtest clean

# The C accelerator (simqueue/core/wal/_codec.c) is compiled by the install, so its source is a prerequisite too.
$(INSTALLED): pyproject.toml simqueue/core/wal/_codec.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(INSTALLED)

install: $(INSTALLED)

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

test: lint
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
