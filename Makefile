# Everyday commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run env migrate serve test lint fmt bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python -m slackstandin.devserver

# A first .env with generated DJANGO_SECRET_KEY and TOKEN_ENCRYPTION_KEYS (never overwrites one).
env: $(STAMP)
	$(BIN)/python manage.py slack_init

# Production (docs/production.md): DJANGO_DEBUG off, DATABASE_URL and the secrets from the
# environment. Release steps apart from serving: `make migrate` once per deploy, then `make serve`
# on every instance. serve starts nothing on a deploy-check warning or an unapplied migration.
migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

serve: export DJANGO_DEBUG = false
serve: $(STAMP)
	@$(BIN)/python manage.py check --deploy --fail-level WARNING || { \
	  echo "make serve: not starting: fix what is listed above (docs/production.md)" >&2; exit 1; }
	@$(BIN)/python manage.py migrate --check || { \
	  echo "make serve: not starting: the database has unapplied migrations (run make migrate" \
	    "once per deploy) or cannot be reached (see above)" >&2; exit 1; }
	$(BIN)/python manage.py collectstatic --noinput
	exec $(BIN)/gunicorn --config gunicorn.conf.py

# axe-core for the browser accessibility checks, when npm is there (they skip without it locally).
test: $(STAMP)
	@if command -v npm >/dev/null && [ ! -d tests/e2e_assets/node_modules ]; then \
	  npm ci --prefix tests/e2e_assets --no-audit --no-fund --silent; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy's Django plugin imports the settings: DJANGO_DEBUG=true loads them without production
# secrets, as for `manage.py check` (config in pyproject.toml).
MYPY_TARGETS := installations slackinstall slackstandin
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_DEBUG=true $(BIN)/mypy $(MYPY_TARGETS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks print figures (benchmarks/README.md); they never fail on a number. Each script runs on
# a fresh temporary SQLite file, then again on PostgreSQL when BENCH_DATABASE_URL is set (a
# database of its own: its tables are emptied). BENCH_QUICK=1 runs smaller sizes.
BENCH_SCRIPTS := admin_list reencrypt verify install_flow
bench: $(STAMP)
	@set -e; pg="$$BENCH_DATABASE_URL"; for db in sqlite $${pg:+postgresql}; do \
	  url=""; [ "$$db" = sqlite ] || url="$$pg"; \
	  for script in $(BENCH_SCRIPTS); do \
	    args=""; if [ -n "$(BENCH_QUICK)" ]; then \
	      case $$script in reencrypt) args="--sizes 10000";; *) args="--quick";; esac; fi; \
	    echo "== benchmarks/$$script.py on $$db $$args"; \
	    BENCH_DATABASE_URL="$$url" $(BIN)/python benchmarks/$$script.py $$args; \
	  done; \
	done
	@echo "== benchmarks/store_lookup.py (SQLite files of its own)"
	@$(BIN)/python benchmarks/store_lookup.py $(if $(BENCH_QUICK),--workspaces 2000 --lookups 1000)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .test-db.sqlite3
