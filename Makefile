# modemqtt developer targets. `make help` lists them; README and .ci/run call them.
# Every recipe line runs with `set -e` semantics of make: a failing command (including
# pytest's exit code 5 for "no tests collected") fails the target.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
PYTEST_ARGS ?=
# The suites run on both cores (pytest-xdist); PYTEST_JOBS=0 runs them in one process.
PYTEST_JOBS ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore

# The tools the build, lint and tests need (pip skips what is already installed).
DEPS := "pytest>=8" "pytest-timeout>=2.3" "pytest-xdist>=3" "paho-mqtt>=2" "pyserial>=3.5" ruff \
	"maturin>=1.9.4,<2" "nbclient>=0.8" "nbformat>=5" "ipykernel>=6" "tomli>=1.1; python_version < '3.11'"

.DEFAULT_GOAL := help
.PHONY: help tools deps build-dev wheel wheel-smoke install format lint stubtest test-rs test-py test-realistic test bench demo clean

help: ## Show the targets with a one-line description each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## Install the system tools the tests run against (mosquitto, ser2net) if missing
	./scripts/install-tools

deps: ## Install the Python tools for build, lint and tests (only what is missing)
	$(PIP) install -q $(DEPS)

build-dev: ## Editable debug install of the package (python/ + compiled core) for hacking
	@if [ -n "$$VIRTUAL_ENV$$CONDA_PREFIX" ]; then \
		maturin develop --extras labgrid; \
	else \
		$(PIP) install -e '.[labgrid]'; \
	fi

wheel: ## Build the manylinux abi3 wheel into dist/ and check its platform tag with auditwheel
	rm -f dist/modemqtt-*.whl
	maturin build --release --out dist
	@$(PYTHON) -c "import auditwheel" 2>/dev/null || $(PIP) install -q "auditwheel>=6"
	$(PYTHON) -m auditwheel show dist/modemqtt-*.whl | tee dist/auditwheel.txt
	@tr '\n' ' ' < dist/auditwheel.txt | grep -q 'platform tag: "manylinux_' || \
		{ echo "wheel: auditwheel finds no manylinux tag for the wheel" >&2; exit 1; }

wheel-smoke: ## Install dist/'s wheel into a fresh venv with no Rust on PATH; demo + smoke tests
	PYTHON=$(PYTHON) ./scripts/wheel-smoke

install: wheel ## Build the wheel and install it with the labgrid extra (pip install '.[labgrid]')
	$(PIP) install -q --force-reinstall --no-deps dist/modemqtt-*.whl
	$(PIP) install -q "$$(ls dist/modemqtt-*.whl)[labgrid]"

format: ## Format Rust and Python sources in place
	cargo fmt
	$(PYTHON) -m ruff format python tests examples
	$(PYTHON) -m ruff check --fix python tests examples

lint: ## rustfmt check, import cycles (scripts/check-layers), clippy, ruff check and format check
	cargo fmt --check
	$(PYTHON) scripts/check-layers --quiet
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	$(PYTHON) -m ruff check python tests examples
	$(PYTHON) -m ruff format --check python tests examples

stubtest: ## Check python/modemqtt/_core.pyi against the installed extension (after install)
	@$(PYTHON) -c "import mypy" 2>/dev/null || $(PIP) install -q mypy
	cd tests/python && $(PYTHON) -m mypy.stubtest modemqtt._core

test-rs: ## Rust unit and integration tests without an interpreter
	cargo test --no-default-features

# pytest runs from tests/python with the repo's pyproject.toml as config: the source folder
# python/ is not on sys.path, so the tests import the installed package (wheel or editable).
test-py: ## Python tests against the installed package (virtual modem, pty, mosquitto)
	cd tests/python && $(PYTHON) -m pytest -c ../../pyproject.toml --rootdir ../.. -ra \
		$(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS)) $(PYTEST_ARGS)

# The shared MQTT suite again with the virtual modems' realistic network timing (results after
# a network round trip, docs/virtual-modem.md "Timing"): every test on the LTE (a7600, ec20) and
# LTE-M (bg96) profiles, the round trips on NB-IoT (sim7028, seconds per result), and Quectel's
# buffer-mode ordering test. About two minutes; the whole CMQTT and QMT suites also honour
# MODEMQTT_SIM_TIMING (docs/performance.md says how to run them). pico_lte runs with it in
# test-py already.
REALISTIC_SUITES := test_mqtt_shared.py \
	test_qmt_virtual.py::test_buffer_mode_slow_consumer_loses_nothing
REALISTIC_SELECTION := not sim7028 or test_round_trip
test-realistic: ## The family suites with the realistic network timing (MODEMQTT_SIM_TIMING)
	cd tests/python && MODEMQTT_SIM_TIMING=realistic $(PYTHON) -m pytest -c ../../pyproject.toml \
		--rootdir ../.. -ra $(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS)) \
		$(REALISTIC_SUITES) -k "$(REALISTIC_SELECTION)" $(PYTEST_ARGS)

# `make test` installs mosquitto and ser2net itself, so their suites run instead of skipping.
test: export MODEMQTT_REQUIRE_MOSQUITTO = 1
test: export MODEMQTT_REQUIRE_SER2NET = 1
# ... and the labgrid suite (install brings the labgrid extra: coordinator, exporter, client).
test: export MODEMQTT_REQUIRE_LABGRID = 1
test: tools deps lint test-rs install stubtest test-py test-realistic wheel-smoke ## Everything CI runs: system tools, deps, lint, Rust tests, wheel + install, stub check, Python tests (also with the realistic timing), the wheel without Rust

bench: ## Criterion benchmarks of the codec/engine, then the end-to-end scripts in bench/
	cargo bench --no-default-features
	@for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; $(PYTHON) "$$script" || exit 1; \
	done

demo: ## Round trip through a virtual modem and the embedded broker (needs `make install`)
	$(PYTHON) -m modemqtt.cli demo

clean: ## Remove build and test leftovers
	cargo clean
	rm -rf dist .pytest_cache .ruff_cache tests/python/.pytest_cache
	find python tests -name __pycache__ -type d -prune -exec rm -rf {} +
