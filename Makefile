# Every command a developer needs; `make` alone lists them. The work is done by the scripts in
# deploy/dev/ (see their docstrings). Overridable: PYTHON (the python3 that creates .venv),
# PORT and every other setting in .env, PYTEST_ARGS (extra pytest arguments).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV_PY := .venv/bin/python
DEV := deploy/dev
# `make stop` and `make status` work before .venv exists: they need the standard library only.
ANY_PY = $(shell [ -x $(VENV_PY) ] && echo $(VENV_PY) || echo $(PYTHON))

.PHONY: help run test test-fast lint fmt bench stop status setup migrate venv

help: ## list the commands
	@echo "Usage: make <command>"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

run: migrate ## set up everything, seed demo data, serve web + worker + beat (Ctrl-C stops)
	@echo "==> seed_demo"
	@$(VENV_PY) manage.py seed_demo
	@exec $(VENV_PY) $(DEV)/serve.py

test: setup ## set up everything, then ruff, mypy, migrations check, OpenAPI check and pytest
	@$(VENV_PY) $(DEV)/services.py chromium
	@$(VENV_PY) $(DEV)/checks.py test

test-fast: setup ## the everyday lane: ruff, then pytest without the slow tests (under a minute)
	@$(VENV_PY) $(DEV)/checks.py fast

lint: venv ## ruff check, ruff format --check and mypy
	@$(VENV_PY) $(DEV)/checks.py lint

fmt: venv ## format the code and apply ruff's safe fixes
	@$(VENV_PY) -m ruff format .
	@$(VENV_PY) -m ruff check --fix .

bench: migrate ## run every bench/*.py
	@$(VENV_PY) $(DEV)/checks.py bench

stop: ## stop the servers make started (never the ones it found running)
	@$(ANY_PY) $(DEV)/services.py stop

status: ## show the local servers and which of them make started
	@$(ANY_PY) $(DEV)/services.py status

setup: venv ## .venv, .env, PostgreSQL + database, Redis and MongoDB, started when needed
	@$(VENV_PY) $(DEV)/services.py up

migrate: setup ## setup, then apply the database migrations
	@echo "==> migrate"
	@$(VENV_PY) manage.py migrate --noinput
	@$(VENV_PY) manage.py ensure_mongo_indexes

venv: ## create .venv and install requirements-dev.txt (again only when it changed)
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found." \
		"Install it: sudo apt-get install -y python3 python3-venv"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "ERROR: this project needs python3 >= 3.11 and '$(PYTHON)' is not one." \
		"Install one (Debian 12: sudo apt-get install -y python3 python3-venv)," \
		"or name it: make <command> PYTHON=python3.12"; exit 1; }
	@$(PYTHON) $(DEV)/bootstrap.py
