"""The suite's own harness: emptying the database between transactional tests.

A worker test can end while the real worker is still inside a step's
transaction; the flush that empties the database for the next test must not
fail on the deadlock that can follow (tests/conftest.py).
"""

import re
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connection, connections

from tests.test_changes_races import SQLITE_SERIALISES

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]


def test_the_flush_survives_a_deadlock_with_a_transaction_still_running():
    truncate = next(s for s in sql_flush(no_style(), connection) if s.startswith("TRUNCATE"))
    tables = re.findall(r'"([^"]+)"', truncate)
    first, last = tables[0], tables[-1]
    holding, done, errors = threading.Event(), threading.Event(), []

    def other_transaction():
        # Another connection, as the worker's would be: it holds the last table
        # the TRUNCATE will want, then asks for the first one, which the
        # TRUNCATE already holds: a deadlock, and the flush waited first.
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f'LOCK TABLE "{last}" IN ROW EXCLUSIVE MODE')
                holding.set()
                time.sleep(0.5)
                cursor.execute(f'LOCK TABLE "{first}" IN ROW EXCLUSIVE MODE')
                cursor.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
            holding.set()
        finally:
            other.close()
            done.set()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    holding.wait(10)
    assert errors == [] and holding.is_set()
    call_command("flush", interactive=False, verbosity=0)
    assert done.wait(30)
    thread.join()
    # The flush went through (after PostgreSQL broke the deadlock against it)
    # and the other transaction finished.
    assert errors == []
