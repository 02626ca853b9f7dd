# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the test suite runs for real: nginx in front of the server, Chromium for the
# app, PostgreSQL as the shared store of a cluster, LibreOffice Calc (headless) to open CSV
# downloads as a spreadsheet does (about 90 MB to fetch, 280 MB installed), Node.js for the
# app's own unit tests (tests/static, run with Node's built-in test runner: no npm packages).
SYSTEM_PACKAGES := nginx-light chromium postgresql libreoffice-calc-nogui nodejs

.PHONY: run test bench lint screenshots system-deps clean

$(VENV)/.run-installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "tablecast needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.run-installed
	$(BIN)/tablecast serve

# In 4 processes (pytest-xdist), whatever the cores: most of the suite's time is spent waiting
# for servers, browsers and databases, so on this 2-core machine 4 processes took 3:48 where a
# process per core took 4:50 and 6 took 4:27. `pytest tests/test_x.py` alone runs in one
# process, as before.
test: $(VENV)/.dev-installed system-deps
	$(BIN)/pytest -n 4 --dist worksteal

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

# The pictures in docs/screenshots, taken by the browser tests in real Chromium.
screenshots: $(VENV)/.dev-installed system-deps
	TABLECAST_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -k screenshots -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Installs what is missing with apt-get (as root, or through sudo when there is one).
system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
