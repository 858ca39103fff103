# Two commands do all set-up on a fresh machine (only Python 3.11/3.12 and the package
# registries needed): `make demo` runs the embedded default, `make test` the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps in one venv, so either target may run first. `make demo` installs the package as a
# user gets it (not editable: every editable mode makes setuptools print a warning) with only the
# demo extra, again whenever a packaged file changes; `make test` installs it editable with the
# development tools, which cover the demo too, so `make demo` keeps an editable install it finds.
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed-dev
PACKAGED := $(shell find gatekeeper -type f \( -name '*.py' -o -name '*.yaml' -o -name '*.json' \) \
	-not -path '*/__pycache__/*')
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo serve-demo test test-fast lint bench schema clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml README.md $(PACKAGED) | $(BIN)/python
	if $(BIN)/python -m pip show gatekeeper 2>/dev/null | grep -q '^Editable project location'; \
	then echo "keeping the editable development install (make test), which covers the demo"; \
	else $(BIN)/python -m pip install --quiet '.[demo]'; fi
	touch $(DEMO_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,security,privacy,postgres]'
	touch $(DEV_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/gatekeeper validate
	$(BIN)/gatekeeper demo

# The reference serve stack (examples/serve) on 127.0.0.1: probed, logged to MLflow, gated.
serve-demo: $(DEV_STAMP) system-deps
	$(BIN)/python examples/serve/run_serve_gate.py

test: $(DEV_STAMP) system-deps lint
	$(BIN)/python -m pytest

# The suite without the tests marked slow (servers, real MLflow registries, load; the list is
# in tests/conftest.py): under a minute on 2 cores, for the edit-test loop. `make test` runs all.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(DEV_STAMP)
	$(BIN)/ruff check gatekeeper tests bench examples
	$(BIN)/mypy

# Figures, not pass/fail: start-up cost, timer precision, the Locust engine's counts and rates.
# bench/probe_vs_wrk.py (against wrk) and bench/llm_probe.py (streamed chunks against the LLM
# target's truth, beside a vLLM-style client) run by hand.
bench: $(DEV_STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/timers.py
	$(BIN)/python bench/locust_engine.py

schema: $(DEV_STAMP)
	$(BIN)/gatekeeper schema > gatekeeper/load/playbook.schema.json

system-deps:
	scripts/system-deps.sh

clean:
	rm -rf $(VENV) .gatekeeper .pytest_cache .mypy_cache .ruff_cache
