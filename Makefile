# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask
HOST ?= 127.0.0.1
PORT ?= 5000
# Links in e-mails point at the server `make run` starts (PORT=5110 make run: mail links say 5110 too).
BASE_URL ?= http://$(HOST):$(PORT)
export BASE_URL
# Bytecode is kept: with PYTHONDONTWRITEBYTECODE set (as on CI's machines), every process the tests or `make run`
# start compiled the app's 230 modules from source again (half a second of each start), and each test worker
# rewrote the 280 test modules' assertions again.
unexport PYTHONDONTWRITEBYTECODE
# The recipes read PORT from their environment ("$$PORT"): a value with a quote in it is then only a wrong value.
export PORT

.PHONY: run test unit lint format test-sqlite test-postgres install translations-compile translations-update migrate check clean port-number

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations-compile

translations-compile: $(VENV)/.installed
	$(BIN)/pybabel compile -d app/translations --statistics 2>&1 | grep -v "^compiling" || true
	@ls app/translations/*/LC_MESSAGES/messages.mo >/dev/null

# Extract every marked string and merge it into the catalogues (then translate the new ones).
translations-update: $(VENV)/.installed
	$(BIN)/pybabel extract -F app/translations/babel.cfg -k _l -k lazy_gettext -k _pgettext:2c,3 -k lazy_pgettext:1c,2 -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete

# PORT first, naming it: BASE_URL is built from it, and 'http://127.0.0.1:abc' had been refused as BASE_URL.
port-number:
	@case "$$PORT" in (''|*[!0-9]*) false;; esac && [ "$$PORT" -ge 1 ] && [ "$$PORT" -le 65535 ] || \
		{ echo "PORT='$$PORT' is not a port number: give a whole number from 1 to 65535." >&2; exit 2; }

run: port-number install
	$(FLASK) demo prepare
	@echo "Sharaka is on http://$(HOST):$(PORT)  (Ctrl-C stops the web server and the scheduler)"
	@# exec: make's own child is the supervisor, which ends with make even when make is SIGKILLed (a shell
	@# trap sees no SIGKILL), restarts a scheduler that stops, and ends the run if the web server stops.
	@exec $(BIN)/python -m app.operations.supervisor --host $(HOST) --port $(PORT) --parent $$PPID

# Every test on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set. The tests run in
# TEST_WORKERS processes (pytest-xdist; "auto": one per core), each with a database of its own.
TEST_WORKERS ?= auto
test: install
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(BIN)/python -m tests.databases; fi
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL ($$TEST_DATABASE_URL)"; \
		SHARAKA_TEST_DB=postgresql $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not browser"; \
	fi

# The database-free tests (no SQLite file, no server): a quick check while working.
unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not database and not browser and not live"

# Style, types and import contracts (pyproject.toml says which); run before every commit and in CI.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: install
	$(FLASK) db check

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
