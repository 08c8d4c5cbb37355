# Two commands a newcomer needs: `make demo` (the example backtest committed by
# `pytest --artifact-store`) and `make test` (the test suite). Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench

# the package alone: all the demo needs (no test or lint tools)
$(BIN)/.base: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed: $(BIN)/.base
	$(BIN)/python -m pip install -q -e '.[test]'
	# pytest-randomly reorders every session it is installed in: kept out of the venv,
	# on the path of the one test that runs it (tests/test_plugin_session.py)
	$(BIN)/python -m pip install -q --no-deps --target $(VENV)/isolated-plugins pytest-randomly
	touch $@

demo: $(BIN)/.base
	$(BIN)/python examples/run_demo.py

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check pytest_artifact_store tests benchmarks
	$(BIN)/ruff format --check pytest_artifact_store tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py
