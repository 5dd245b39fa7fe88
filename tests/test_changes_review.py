"""The review window, four eyes, revisions and decisions, with time moved by time-machine."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from changes import services
from changes.models import CONTENT_FIELDS, Proposal, State, Vote
from qpgov import eventlog
from qpgov.http import Conflict
from qpgov.models import Event
from tests.factories import draft, in_review, proposal_data, vote

H = timedelta(hours=1)


@pytest.fixture
def start():
    return timezone.now()


def at(moment):
    return time_machine.travel(moment, tick=False)


def decide(proposal, moment):
    with at(moment):
        return services.decide(proposal.pk)


def test_no_decision_before_24_hours_even_with_an_approval(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    assert decide(proposal, start + 24 * H - timedelta(minutes=1)) is None
    assert decide(proposal, start + 24 * H) == State.APPROVED


def test_a_standing_rejection_blocks_an_ops_change(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
        vote(proposal, oscar, "reject")
    assert decide(proposal, start + 25 * H) == State.REJECTED


def test_an_unmet_proposal_expires_at_the_deadline_never_approved(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
    assert decide(proposal, start + 72 * H - timedelta(seconds=1)) is None
    assert decide(proposal, start + 72 * H) == State.EXPIRED


def test_the_proposals_own_shorter_deadline_applies(alice, olga, start):
    with at(start):
        proposal = in_review(alice, review_hours=30)
    assert decide(proposal, start + 30 * H - timedelta(seconds=1)) is None
    assert decide(proposal, start + 30 * H) == State.EXPIRED


def test_votes_outside_the_window_are_refused(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
    with at(start + 72 * H), pytest.raises(Conflict, match="window has ended"):
        vote(proposal, olga)
    with at(start + 72 * H - timedelta(seconds=1)):
        vote(proposal, olga)


def test_the_proposer_never_votes_on_their_own_proposal(db, olga):
    from qpgov import roles
    from tests.conftest import make_user

    ops_proposer = make_user("pat", roles.PROPOSERS, roles.CORE_OPS)
    proposal = in_review(ops_proposer)
    with pytest.raises(PermissionDenied, match="your own proposal"):
        vote(proposal, ops_proposer)
    assert not Vote.objects.exists()


def test_only_the_categorys_approvers_vote(alice, olga, carol, rita, eve):
    proposal = in_review(alice)  # ops
    for outsider in (carol, rita, eve):
        with pytest.raises(PermissionDenied, match="Only Core Ops"):
            vote(proposal, outsider)
    assert not Vote.objects.exists()


def test_a_vote_can_be_changed_and_each_change_is_logged(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
        vote(proposal, olga, "reject", "Conflicts with the exchange maintenance window.")
        vote(proposal, olga, "reject", "Conflicts with the exchange maintenance window.")
    assert Vote.objects.get().choice == "reject"
    kinds = list(Event.objects.for_subject(proposal).values_list("kind", flat=True))
    assert kinds.count("vote") == 1 and kinds.count("vote_changed") == 1  # the repeat is a no-op
    assert decide(proposal, start + 24 * H) == State.REJECTED


def test_a_vote_binds_to_the_revision_it_judged(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
        stale_hash = proposal.content_hash
        services.amend(proposal.pk, alice, proposal_data(rollback_minutes=20), "Rollback takes longer.")
        with pytest.raises(Conflict, match="amended after you loaded it"):
            services.cast_vote(proposal.pk, olga, "approve", "", stale_hash)
    assert not Vote.objects.exists()


def test_amending_sets_votes_aside_and_restarts_the_window(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    with at(start + 10 * H):
        services.amend(proposal.pk, alice, proposal_data(rollback_minutes=25), "Slower rollback.")
    proposal.refresh_from_db()
    assert proposal.revision == 2
    assert proposal.earliest_decision_at == start + 34 * H
    assert proposal.deadline == start + 82 * H
    # The old approval is kept but does not count for revision 2.
    assert Vote.objects.filter(revision=1).count() == 1
    assert decide(proposal, start + 34 * H) is None
    with at(start + 40 * H):
        vote(proposal, oscar)
    assert decide(proposal, start + 40 * H) == State.APPROVED
    assert proposal.revisions.count() == 2


def test_an_amendment_that_changes_nothing_is_refused(alice, olga):
    proposal = in_review(alice)
    same = {name: getattr(proposal, name) for name in CONTENT_FIELDS}
    with pytest.raises(Conflict, match="changes nothing"):
        services.amend(proposal.pk, alice, same, "Nothing really.")


def test_governance_needs_a_majority_and_is_rejected_when_it_cannot_be_reached(
    alice, carol, chris, cora, start
):
    with at(start):
        approved = in_review(alice, category="governance", title="Add validator seven to the set")
        rejected = in_review(alice, category="governance", title="Remove validator two from the set")
        vote(approved, carol)
        vote(approved, chris)
        vote(rejected, carol)
        vote(rejected, chris, "reject")
        vote(rejected, cora, "reject")
    assert decide(approved, start + 24 * H) == State.APPROVED
    assert decide(rejected, start + 24 * H) == State.REJECTED


def test_a_decision_is_taken_once(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    assert decide(proposal, start + 24 * H) == State.APPROVED
    assert decide(proposal, start + 24 * H) is None
    assert Event.objects.for_subject(proposal).filter(to_state=State.APPROVED).count() == 1


def test_an_approval_lapses_when_not_implemented_in_time(alice, olga, start, settings):
    settings.QPGOV_APPROVAL_LAPSE_DAYS = 14
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    decide(proposal, start + 24 * H)
    assert decide(proposal, start + 24 * H + timedelta(days=14) - timedelta(seconds=1)) is None
    assert decide(proposal, start + 24 * H + timedelta(days=14)) == State.LAPSED


def test_the_sweep_decides_everything_due_and_sends_reminders(
    alice, olga, oscar, start, django_capture_on_commit_callbacks
):
    with at(start):
        due = in_review(alice)
        vote(due, olga)
        quiet = in_review(alice, title="Rotate the rpc TLS certificates")
    mail.outbox.clear()
    with at(start + 60 * H), django_capture_on_commit_callbacks(execute=True):
        counts = services.decide_due()
    assert counts == {"approved": 1, "reminded": 1}
    assert Proposal.objects.get(pk=due.pk).state == State.APPROVED
    reminder = [m for m in mail.outbox if "Reminder" in m.subject]
    # One message per person (each is its own delivery row, retried on its own).
    assert sorted(m.to for m in reminder) == [["olga@example.invalid"], ["oscar@example.invalid"]]
    with at(start + 61 * H):
        assert services.decide_due() == {"reminded": 0}
    assert Proposal.objects.get(pk=quiet.pk).state == State.IN_REVIEW


def test_the_sweep_decides_in_batches_with_one_append_per_batch(
    alice, olga, start, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(services, "SWEEP_BATCH", 2)
    with at(start):
        due = [in_review(alice, title=f"Raise the peer limit to {40 + i}") for i in range(5)]
        for proposal in due[:3]:
            vote(proposal, olga)
    with at(start + 72 * H):
        # The due ids and the reminders; per decision: lock, votes, electorate,
        # save, and its e-mail rows (read, insert); per batch of 2: its transaction (2),
        # the batch's row locks and the freezes in force, read once (3), the freezes that
        # held its decisions, read once (1), and one append (3).
        with django_assert_max_num_queries(1 + 5 * 6 + 3 * (2 + 3 + 1 + 3) + 1):
            counts = services.decide_due()
    assert counts == {"approved": 3, "expired": 2, "reminded": 0}
    decided = list(Event.objects.filter(kind="transition", to_state__in=["approved", "expired"])
                   .order_by("seq").values_list("subject_id", flat=True))
    assert decided == [p.pk for p in due]  # in id order, each exactly once
    assert eventlog.verify()[1] is None


def test_a_proposal_that_cannot_be_decided_does_not_hold_back_its_batch(
    alice, olga, start, monkeypatch, caplog
):
    with at(start):
        due = [in_review(alice, title=f"Raise the peer limit to {40 + i}") for i in range(3)]
        for proposal in due:
            vote(proposal, olga)
    broken = due[1]
    real = services.current_outcome

    def outcome(proposal, tally=None):
        if proposal.pk == broken.pk:
            raise RuntimeError("a policy row nobody can read")
        return real(proposal, tally)

    monkeypatch.setattr(services, "current_outcome", outcome)
    with at(start + 24 * H):
        assert services.decide_due() == {"approved": 2, "reminded": 0}
    states = {p.pk: p.state for p in Proposal.objects.filter(pk__in=[p.pk for p in due])}
    assert states == {due[0].pk: State.APPROVED, broken.pk: State.IN_REVIEW,
                      due[2].pk: State.APPROVED}
    assert f"could not decide proposal {broken.pk}" in caplog.text
    assert eventlog.verify()[1] is None


def test_submission_emails_the_approvers_and_the_decision_emails_the_proposer(
    alice, olga, oscar, start, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), at(start):
        proposal = in_review(alice)
    assert sorted(m.to for m in mail.outbox) == [["olga@example.invalid"],
                                                  ["oscar@example.invalid"]]
    with at(start):
        vote(proposal, olga)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        decide(proposal, start + 24 * H)
    assert [m.to for m in mail.outbox] == [["alice@example.invalid"]]
    assert "Approved" in mail.outbox[0].subject


def test_every_step_is_on_the_verified_chain(alice, olga, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    decide(proposal, start + 24 * H)
    kinds = list(Event.objects.for_subject(proposal).values_list("kind", "to_state"))
    assert kinds == [("created", "draft"), ("transition", "in_review"), ("vote", ""),
                     ("transition", "approved")]
    assert eventlog.verify()[1] is None


def test_the_state_field_cannot_be_set_directly(alice):
    proposal = draft(alice)
    with pytest.raises(AttributeError):
        proposal.state = State.APPROVED
