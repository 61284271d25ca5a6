# Two set-up commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lint bench crashtest clean

# The C accelerator (simqueue/_codec.c) is compiled by the install, so its source is a prerequisite too.
$(INSTALLED): pyproject.toml simqueue/_codec.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	MPLBACKEND=Agg $(PY) -m simqueue demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check simqueue tests benchmarks

test: lint
	MPLBACKEND=Agg $(PY) -m pytest -q

bench: $(INSTALLED)
	MPLBACKEND=Agg $(PY) -m benchmarks

# The full crash-consistency campaign and the kill -9 loop of real servers (docs/reliability.md);
# bounded versions run in `make test`.
crashtest: $(INSTALLED)
	$(PY) -m simqueue.crashsim --json exports/crashtest.json
	$(PY) -m simqueue.killtest --kills 50 --json exports/killtest.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis exports
