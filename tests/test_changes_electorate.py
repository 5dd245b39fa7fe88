"""Only the current electorate's votes count (issue 12, item 6).

At decision time a vote counts only if its voter is active, still holds the
category's approving role, and is not the proposer. Every other vote is set
aside: the decision event names it and says why, and the page shows it, before
the decision (as a vote that would be set aside now) and after.
"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from changes import policy, services
from changes.models import State
from qpgov import eventlog, roles
from qpgov.http import Conflict
from qpgov.models import Event
from tests.conftest import make_user
from tests.factories import draft, in_review, vote

H = timedelta(hours=1)


@pytest.fixture
def start():
    return timezone.now()


def at(moment):
    return time_machine.travel(moment, tick=False)


def decide(proposal, moment):
    with at(moment):
        return services.decide(proposal.pk)


def leave(user, role):
    user.groups.remove(Group.objects.get(name=role))


def deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


def decision_event(proposal):
    return Event.objects.for_subject(proposal).get(
        kind="transition", from_state=State.IN_REVIEW)


def council(*names):
    return [make_user(name, roles.COUNCIL) for name in names]


# --- Ops: one approval, no standing rejection ---------------------------------------


@pytest.mark.parametrize("departure,reasons", [
    ("removed and deactivated", ["deactivated", "no longer holds Core Ops"]),
    ("deactivated", ["deactivated"]),
    ("removed", ["no longer holds Core Ops"]),
])
def test_an_approval_by_someone_who_left_core_ops_does_not_approve(
    alice, olga, oscar, start, departure, reasons
):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    if "removed" in departure:
        leave(olga, roles.CORE_OPS)
    if "deactivated" in departure:
        deactivate(olga)
    assert decide(proposal, start + 24 * H) is None  # oscar may still vote
    assert decide(proposal, start + 72 * H) == State.EXPIRED
    event = decision_event(proposal)
    assert event.data["approvals"] == 0
    assert event.data["set_aside"] == [
        {"voter": "olga", "voter_id": olga.pk, "choice": "approve", "reasons": reasons}
    ]
    assert eventlog.verify()[1] is None


def test_a_rejection_by_someone_who_left_core_ops_no_longer_blocks(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga, "reject")
        vote(proposal, oscar)
    deactivate(olga)
    assert decide(proposal, start + 24 * H) == State.APPROVED
    event = decision_event(proposal)
    assert (event.data["approvals"], event.data["rejections"]) == (1, 0)
    assert [v["voter"] for v in event.data["set_aside"]] == ["olga"]


def test_a_member_back_in_the_role_by_decision_time_counts_again(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    leave(olga, roles.CORE_OPS)
    olga.groups.add(Group.objects.get(name=roles.CORE_OPS))
    assert decide(proposal, start + 24 * H) == State.APPROVED
    assert decision_event(proposal).data["set_aside"] == []


# --- Governance: a majority of the eligible council ----------------------------------


def test_council_members_removed_after_voting_do_not_carry_a_decision(alice, start):
    carol, chris, cora, dan, dina = council("carol", "chris", "cora", "dan", "dina")
    with at(start):
        proposal = in_review(alice, category="governance")
        assert proposal.required_approvals == 3
        for member in (carol, chris, cora):
            vote(proposal, member)
    leave(chris, roles.COUNCIL)
    leave(cora, roles.COUNCIL)
    assert decide(proposal, start + 24 * H) is None  # 1 of 3 counted; dan and dina may vote
    with at(start + 30 * H):
        vote(proposal, dan)
    assert decide(proposal, start + 30 * H) is None
    with at(start + 31 * H):
        vote(proposal, dina)
    assert decide(proposal, start + 31 * H) == State.APPROVED
    event = decision_event(proposal)
    assert event.data["approvals"] == 3
    assert [(v["voter"], v["reasons"]) for v in event.data["set_aside"]] == [
        ("chris", ["no longer holds Governance Council"]),
        ("cora", ["no longer holds Governance Council"]),
    ]


def test_a_departed_members_rejection_does_not_make_a_reachable_majority_unreachable(
    alice, start
):
    carol, chris, cora, dan, dina = council("carol", "chris", "cora", "dan", "dina")
    with at(start):
        proposal = in_review(alice, category="governance")
        vote(proposal, carol, "reject")
        vote(proposal, chris, "reject")
    deactivate(carol)
    # Four eligible, one standing rejection: three approvals are still possible.
    assert decide(proposal, start + 24 * H) is None
    with at(start + 25 * H):
        for member in (cora, dan, dina):
            vote(proposal, member)
    assert decide(proposal, start + 25 * H) == State.APPROVED
    assert decision_event(proposal).data["set_aside"][0]["reasons"] == ["deactivated"]


def test_a_council_rejection_still_counts_while_its_voter_is_in_the_council(alice, start):
    carol, chris, cora = council("carol", "chris", "cora")
    with at(start):
        proposal = in_review(alice, category="governance")
        vote(proposal, carol, "reject")
        vote(proposal, chris, "reject")
    assert decide(proposal, start + 24 * H) == State.REJECTED
    assert decision_event(proposal).data["set_aside"] == []


@pytest.mark.parametrize("others,required", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4)])
def test_the_majority_is_of_the_council_members_other_than_the_proposer(db, others, required):
    paula = make_user("paula", roles.PROPOSERS, roles.COUNCIL)
    council(*[f"member{i}" for i in range(others)])
    proposal = in_review(paula, category="governance")
    assert proposal.required_approvals == required
    event = Event.objects.for_subject(proposal).get(to_state=State.IN_REVIEW)
    assert event.data["eligible_at_submission"] == others


def test_a_four_member_council_including_the_proposer_needs_two_of_the_other_three(
    db, start
):
    paula = make_user("paula", roles.PROPOSERS, roles.COUNCIL)
    carol, chris, cora = council("carol", "chris", "cora")
    with at(start):
        proposal = in_review(paula, category="governance")
        vote(proposal, carol)
        vote(proposal, chris)
        vote(proposal, cora, "reject")
    assert proposal.required_approvals == 2
    assert decide(proposal, start + 24 * H) == State.APPROVED


def test_a_council_of_only_the_proposer_is_refused_at_submission(db):
    paula = make_user("paula", roles.PROPOSERS, roles.COUNCIL)
    proposal = draft(paula, category="governance")
    with pytest.raises(Conflict, match="only 0 member"):
        services.submit(proposal.pk, paula)


def test_the_majority_rule_counts_over_the_eligible_voters():
    assert policy.required_approvals(policy.MAJORITY_OF_ROLE, 3) == 2
    assert policy.required_approvals(policy.MAJORITY_OF_ROLE, 0) == 1  # never reachable


# --- the page --------------------------------------------------------------------------


def test_the_page_shows_a_vote_that_would_be_set_aside_now(client, alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    leave(olga, roles.CORE_OPS)
    deactivate(olga)
    client.force_login(oscar)
    html = client.get(proposal.get_absolute_url()).content.decode()
    assert "0 approve · 0 reject" in html
    assert "Would be set aside now: deactivated; no longer holds Core Ops" in html


def test_the_page_shows_the_votes_the_decision_set_aside(client, alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga, "reject")
        vote(proposal, oscar)
    deactivate(olga)
    decide(proposal, start + 24 * H)
    # Reactivated afterwards: the page still shows what the decision counted.
    olga.is_active = True
    olga.save()
    client.force_login(oscar)
    html = client.get(reverse("changes:detail", args=[proposal.pk])).content.decode()
    assert "Set aside at the decision: deactivated" in html
    assert "Vote set aside: olga (reject): deactivated." in html  # on the change log row


def test_the_worked_example_in_the_docs(db, start):
    # docs/changes.md, "Who counts at the decision".
    paula = make_user("paula", roles.PROPOSERS, roles.COUNCIL)
    carol, chris, cora = council("carol", "chris", "cora")
    with at(start):
        proposal = in_review(paula, category="governance")
        vote(proposal, carol)
        vote(proposal, chris)
        vote(proposal, cora, "reject")
    leave(chris, roles.COUNCIL)
    assert decide(proposal, start + 24 * H) == State.REJECTED
    event = decision_event(proposal)
    assert (event.data["approvals"], event.data["rejections"], event.data["required"],
            event.data["eligible"]) == (1, 1, 2, 2)
    assert event.data["set_aside"][0]["reasons"] == ["no longer holds Governance Council"]
