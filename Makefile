# Two commands on a fresh machine: `make demo` runs a node, `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINT_PATHS := src tests examples bench

.PHONY: venv demo test lint unit integration system-deps bench clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PY=$(PY) VENV=$(VENV) scripts/bootstrap.sh
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/roost demo

system-deps:
	scripts/system-deps.sh serf wrk chromium

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

test: venv system-deps lint
	$(BIN)/pytest -q -p no:cacheprovider --timeout 600

bench: venv system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache roost-data
