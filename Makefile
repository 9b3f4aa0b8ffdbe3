# pulse: every target sets up what it needs (virtualenv, packages, redis-server).
# The first interpreter that really runs and is 3.11 or 3.12 (bytewax ships wheels for those);
# a pyenv shim for a version that is not installed is skipped.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null \
	&& echo $$p && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-kafka test check lint imports types unit rules-test bench bench-smoke setup redis-server chromium clean

demo: setup redis-server
	$(BIN)/pulse run

# A private Tansu broker; generated events to a topic; the flow; triggers read back from a topic.
demo-kafka: setup redis-server
	bash scripts/demo_kafka.sh

test: check bench-smoke

check: setup redis-server lint imports types unit rules-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The tests and the embedded demo run a private redis-server; install Debian's when missing.
redis-server:
	@if [ -n "$$PULSE_REDIS_SERVER" ] || command -v redis-server >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing redis-server (Debian package)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }; \
	else echo "redis-server not found: install it (apt-get install redis-server) or set PULSE_REDIS_SERVER" >&2; exit 1; fi

# The dashboard test (tests/integration/test_dashboard.py) reads the page in a real headless
# Chromium; install Debian's when it is missing (or set PULSE_CHROMIUM).
chromium:
	@if [ -n "$$PULSE_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian package)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	else echo "chromium not found: install it (apt-get install chromium) or set PULSE_CHROMIUM" >&2; exit 1; fi

lint: setup
	$(BIN)/ruff format --check src dataflows tests bench
	$(BIN)/ruff check src dataflows tests bench

# The layer contracts in pyproject.toml [tool.importlinter] (README "Layers and the import contract").
imports: setup
	$(BIN)/lint-imports --no-cache

types: setup
	$(BIN)/mypy

# One file per worker process at a time (`--dist loadfile`): a file's tests share module fixtures.
unit: setup redis-server chromium
	$(BIN)/pytest -q -n auto --dist loadfile

# The rule tests of the shipped packs (rules/tests/*.yaml): events in, exact triggers out.
rules-test: setup redis-server
	$(BIN)/pulse test -q rules/tests

# The benchmark suite (bench/suite.py): micro-benchmarks, replay matrix with the naive
# baseline and footprint, live latency; writes bench/results/latest.{json,md}.
bench: setup redis-server
	$(BIN)/python bench/suite.py

# Every benchmark once at tiny sizes: checks they run, asserts no timing (part of `make test`).
bench-smoke: setup redis-server
	$(BIN)/python bench/suite.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
