"""Every action from every state: allowed ones work, the rest are refused and change nothing."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_fsm import can_proceed

from changes import services
from changes.models import Proposal, State
from qpgov.http import Conflict
from tests.factories import draft, emergency_in_review, in_review, proposal_data, sev1, vote

H = timedelta(hours=1)

# The state machine as the issue specifies it: method -> (sources, target).
GRAPH = {
    "submit": ({State.DRAFT}, State.IN_REVIEW),
    "withdraw": ({State.DRAFT, State.IN_REVIEW}, State.WITHDRAWN),
    "approve": ({State.IN_REVIEW}, State.APPROVED),
    "reject": ({State.IN_REVIEW}, State.REJECTED),
    "expire": ({State.IN_REVIEW}, State.EXPIRED),
    "mark_implemented": ({State.APPROVED}, State.IMPLEMENTED),
    "mark_rolled_back": ({State.APPROVED, State.UNRATIFIED}, State.ROLLED_BACK),
    "lapse": ({State.APPROVED}, State.LAPSED),
    # Emergency changes (issue 15).
    "approve_emergency": ({State.IN_REVIEW}, State.APPROVED),
    "fall_back": ({State.IN_REVIEW}, State.IN_REVIEW),
    "reclassify": ({State.IN_REVIEW}, State.IN_REVIEW),
    "begin_ratification": ({State.APPROVED}, State.IN_RATIFICATION),
    "ratify": ({State.IN_RATIFICATION}, State.RATIFIED),
    "unratify": ({State.IN_RATIFICATION}, State.UNRATIFIED),
}
EMERGENCY_STATES = (State.IN_RATIFICATION, State.RATIFIED, State.UNRATIFIED)


@pytest.mark.parametrize("state", State.values)
@pytest.mark.parametrize("method", sorted(GRAPH))
def test_the_model_allows_exactly_the_specified_transitions(state, method):
    proposal = Proposal(state=state)
    sources, _ = GRAPH[method]
    assert can_proceed(getattr(proposal, method)) == (state in sources)


def implementation(outcome="implemented"):
    return {
        "outcome": outcome, "performed_at": timezone.now(),
        "verification_notes": "Checked every node reports the new value.",
        "rollback_notes": "Restored the previous config and restarted the nodes.",
        "public_changelog": "Raised the peer limit on public rpc nodes.",
    }


def build(state, alice, olga, start, oscar=None, rita=None):
    """A proposal in `state`, made through the services, and a moment to act at."""
    if state in EMERGENCY_STATES:
        return build_emergency(state, alice, olga, oscar, rita, start)
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


def build_emergency(state, alice, olga, oscar, rita, start):
    """An emergency change, approved by two Core Ops, implemented, then (not) ratified."""
    with time_machine.travel(start, tick=False):
        incident = sev1(olga, rita)
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
        vote(proposal, oscar)
    implemented_at = start + H
    with time_machine.travel(implemented_at, tick=False):
        services.record_implementation(proposal.pk, olga, implementation())
    act_at = implemented_at + H
    if state == State.RATIFIED:
        with time_machine.travel(implemented_at, tick=False):
            vote(proposal, oscar)
        act_at = implemented_at + 24 * H
        services.decide(proposal.pk, act_at)
    if state == State.UNRATIFIED:
        act_at = implemented_at + 72 * H
        services.decide(proposal.pk, act_at)
    proposal.refresh_from_db()
    assert proposal.state == state
    return proposal, act_at + timedelta(minutes=1)


ACTIONS = {
    "submit": (lambda p, a: services.submit(p.pk, a["alice"]), {State.DRAFT}, State.IN_REVIEW),
    "withdraw": (lambda p, a: services.withdraw(p.pk, a["alice"]),
                 {State.DRAFT, State.IN_REVIEW}, State.WITHDRAWN),
    "amend": (lambda p, a: services.amend(p.pk, a["alice"], proposal_data(rollback_minutes=44),
                                          "Rollback takes longer."),
              {State.IN_REVIEW}, State.IN_REVIEW),
    "vote": (lambda p, a: services.cast_vote(p.pk, a["oscar"], "approve", "", p.content_hash,
                                                confirms_determinism=True),
             {State.IN_REVIEW, State.IN_RATIFICATION}, None),
    "implement": (lambda p, a: services.record_implementation(p.pk, a["olga"], implementation()),
                  {State.APPROVED}, State.IMPLEMENTED),
    "roll back": (lambda p, a: services.record_implementation(
        p.pk, a["olga"], implementation("rolled_back")), {State.APPROVED}, State.ROLLED_BACK),
    "record the rollback": (lambda p, a: services.record_rollback(p.pk, a["olga"], {
        "performed_at": timezone.now(),
        "rollback_notes": "Restored the previous timeout and restarted every validator."}),
        {State.UNRATIFIED}, State.ROLLED_BACK),
    "reclassify": (lambda p, a: services.reclassify(p.pk, a["olga"], True,
                                                    "It adds a new RPC method.", p.content_hash),
                   {State.IN_REVIEW}, State.IN_REVIEW),
}


@pytest.mark.parametrize("state", State.values)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_from_each_state(state, action, alice, olga, oscar, rita, carol, chris):
    proposal, act_at = build(state, alice, olga, timezone.now(), oscar, rita)
    run, allowed_from, target = ACTIONS[action]
    actors = {"alice": alice, "olga": olga, "oscar": oscar}
    before = Proposal.objects.get(pk=proposal.pk)
    with time_machine.travel(act_at, tick=False):
        if state in allowed_from:
            run(before, actors)
            assert Proposal.objects.get(pk=proposal.pk).state == (target or state)
        else:
            with pytest.raises(Conflict):
                run(before, actors)
            after = Proposal.objects.get(pk=proposal.pk)
            assert (after.state, after.revision, after.updated_at) == (
                before.state, before.revision, before.updated_at)
