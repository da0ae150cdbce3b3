# Floorbook: `make run` serves the demo site, `make test` runs the whole suite.
# `make test-postgres` runs it again on PostgreSQL with the PostgreSQL search backend.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export KB_DATA_DIR ?= $(CURDIR)/var
# A reachable PostgreSQL for `make test-postgres`; pytest-django creates and drops its own
# test_<name> database there and leaves this one alone.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run serve scaletest loadtest test test-postgres lint format bench eval clean venv

# Reinstall when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py rebuild_index --if-empty
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Production serving: gunicorn ($WEB_CONCURRENCY workers, default 2) on $PORT, static
# files by whitenoise. Set DEBUG=0, SECRET_KEY and ALLOWED_HOSTS (see README, Deploying);
# HTTPS-only unless KB_HTTPS=0 (plain http on loopback).
serve: export DEBUG ?= 0
serve: venv
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py rebuild_index --if-empty
	PORT=$(PORT) $(BIN)/gunicorn -c config/gunicorn.py config.wsgi

# Two app servers on one throwaway PostgreSQL database (and Redis when it answers).
scaletest: venv
	$(BIN)/python manage.py scaletest

# A busy floor against `make serve` on a throwaway site of 10,000 entries (see README).
loadtest: venv
	$(BIN)/python manage.py loadtest

# The browser tests (tests/e2e/) need Debian's Chromium; without it they are skipped.
test: venv
	@test -x /usr/bin/chromium || echo "make test: no /usr/bin/chromium, so the browser tests in tests/e2e/ are skipped (apt-get install chromium)"
	$(BIN)/pytest

test-postgres: venv
	DATABASE_URL=$(TEST_DATABASE_URL) KB_SEARCH_BACKEND=postgres $(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python manage.py bench --sizes 10000,100000 --backends whoosh,postgres

clean:
	rm -rf $(VENV) var .pytest_cache

eval: venv
	$(BIN)/python manage.py evaluate
