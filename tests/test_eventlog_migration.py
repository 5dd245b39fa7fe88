from hashlib import sha256

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from qpgov import eventlog
from qpgov.models import GENESIS_HASH, HASHED_FIELDS, Event, canonical_bytes

BEFORE = [("qpgov", "0002_signinfailure")]
AFTER = [("qpgov", "0003_event_body")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_the_latest():
    """Leave the schema as every other test expects it: all migrations applied."""
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_writes_bodies_that_match_the_hashes_already_stored(back_to_the_latest):
    old_apps = migrate(BEFORE)
    OldEvent = old_apps.get_model("qpgov", "Event")
    now = timezone.now()
    prev = GENESIS_HASH
    for seq in range(1, 4):
        event = OldEvent(seq=seq, subject_type="auth.group", subject_id=1, kind="note", actor_name="system",
                         note=f"before bodies ✓ {seq}", data={"seq": seq, "nested": [1.5, None]},
                         occurred_at=now, recorded_at=now, prev_hash=prev)
        values = tuple(getattr(event, name) for name in HASHED_FIELDS)
        event.hash = prev = sha256(canonical_bytes(values)).hexdigest()
        event.save()
    # A row altered before the upgrade must not be laundered by it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE qpgov_event SET note = 'altered' WHERE seq = 3")
        cursor.execute("UPDATE qpgov_chainhead SET seq = 3, hash = %s", [prev])

    migrate(AFTER)

    assert Event.objects.get(seq=1).body.startswith('{"actor_id":null,')
    for python in (False, True):
        checked, problem = eventlog.verify(python=python)
        assert (checked, problem.seq, problem.reason) == (2, 3, "content does not match its hash")
