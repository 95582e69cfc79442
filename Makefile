# Two commands: `make run` and `make test`. Each makes its own venv in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint fmt check-deploy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the marketplace with demo data: web, Celery worker and beat (Ctrl-C stops all).
run: $(STAMP)
	$(PY) -m marketplace.embedded -- $(PY) -m marketplace.devserver

## Run the whole test suite against real PostgreSQL and Redis (after the import-linter layers contract).
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	EMBEDDED_REDIS_DB=redis-test.db $(PY) -m marketplace.embedded -- $(PY) -m pytest $(PYTEST_ARGS)

## Benchmarks: FIGURE lines, each against the trivial-view baseline of the same run.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	EMBEDDED_REDIS_DB=redis-bench.db $(PY) -m marketplace.embedded -- $(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .data media staticfiles test-artifacts
