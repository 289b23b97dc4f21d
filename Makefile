# Every target bootstraps what it needs: a virtualenv with the locked packages.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONPATH := $(CURDIR)

.PHONY: run test unit integration infra-test e2e lint synth clean

$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	touch $(STAMP)

## run: the whole system locally (moto server, localstripe, gateway on :3000, stream pump, clock)
run: $(STAMP) synth
	$(PY) -m local

## walk: on a running `make run`, an account from a declined Friday to its reactivation (WALK_ARGS="--contractor walk-2")
.PHONY: walk
walk: $(STAMP)
	$(PY) -m local.walk $(WALK_ARGS)

## test: every test suite: unit, integration, template assertions, end to end, browser
test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

infra-test: $(STAMP)
	$(PY) -m pytest tests/infra

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

## soak: the billing simulation (tests/simulation) for SOAK_MINUTES minutes, from seed SIM_SEED + 1 on
.PHONY: soak
SOAK_MINUTES ?= 60
soak: $(STAMP)
	SOAK_MINUTES=$(SOAK_MINUTES) $(PY) -m pytest -p no:xdist \
		tests/simulation/test_machine.py::test_billing_machine_soak

# Debian's Chromium for the browser tests, installed when missing (never a downloaded
# browser build); apt-get runs as root, through sudo for anyone else.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium fonts-liberation

## browser: the Lead Manager's billing page in headless Chromium (screenshots in test-artifacts/browser/)
.PHONY: browser
browser: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest tests/browser

## openapi: openapi.json from the code of the API functions (a test fails while it differs)
.PHONY: openapi
openapi: $(STAMP)
	$(PY) -m infra.openapi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## synth: the cloud assembly in cdk.out, with built code assets
synth: $(STAMP)
	$(PY) -m infra.app

## bench: every benchmark beside its target, written to bench/RESULTS.md (BENCH_ARGS="--only trips,cold")
.PHONY: bench
bench: $(STAMP) synth
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
