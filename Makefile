# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: run test bench install migrate lint graphs clean validators screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Web server, two Celery workers (default queue, incident steps) and Celery beat; Ctrl-C stops all.
run: export QPGOV_ENV ?= dev
run: install
	$(PY) manage.py checkpoint_key --generate
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_accounts
	$(PY) manage.py demo_node --setup
	$(PY) manage.py demo_history
	$(PY) manage.py check_nodes
	$(PY) manage.py demo_alert --setup
	$(VENV)/bin/honcho -f Procfile.dev start

# The whole suite. DATABASE_URL and CELERY_BROKER_URL pick PostgreSQL and Redis;
# without them it runs on SQLite and the file-system broker.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks against throwaway PostgreSQL and Redis; BENCH_ARGS="--only verify --events 100000".
bench: install
	bash bench/run.sh $(BENCH_ARGS)

# The W3C Nu HTML checker (vnu.jar) for tests/test_accessibility.py, pinned in
# .ci/validators/package-lock.json; it needs Java (Debian: default-jre-headless).
# --ignore-scripts: its install script would fetch a Java runtime we take from Debian.
validators:
	npm ci --prefix .ci/validators --no-audit --no-fund --ignore-scripts

lint: install
	$(VENV)/bin/ruff check .

graphs: install
	QPGOV_ENV=dev $(PY) manage.py graph_transitions -o docs/img/proposal-states.png changes.Proposal
	QPGOV_ENV=dev $(PY) manage.py graph_transitions -o docs/img/incident-states.png incidents.Incident
	rm -f docs/img/proposal-states docs/img/incident-states

# Desktop and phone screenshots of the main pages for the docs, from a throwaway
# dev instance with the demo history (docs/screenshots.py).
screenshots: install
	$(PY) docs/screenshots.py

clean:
	rm -rf $(VENV) var staticfiles
