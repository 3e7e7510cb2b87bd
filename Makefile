# Budskab — one command to run, one to test. Everything installs into .venv from the lock files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo watch test test-unit test-integration bench bench-registration bench-sends tools lint lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Budskab needs Python 3.11; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements-dev.lock -e '.[dev]'
	touch $@

run: install  ## the whole stack on Tansu + SQLite; Ctrl-C stops it
	$(BIN)/python -m scripts.devstack

demo: install  ## load the Aarhus "Kommune forfra" plan and Silkeborg's strategy into the running stack
	$(BIN)/python -m scripts.demo

watch: install  ## print every event as it arrives, with a plain Kafka consumer
	$(BIN)/python -m scripts.watch --from-beginning

tools:  ## promtool, kubectl (deploy/ checks) and chromium (browser tests): Debian packages
	bash scripts/install-tools.sh

test: install tools lint  ## lint and types, then the whole suite: unit, integration (real Tansu, PostgreSQL, SMTP), deploy
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

bench: install  ## our outbox→relay→broker→inbox path vs raw aiokafka on the same broker
	$(BIN)/python -m scripts.bench

bench-registration: install  ## a registration rush against the events service vs a bare endpoint
	$(BIN)/python -m scripts.bench_registration

bench-sends: install  ## import 100,000 contacts, send to them (null transport and SMTP sink) vs raw aiokafka
	$(BIN)/python -m scripts.bench_sends

lint: install  ## ruff (style, format) and mypy (types)
	$(BIN)/ruff check shared services scripts tests
	$(BIN)/ruff format --check shared services scripts tests
	$(BIN)/mypy shared services scripts

lock:  ## re-resolve the pinned versions from pyproject.toml
	rm -rf /tmp/budskab-lock && $(PYTHON) -m venv /tmp/budskab-lock
	/tmp/budskab-lock/bin/pip install --quiet .
	/tmp/budskab-lock/bin/pip freeze --exclude-editable | grep -v '^budskab' > requirements.lock
	/tmp/budskab-lock/bin/pip install --quiet -c requirements.lock '.[dev]'
	/tmp/budskab-lock/bin/pip freeze --exclude-editable | grep -v '^budskab' > requirements-dev.lock
	rm -rf build *.egg-info

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
