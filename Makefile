# Everything a fresh Linux machine with python3 >= 3.11 needs: `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := $(VENV)/.system-packages
DEMO_OUT ?= demo-out
DEMO_DB ?= $(DEMO_OUT)/blockwatch.duckdb
PYTEST_ARGS ?=

.PHONY: all setup system-packages demo test lint bench clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# nftables, iproute2 (the lab), Debian's chromium (browser tests, PDF reports) and
# poppler-utils (pdftotext: the PDF report's text is checked): installed with
# apt-get when we run as root, as CI does; elsewhere the tests that need them skip.
$(SYSSTAMP): | $(BIN)/python
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  need=""; \
	  command -v nft >/dev/null || need="$$need nftables"; \
	  command -v ip >/dev/null || need="$$need iproute2"; \
	  command -v tc >/dev/null || need="$$need iproute2"; \
	  [ -x /usr/bin/chromium ] || need="$$need chromium fonts-dejavu-core"; \
	  command -v pdftotext >/dev/null || need="$$need poppler-utils"; \
	  command -v tor >/dev/null || need="$$need tor"; \
	  command -v obfs4proxy >/dev/null || need="$$need obfs4proxy"; \
	  command -v openvpn >/dev/null || need="$$need openvpn"; \
	  if [ -n "$$need" ]; then \
	    echo "installing system packages:$$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null \
	      || echo "warning: apt-get could not install$$need; tests needing them will skip"; \
	  fi; \
	else echo "not root: skipping system packages (lab and browser tests will skip)"; fi
	touch $@

setup: $(STAMP) $(SYSSTAMP)

system-packages: $(SYSSTAMP)

demo: setup
	$(BIN)/python -m blockwatch.cli.demo --out $(DEMO_OUT) --db $(DEMO_DB)

# The whole gate CI runs: lint, format, types, then every test (benches smoke-run among them).
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Every benchmark at full size, printing its figures (tests/test_benches.py smoke-runs them).
bench: setup
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
