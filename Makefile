# Everyday commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run env migrate serve try-production test lint fmt bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Production steps need only the runtime requirements (requirements.txt), not the toolchain.
RUNTIME := $(VENV)/.runtime
$(RUNTIME): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(RUNTIME)

install: $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python -m slackstandin.devserver

# A first .env with generated DJANGO_SECRET_KEY and TOKEN_ENCRYPTION_KEYS (never overwrites one).
env: $(RUNTIME)
	$(BIN)/python manage.py slack_init

# Production (docs/production.md): DJANGO_DEBUG off, DATABASE_URL and the secrets from the
# environment. Release steps apart from serving: `make migrate` once per deploy, then `make serve`
# on every instance. serve starts nothing on a deploy-check warning or an unapplied migration.
migrate: $(RUNTIME)
	$(BIN)/python manage.py migrate --noinput

serve: export DJANGO_DEBUG = false
serve: $(RUNTIME)
	@$(BIN)/python manage.py check --deploy --database default --fail-level WARNING || { \
	  echo "make serve: not starting: fix what is listed above (docs/production.md)" >&2; exit 1; }
	@$(BIN)/python manage.py migrate --check || { \
	  echo "make serve: not starting: the database has unapplied migrations (run make migrate" \
	    "once per deploy) or cannot be reached (see above)" >&2; exit 1; }
	$(BIN)/python manage.py collectstatic --noinput
	exec $(BIN)/gunicorn --config gunicorn.conf.py

# Production mode on this machine (docs/production.md, "Trying production locally"): https with a
# self-signed certificate on 127.0.0.1:8443, against the local Slack stand-in, with its own data
# in .try-production/ (development's db.sqlite3 is left alone).
try-production: $(RUNTIME)
	$(BIN)/python -m slackstandin.try_production

# axe-core for the browser accessibility checks, when npm is there (they skip without it locally).
test: $(STAMP)
	@if command -v npm >/dev/null && [ ! -d tests/e2e_assets/node_modules ]; then \
	  npm ci --prefix tests/e2e_assets --no-audit --no-fund --silent; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy's Django plugin imports the settings: DJANGO_DEBUG=true loads them without production
# secrets, as for `manage.py check` (config in pyproject.toml; tests and benchmarks are checked too,
# with the few relaxations its [[tool.mypy.overrides]] name for test code).
MYPY_TARGETS := installations slackinstall slackstandin tests benchmarks
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_DEBUG=true $(BIN)/mypy $(MYPY_TARGETS)
	$(BIN)/lint-imports --no-cache  # the layers in pyproject.toml [tool.importlinter]

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks print figures (benchmarks/README.md); they never fail on a number. On PostgreSQL, the
# database the targets are about: BENCH_DATABASE_URL (a database of its own: its tables are
# emptied), else the project's throwaway server (.ci/postgres.sh) when PostgreSQL is installed,
# else SQLite only, said so up front. Each run writes its figures to benchmarks/results/*.jsonl
# and ends with the summary table (figure, median and range of rounds, target, ok/MISS); about a
# quarter of an hour on 2 cores. BENCH_QUICK=1: smaller sizes; BENCH_SCRIPTS="reencrypt": only those.
bench: $(STAMP)
	@BENCH_QUICK=$(BENCH_QUICK) PY=$(BIN)/python benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .test-db.sqlite3
