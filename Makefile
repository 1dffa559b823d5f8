# Two commands on a fresh machine: `make demo` runs a node, `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINT_PATHS := src tests examples bench chaos

.PHONY: venv demo test lint unit integration system-deps bench clean chaos chaos-smoke soak

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

# The chaos smoke run goes first so that pytest's summary is the last line of the output.
test: venv system-deps lint
	@if [ "$$(id -u)" = 0 ] || [ -n "$$CI" ]; then $(MAKE) --no-print-directory chaos-smoke; \
	else echo "chaos-smoke skipped: it needs root (network namespaces); run: sudo make chaos-smoke"; fi
	$(BIN)/pytest -q -p no:cacheprovider --timeout 600

# The chaos harness (chaos/README.md): real nodes in network namespaces, needs root, serf,
# iptables and PostgreSQL on /var/run/postgresql. CHAOS_ARGS adds flags, e.g. --seed 7.
chaos: venv system-deps
	scripts/system-deps.sh iptables
	$(BIN)/python -m chaos --nodes 5 $(CHAOS_ARGS)

chaos-smoke: venv system-deps
	scripts/system-deps.sh iptables
	$(BIN)/python -m chaos --smoke $(CHAOS_ARGS)

# Every suite in one run (~20 min on 2 cores): bench/RESULTS.md, bench/results/*.json and *.png.
# Needs PostgreSQL (and MariaDB for the store figures) on 127.0.0.1; Ray goes to bench/.venv-ray.
bench: venv system-deps
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench

# One node at twice its measured capacity for ROOST_SOAK_SECONDS (default 300) of overload: sheds
# with 429, health stays fast, memory stays flat, full rate after (bench/soak.py). CI runs a
# 60-second version (tests/integration/test_soak.py).
soak: venv system-deps
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	ROOST_SOAK_SECONDS=$${ROOST_SOAK_SECONDS:-300} $(BIN)/python -m bench --only soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache roost-data chaos-out
