# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# 1883 is often taken by a system Mosquitto: the dev listener takes 1884 unless told otherwise.
MQTT_PORT ?= 1884
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/plugboard
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 50
FUZZ_SCENARIOS ?= 60

.PHONY: install run test lint typecheck test-postgres test-sqlite fuzz

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	@echo "Installing Plugboard and its dependencies into $(VENV) (the first time takes a minute or two)…"
	$(VENV)/bin/pip install --progress-bar on -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## run: the platform on the embedded default (SQLite, in-memory layer, no services)
run: install
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py demo --host $(HOST) --port $(PORT) --mqtt-port $(MQTT_PORT)
	$(PY) manage.py serve --host $(HOST) --port $(PORT) --mqtt-port $(MQTT_PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy maps files to modules by path, and platform/ is imported as plugboard: give it that name.
typecheck: install
	mkdir -p .typecheck && ln -sfn ../platform .typecheck/plugboard
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p plugboard -p devices -p data -p commands -p outbound -p alerts

## test: lint, types, migrations, then the suite on PostgreSQL + Redis and on embedded SQLite
test: lint typecheck
	DATABASE_URL= REDIS_URL= $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) test-postgres test-sqlite

test-postgres: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

# The embedded default where behaviour differs: storage, expiry, the in-memory layer.
test-sqlite: install
	DATABASE_URL= REDIS_URL= $(PY) -m pytest -m "not postgres" $(PYTEST_ARGS) \
		tests/plugboard tests/data tests/devices tests/commands tests/outbound tests/alerts

## fuzz: schemathesis over every operation of the served schema, FUZZ_EXAMPLES examples per
## operation and credential kind (the suite runs 5), then its stateful phase along the schema's
## links, FUZZ_SCENARIOS scenarios per created kind (the suite runs 6), on PostgreSQL; prints the figures
fuzz: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) PLUGBOARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PLUGBOARD_FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) \
		$(PY) -m pytest -s -q -p no:cacheprovider tests/plugboard/test_schema_contract.py -k schemathesis
