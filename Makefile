# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: run test bench install migrate lint graphs clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Web server, Celery worker and Celery beat as three processes; Ctrl-C stops all.
run: export QPGOV_ENV ?= dev
run: install
	$(PY) manage.py checkpoint_key --generate
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_accounts
	$(PY) manage.py demo_node --setup
	$(PY) manage.py demo_alert --setup
	$(VENV)/bin/honcho -f Procfile.dev start

# The whole suite. DATABASE_URL and CELERY_BROKER_URL pick PostgreSQL and Redis;
# without them it runs on SQLite and the file-system broker.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks against throwaway PostgreSQL and Redis; BENCH_ARGS="--only verify --events 100000".
bench: install
	bash bench/run.sh $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .

graphs: install
	QPGOV_ENV=dev $(PY) manage.py graph_transitions -o docs/img/proposal-states.png changes.Proposal
	QPGOV_ENV=dev $(PY) manage.py graph_transitions -o docs/img/incident-states.png incidents.Incident
	rm -f docs/img/proposal-states docs/img/incident-states

clean:
	rm -rf $(VENV) var staticfiles
