# QuantumTrader — two commands for a new user: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint typecheck pytest bench clean help prefect-ui mlflow-ui

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' Makefile | sed 's/:.*##/ —/'

$(UV):
	@echo "uv not found: installing it with pip (user site)"
	$(PYTHON) -m pip install --user --quiet uv

# --compile-bytecode: these machines set PYTHONDONTWRITEBYTECODE=1, so without it every command
# would compile its third-party imports from source on every run (qtml --help: ~2 s instead of ~0.7 s)
.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.installed  ## create .venv from uv.lock

demo: install  ## the main job on embedded defaults (all stores under ./var)
	$(UV) run --frozen qtml demo

lint: install  ## ruff
	$(UV) run --frozen ruff check .

typecheck: install  ## mypy
	$(UV) run --frozen mypy

pytest: install  ## the test suite (slow end-to-end tests included)
	$(UV) run --frozen pytest -q

test: lint typecheck pytest  ## ruff + mypy + pytest: what CI runs

bench: install  ## speed and memory targets -> docs/benchmarks.md
	$(UV) run --frozen python -m benchmarks

clean:  ## remove the embedded stores (var/)
	rm -rf var

prefect-ui: install  ## Prefect UI on the demo's store (http://127.0.0.1:4200)
	$(UV) run --frozen qtml ui prefect

mlflow-ui: install  ## MLflow UI on the demo's store (http://127.0.0.1:5000)
	$(UV) run --frozen qtml ui mlflow
