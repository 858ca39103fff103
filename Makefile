# Two commands do all set-up on a fresh machine (only Python 3.11/3.12 and the package
# registries needed): `make demo` runs the embedded default, `make test` the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo serve-demo test lint bench schema clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gatekeeper validate
	$(BIN)/gatekeeper demo

# The reference serve stack (examples/serve) on 127.0.0.1: probed, logged to MLflow, gated.
serve-demo: $(STAMP) system-deps
	$(BIN)/python examples/serve/run_serve_gate.py

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check gatekeeper tests bench examples
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/startup.py

schema: $(STAMP)
	$(BIN)/gatekeeper schema > gatekeeper/load/playbook.schema.json

system-deps:
	scripts/system-deps.sh

clean:
	rm -rf $(VENV) .gatekeeper .pytest_cache .mypy_cache .ruff_cache
