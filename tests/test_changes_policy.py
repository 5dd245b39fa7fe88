import pytest
from django.contrib.auth.models import Group

from changes import policy, services
from changes.models import State
from qpgov import roles
from qpgov.http import Conflict
from tests.conftest import make_user
from tests.factories import draft, in_review


@pytest.mark.parametrize("approvals,rejections,expected", [
    (0, 0, "open"), (1, 0, "approved"), (2, 0, "approved"), (1, 1, "rejected"), (0, 1, "rejected"),
])
def test_ops_needs_one_approval_and_no_standing_rejection(approvals, rejections, expected):
    assert policy.outcome(policy.ONE_APPROVAL_NO_REJECTION, 1, 2, approvals, rejections) == expected


@pytest.mark.parametrize("size,required", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_governance_needs_a_majority_of_the_council(size, required):
    assert policy.required_approvals(policy.MAJORITY_OF_ROLE, size) == required


@pytest.mark.parametrize("approvals,rejections,expected", [
    (1, 0, "open"), (2, 0, "approved"), (1, 1, "open"), (0, 2, "rejected"), (1, 2, "rejected"),
])
def test_governance_outcomes_with_three_eligible_of_three(approvals, rejections, expected):
    assert policy.outcome(policy.MAJORITY_OF_ROLE, 2, 3, approvals, rejections) == expected


def test_the_table_matches_the_playbook():
    assert policy.POLICIES["ops"].approver_role == roles.CORE_OPS
    assert policy.POLICIES["governance"].approver_role == roles.COUNCIL
    assert policy.POLICIES["protocol"].frozen


def test_submission_saves_the_policy_in_force(alice, olga, carol, chris, cora):
    proposal = in_review(alice, category="governance")
    assert proposal.policy_in_force["version"] == policy.POLICY_VERSION
    assert proposal.policy_in_force["approver_role"] == roles.COUNCIL
    assert proposal.required_approvals == 2  # majority of three, counted at submission


def test_a_later_council_change_does_not_rewrite_the_required_majority(alice, carol, chris, cora):
    proposal = in_review(alice, category="governance")
    for name in ("dan", "dina", "dora", "dusk"):
        make_user(name, roles.COUNCIL)
    proposal.refresh_from_db()
    assert proposal.required_approvals == 2


def test_a_protocol_draft_cannot_be_submitted(alice, olga):
    proposal = draft(alice)
    type(proposal).objects.filter(pk=proposal.pk).update(category="protocol")
    with pytest.raises(Conflict, match="Protocol changes are frozen"):
        services.submit(proposal.pk, alice)
    proposal.refresh_from_db()
    assert proposal.state == State.DRAFT


def test_an_ops_policy_nobody_can_meet_is_refused_at_submission(alice):
    # Core Ops has no members, so nobody could ever approve.
    proposal = draft(alice)
    with pytest.raises(Conflict, match="could never be approved"):
        services.submit(proposal.pk, alice)


def test_a_proposer_in_the_approver_role_does_not_count_towards_the_majority(db):
    # Two council members, one of whom proposes: the proposer is not a voter,
    # so the majority is of the one other member (see docs/changes.md).
    proposer = make_user("paula", roles.PROPOSERS, roles.COUNCIL)
    quinn = make_user("quinn", roles.COUNCIL)
    proposal = draft(proposer, category="governance")
    assert services.unreachable_reason(proposal) is None
    proposal = services.submit(proposal.pk, proposer)
    assert proposal.required_approvals == 1
    # Without quinn, only the proposer is left: nobody could approve.
    quinn.groups.clear()
    other = draft(proposer, category="governance", title="Add validator eight to the set")
    reason = services.unreachable_reason(other)
    assert "needs 1 approval from" in reason and "only 0 members other" in reason
    with pytest.raises(Conflict):
        services.submit(other.pk, proposer)


def test_groups_still_exist_for_the_policy(db):
    assert Group.objects.filter(name=roles.CORE_OPS).exists()
