"""Every action from every state: allowed ones work, the rest are refused and change nothing."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_fsm import can_proceed

from changes import services
from changes.models import Proposal, State
from qpgov.http import Conflict
from tests.factories import draft, in_review, proposal_data, vote

H = timedelta(hours=1)

# The state machine as the issue specifies it: method -> (sources, target).
GRAPH = {
    "submit": ({State.DRAFT}, State.IN_REVIEW),
    "withdraw": ({State.DRAFT, State.IN_REVIEW}, State.WITHDRAWN),
    "approve": ({State.IN_REVIEW}, State.APPROVED),
    "reject": ({State.IN_REVIEW}, State.REJECTED),
    "expire": ({State.IN_REVIEW}, State.EXPIRED),
    "mark_implemented": ({State.APPROVED}, State.IMPLEMENTED),
    "mark_rolled_back": ({State.APPROVED}, State.ROLLED_BACK),
    "lapse": ({State.APPROVED}, State.LAPSED),
}


@pytest.mark.parametrize("state", State.values)
@pytest.mark.parametrize("method", sorted(GRAPH))
def test_the_model_allows_exactly_the_specified_transitions(state, method):
    proposal = Proposal(state=state)
    sources, _ = GRAPH[method]
    assert can_proceed(getattr(proposal, method)) == (state in sources)


def implementation(outcome="implemented"):
    return {
        "outcome": outcome, "performed_at": timezone.now() - timedelta(minutes=5),
        "verification_notes": "Checked every node reports the new value.",
        "rollback_notes": "Restored the previous config and restarted the nodes.",
        "public_changelog": "Raised the peer limit on public rpc nodes.",
    }


def build(state, alice, olga, start):
    """A proposal in `state`, made through the services, and a moment to act at."""
    with time_machine.travel(start, tick=False):
        if state == State.DRAFT:
            return draft(alice), start + H
        proposal = in_review(alice)
        if state == State.IN_REVIEW:
            return proposal, start + H
        if state == State.WITHDRAWN:
            services.withdraw(proposal.pk, alice)
            return proposal, start + H
        if state in (State.APPROVED, State.IMPLEMENTED, State.ROLLED_BACK, State.LAPSED):
            vote(proposal, olga)
        if state == State.REJECTED:
            vote(proposal, olga, "reject")
    decide_at = start + (72 * H if state == State.EXPIRED else 24 * H)
    services.decide(proposal.pk, decide_at)
    act_at = decide_at + H
    if state == State.LAPSED:
        act_at = decide_at + timedelta(days=15)
        services.decide(proposal.pk, act_at)
    if state in (State.IMPLEMENTED, State.ROLLED_BACK):
        with time_machine.travel(act_at, tick=False):
            services.record_implementation(
                proposal.pk, olga,
                implementation("implemented" if state == State.IMPLEMENTED else "rolled_back"))
    proposal.refresh_from_db()
    assert proposal.state == state
    return proposal, act_at


ACTIONS = {
    "submit": (lambda p, a: services.submit(p.pk, a["alice"]), {State.DRAFT}, State.IN_REVIEW),
    "withdraw": (lambda p, a: services.withdraw(p.pk, a["alice"]),
                 {State.DRAFT, State.IN_REVIEW}, State.WITHDRAWN),
    "amend": (lambda p, a: services.amend(p.pk, a["alice"], proposal_data(rollback_minutes=44),
                                          "Rollback takes longer."),
              {State.IN_REVIEW}, State.IN_REVIEW),
    "vote": (lambda p, a: services.cast_vote(p.pk, a["oscar"], "approve", "", p.content_hash),
             {State.IN_REVIEW}, State.IN_REVIEW),
    "implement": (lambda p, a: services.record_implementation(p.pk, a["olga"], implementation()),
                  {State.APPROVED}, State.IMPLEMENTED),
    "roll back": (lambda p, a: services.record_implementation(
        p.pk, a["olga"], implementation("rolled_back")), {State.APPROVED}, State.ROLLED_BACK),
}


@pytest.mark.parametrize("state", State.values)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_from_each_state(state, action, alice, olga, oscar):
    proposal, act_at = build(state, alice, olga, timezone.now())
    run, allowed_from, target = ACTIONS[action]
    actors = {"alice": alice, "olga": olga, "oscar": oscar}
    before = Proposal.objects.get(pk=proposal.pk)
    with time_machine.travel(act_at, tick=False):
        if state in allowed_from:
            run(before, actors)
            assert Proposal.objects.get(pk=proposal.pk).state == target
        else:
            with pytest.raises(Conflict):
                run(before, actors)
            after = Proposal.objects.get(pk=proposal.pk)
            assert (after.state, after.revision, after.updated_at) == (
                before.state, before.revision, before.updated_at)
