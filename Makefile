# Heedful: `make run` serves the demo, `make test` runs everything, `make bench` measures.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_ENV := HEEDFUL_ENV=development

.PHONY: run test lint bench chromium wrk clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The free GeoIP databases, fetched once at setup from the npm registry (never at run or
# test time). Without npm or a network, the demo runs with location unknown.
GEOIP := instance/geoip/sources.json

$(GEOIP): | $(STAMP)
	$(DEV_ENV) $(BIN)/heedful geoip update || \
	  echo "GeoIP databases not installed: location stays unknown (README, Deployment)"

run: $(STAMP) $(GEOIP)
	$(DEV_ENV) $(BIN)/flask --app wsgi db upgrade
	$(DEV_ENV) $(BIN)/heedful seed-demo
	@echo "Serving http://127.0.0.1:5000  (demo page: /demo, console: /admin)"
	$(DEV_ENV) $(BIN)/flask --app wsgi run --host 127.0.0.1 --port 5000 --with-threads

# Debian's Chromium drives the browser tests; Playwright cannot download browsers here.
chromium:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's wrk gives bench.ingest a load generator that leaves the servers the CPU.
wrk:
	@command -v wrk >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits 5 when it collects no test; make treats that as a failure too.
test: $(STAMP) chromium lint
	$(BIN)/pytest -q
	@if [ -n "$$HEEDFUL_TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL =="; \
	  HEEDFUL_TEST_BACKEND=postgresql $(BIN)/pytest -q; \
	else echo "HEEDFUL_TEST_DATABASE_URL unset: PostgreSQL run skipped"; fi

bench: $(STAMP) chromium wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance build *.egg-info
