# Two commands a newcomer needs: `make run` and `make test`. Nothing but Python required.
# `make test` runs the suite on two workers (pytest-xdist, one test file per worker at a
# time), then the fault-injection trials on their own: they SIGKILL child processes and
# keep one trial log per run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-lowest lock format bench bench-models bench-dashboard screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Third-party packages come from the lock files, pinned with hashes (`make lock` renews
# them from pyproject.toml); the project itself is installed on top, editable.
$(STAMP_RUN): pyproject.toml requirements/run.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/run.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(STAMP_TEST): pyproject.toml requirements/test.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/loan-recovery demo
	$(BIN)/loan-recovery dashboard

test: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=10 --ignore=tests/faults
	$(BIN)/pytest -q tests/faults

# The unit tests against the lowest versions pyproject.toml allows, in a throwaway venv
# (needs only Python; see docs/dependency-floors.md).
test-lowest:
	PYTHON="$(PYTHON)" bash scripts/check_lowest_deps.sh

# Renew the lock files after a change to pyproject.toml's dependencies (needs PyPI).
# run.lock: the core and the dashboard (`make run`); test.lock: every extra and the tests.
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --no-header --quiet
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(LOCK) --extra dashboard -o requirements/run.lock
	$(LOCK) --extra test -o requirements/test.lock

format: $(STAMP_TEST)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP_RUN)
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_simulator.py

bench-models: $(STAMP_RUN)
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_scoring.py --reasons both
	$(BIN)/python benchmarks/bench_plan.py

bench-dashboard: $(STAMP_RUN)
	$(BIN)/python benchmarks/bench_dashboard.py

screenshots: $(STAMP_TEST)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
