# Two commands on a fresh Debian machine, as root:
#   make demo   venv + sandbox host + the main job (deploy.consolidate) against it
#   make test   venv + sandbox hosts (+ the systemd host) + the whole suite (unit + integration),
#               but the long Ctrl-C-at-every-step matrix (marker `matrix`)
#   make faults the fault matrix alone, the matrix included (sandbox up: docs/RELIABILITY.md)
#   make bench  venv + sandbox host + every benchmark (bench/), writes docs/BENCHMARKS.md
#   make lint   shellcheck, ruff and mypy (no sandbox); .ci/run runs it before make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: venv sandbox demo test faults unit lint bench clean

$(BIN)/fab: pyproject.toml
	bash sandbox/bootstrap.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(BIN)/fab

sandbox: venv
	$(BIN)/invoke sandbox.up
	$(BIN)/invoke sandbox.reset

demo: sandbox
	$(BIN)/fab -H sandbox deploy.consolidate --hosts-file .sandbox/hosts.toml

# make bench: every benchmark of bench/ on the sandbox (about 35 minutes), writes docs/BENCHMARKS.md
$(VENV)/.bench-deps: pyproject.toml $(BIN)/fab
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	touch $@

bench: sandbox $(VENV)/.bench-deps
	$(BIN)/python bench/all.py --runs 5

# Every bash script: the sandbox's, the benchmarks' and the ones the package runs on hosts
# (runbook/**/scripts/*.sh, fed to `bash -s`, so checked as bash), and CI's own.
SHELL_SCRIPTS = $(sort $(shell find sandbox bench runbook -name '*.sh' -not -path '*/__pycache__/*')) .ci/run

# All three tools run (every finding is printed); any finding fails the target.
lint: venv
	@bash sandbox/bootstrap.sh
	@rc=0; set -x; \
	shellcheck --shell=bash $(SHELL_SCRIPTS) || rc=1; \
	$(BIN)/ruff check --output-format concise runbook fabfile tests bench tasks.py || rc=1; \
	$(BIN)/mypy runbook || rc=1; \
	exit $$rc

unit: venv
	$(BIN)/pytest tests/unit -q

# the systemd host (tests/integration/test_systemd_host.py) and the compose host
# (test_compose_host.py) come up for the tests only, not the demo
test: sandbox
	$(BIN)/invoke sandbox.up --systemd
	$(BIN)/invoke sandbox.compose
	$(BIN)/pytest -q --durations=15 -n 2 --dist loadgroup -m "not matrix"

faults: sandbox
	$(BIN)/pytest -m faults

clean:
	rm -rf $(VENV) .pytest_cache
