"""The electorate changing while a decision counts, on the real database (PostgreSQL only).

A decision reads the votes and the electorate. If those were two statements, a
removal committed between them would be half seen: the departed member's vote
counted, but not their seat. The decision counts both in one statement, so it
sees the electorate either wholly before the change or wholly after.
"""

import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from changes import services
from changes.models import State
from qpgov import eventlog, roles
from qpgov.models import Event
from tests.conftest import make_user
from tests.factories import in_review, vote

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="concurrent snapshots are PostgreSQL behaviour; SQLite serialises"),
]


def in_another_connection(job):
    """Run `job` in a thread with its own connection, committed before this returns."""
    errors = []

    def run():
        try:
            job()
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the concurrent change did not finish"
    if errors:
        raise errors[0]


def test_a_rejector_removed_while_the_decision_counts_is_never_half_counted(db):
    alice = make_user("alice", roles.PROPOSERS)
    carol, chris, *_ = [make_user(n, roles.COUNCIL) for n in ("carol", "chris", "cora", "dan", "dina")]
    proposal = in_review(alice, category="governance")
    assert proposal.required_approvals == 3
    vote(proposal, carol, "reject")
    vote(proposal, chris, "reject")
    council = Group.objects.get(name=roles.COUNCIL)

    # Before the removal: 5 may vote, 2 reject, 3 approvals still possible: open.
    # After it: 4 may vote, 1 rejects (chris's vote set aside), 3 possible: open.
    # Half seen (chris's rejection counted, his seat not): 4 - 2 < 3, rejected.
    fired = []

    def remove_chris_after_the_votes_are_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not fired and 'FROM "changes_vote"' in sql:
            fired.append(sql)
            in_another_connection(lambda: User.objects.get(pk=chris.pk).groups.remove(council))
        return result

    with connection.execute_wrapper(remove_chris_after_the_votes_are_read):
        state = services.decide(proposal.pk, proposal.earliest_decision_at)

    assert fired, "the removal never landed during the decision"
    assert not chris.groups.filter(pk=council.pk).exists()
    assert state is None
    proposal.refresh_from_db()
    assert proposal.state == State.IN_REVIEW
    assert not Event.objects.for_subject(proposal).filter(to_state=State.REJECTED).exists()
    assert eventlog.verify()[1] is None
