"""Concurrent voters and two decision sweeps racing at the deadline, on PostgreSQL.

Threads start together on a barrier; each uses its own database connection.
The proposal's row lock must serialise them: one decision, no lost vote, and
the log chain still verifies. PostgreSQL only: on SQLite every transaction
takes the database's single write lock at BEGIN (IMMEDIATE), so the threads
never overlap and the test would pass with no row lock at all.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from changes import services
from changes.models import Proposal, State, Vote
from qpgov import eventlog, roles
from qpgov.http import Conflict
from qpgov.models import Event
from tests.conftest import make_user
from tests.factories import in_review

SQLITE_SERIALISES = ("SQLite's IMMEDIATE transactions serialise every writer, so the threads "
                     "never overlap; the race is proven on the PostgreSQL pass of .ci/run")

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]

REPETITIONS = 15
VOTERS = 6


def run_together(*jobs):
    """Run callables in threads released at the same instant; return their results."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def worker(i, job):
        try:
            barrier.wait()
            results[i] = ("ok", job())
        except Exception as exc:  # collected and asserted on by the test
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_voters_and_two_sweeps_decide_once_and_lose_no_vote(db, capsys):
    proposer = make_user("alice", roles.PROPOSERS)
    voters = [make_user(f"ops{i}", roles.CORE_OPS) for i in range(VOTERS)]
    for rep in range(REPETITIONS):
        proposal = in_review(proposer, title=f"Race repetition number {rep}")
        at = proposal.earliest_decision_at  # decisions become due now; votes are still open

        def voter(user, choice):
            return lambda: services.cast_vote(
                proposal.pk, user, choice, "" if choice == "approve" else "Not during the freeze.",
                proposal.content_hash, confirms_determinism=True)

        jobs = [voter(u, "approve") for u in voters]
        jobs += [lambda: services.decide(proposal.pk, at), lambda: services.decide(proposal.pk, at)]
        results = run_together(*jobs)

        vote_results, sweep_results = results[:VOTERS], results[VOTERS:]
        for status, value in vote_results:
            # A vote either landed before the decision or was refused after it.
            assert status == "ok" or isinstance(value, Conflict), value
        landed = sum(status == "ok" for status, _ in vote_results)
        assert Vote.objects.filter(proposal=proposal).count() == landed
        decisions = [value for status, value in sweep_results if status == "ok" and value]
        assert [s for s, _ in sweep_results] == ["ok", "ok"]
        # Both sweeps may run before any vote lands (nothing to decide yet);
        # they never both decide.
        assert len(decisions) <= 1, sweep_results
        if not decisions:
            assert landed == VOTERS
            assert services.decide(proposal.pk, at) == State.APPROVED
        assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
        assert Event.objects.for_subject(proposal).filter(
            kind="transition", from_state=State.IN_REVIEW).count() == 1
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  race: {REPETITIONS} repetitions x ({VOTERS} voters + 2 sweeps) on {connection.vendor}")


def test_two_sweeps_at_the_deadline_expire_a_proposal_once(db):
    proposer = make_user("alice", roles.PROPOSERS)
    make_user("olga", roles.CORE_OPS)
    for rep in range(REPETITIONS):
        proposal = in_review(proposer, title=f"Deadline race number {rep}")
        at = proposal.deadline + timedelta(seconds=1)
        results = run_together(lambda: services.decide_due(at), lambda: services.decide_due(at))
        assert all(status == "ok" for status, _ in results), results
        expired = sum(value.get(State.EXPIRED, 0) for _, value in results)
        assert expired == 1
        assert Proposal.objects.get(pk=proposal.pk).state == State.EXPIRED
    assert eventlog.verify()[1] is None
