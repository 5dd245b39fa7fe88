#!/usr/bin/env bash
# `make bench`: start throwaway PostgreSQL and Redis, then run bench/run.py against them.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/services.sh
export QPGOV_ENV=dev  # local secret key; DEBUG is turned off for the server below
# Decisions and incidents build and send mail; a dummy backend drops it rather
# than printing it (console) or keeping it forever (locmem, which would look like a leak).
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
export DEBUG=false
export DB_CONN_MAX_AGE=60  # persistent connections, as docs/operations.md sets in production
services_install wrk curl
services_start
DATABASE_URL="$DATABASE_URL_PG" CELERY_BROKER_URL="$REDIS_URL" QPGOV_VAR_DIR="$SERVICES_DIR/var" \
  .venv/bin/python manage.py migrate --noinput -v0
DATABASE_URL="$DATABASE_URL_PG" CELERY_BROKER_URL="$REDIS_URL" QPGOV_VAR_DIR="$SERVICES_DIR/var" \
  CACHE_URL="$REDIS_URL" .venv/bin/python bench/run.py "$@"
