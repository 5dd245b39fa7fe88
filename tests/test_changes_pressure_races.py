"""Emergency approvals and freezes racing decisions, on PostgreSQL.

Threads start together on a barrier, each with its own connection (see
tests/test_changes_races.py). PostgreSQL only: SQLite serialises every writer.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from changes import services
from changes.models import Proposal, State, Vote
from qpgov import eventlog, roles
from qpgov.models import Event
from tests.conftest import make_user
from tests.factories import emergency_in_review, in_review, sev1
from tests.test_changes_races import SQLITE_SERIALISES, run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]

REPETITIONS = 12


def approve(proposal, user):
    return lambda: services.cast_vote(proposal.pk, user, "approve", "", proposal.content_hash,
                                      confirms_determinism=True)


def test_two_core_ops_approving_an_emergency_change_together_approve_it_once(db, capsys):
    alice = make_user("alice", roles.PROPOSERS)
    olga, oscar = make_user("olga", roles.CORE_OPS), make_user("oscar", roles.CORE_OPS)
    rita = make_user("rita", roles.RESPONDERS)
    incident = sev1(rita, rita)
    for rep in range(REPETITIONS):
        proposal = emergency_in_review(alice, incident, title=f"Emergency fix number {rep}")
        now = timezone.now()
        results = run_together(approve(proposal, olga), approve(proposal, oscar),
                               lambda: services.decide_due(now))
        assert all(status == "ok" for status, _ in results), results
        assert Vote.objects.filter(proposal=proposal).count() == 2
        assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
        approvals = Event.objects.for_subject(proposal).filter(kind="transition",
                                                                to_state=State.APPROVED)
        assert approvals.count() == 1
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  emergency race: {REPETITIONS} repetitions x (2 approvers + 1 sweep) "
              f"on {connection.vendor}")


def test_a_freeze_declared_while_the_sweep_decides_is_wholly_before_or_after_it(db, capsys):
    alice = make_user("alice", roles.PROPOSERS)
    olga = make_user("olga", roles.CORE_OPS)
    outcomes = {"held": 0, "decided first": 0}
    for rep in range(REPETITIONS):
        proposal = in_review(alice, title=f"Freeze race number {rep}")
        approve(proposal, olga)()
        at = proposal.earliest_decision_at
        declare = lambda: services.declare_freeze(olga, {  # noqa: E731
            "title": f"Race freeze {rep}", "reason": "Declared while the sweep decides.",
            "starts_at": at - timedelta(hours=1), "ends_at": None, "categories": ["ops"],
            "nodes": []})
        results = run_together(lambda: services.decide_due(at), declare)
        assert all(status == "ok" for status, _ in results), results
        freeze = results[1][1]
        declared = Event.objects.for_subject(freeze).get(kind="freeze_declared")
        state = Proposal.objects.get(pk=proposal.pk).state
        if state == State.APPROVED:
            # The decision came first: the log shows it before the freeze, never after.
            decided = Event.objects.for_subject(proposal).get(kind="transition",
                                                               to_state=State.APPROVED)
            assert decided.seq < declared.seq
            outcomes["decided first"] += 1
        else:
            assert state == State.IN_REVIEW  # held by the freeze, not decided behind its back
            outcomes["held"] += 1
        freeze.lifted_at = at - timedelta(hours=1)  # out of the way of the next repetition
        freeze.save(update_fields=["lifted_at"])
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  freeze race: {REPETITIONS} repetitions on {connection.vendor}: {outcomes}")
