"""A proposal page says where it stands, not only what the policy is (issue 17, item 4)."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from changes import services
from changes.models import Vote
from changes.status import status_line
from tests.factories import draft, in_review, vote


def page(client, user, proposal):
    client.force_login(user)
    html = client.get(proposal.get_absolute_url()).content.decode()
    start = html.index('id="status-line"')
    return html[start:html.index("</p>", start)]


def test_one_ops_approval_reads_as_met_and_when_it_will_be_decided(client, alice, olga, oscar):
    p = in_review(alice)
    vote(p, olga)
    line = page(client, alice, p)
    when = f"{p.earliest_decision_at:%Y-%m-%d %H:%M} UTC"
    assert "1 approval from Core Ops; no rejection." in line
    assert f"Approved automatically at {when} unless someone rejects before then." in line


def test_with_no_votes_it_says_what_is_still_needed_and_when_it_expires(client, alice, olga):
    p = in_review(alice)
    line = page(client, alice, p)
    assert "no approval from Core Ops; no rejection." in line
    assert "Still needed: 1 more approval from Core Ops and no rejection." in line
    assert f"If the policy is not met by {p.deadline:%Y-%m-%d %H:%M} UTC, the proposal expires." in line


def test_a_standing_rejection_says_it_blocks(client, alice, olga, oscar):
    p = in_review(alice)
    vote(p, olga)
    vote(p, oscar, Vote.REJECT, reason="Peers would exceed the file-descriptor limit.")
    assert "A standing rejection blocks it. Rejected automatically" in page(client, alice, p)


def test_once_due_it_says_the_sweep_is_taking_the_decision(client, alice, olga, oscar):
    p = in_review(alice)
    vote(p, olga)
    with time_machine.travel(p.earliest_decision_at + timedelta(seconds=5), tick=False):
        assert "The decision is due and is being taken" in page(client, alice, p)


def test_it_counts_only_the_current_electorate(alice, olga, oscar):
    p = in_review(alice)
    vote(p, olga)
    olga.is_active = False
    olga.save()
    line = status_line(p, timezone.now())
    assert "no approval from Core Ops" in line and "Still needed: 1 more approval" in line


def test_a_draft_and_an_approved_proposal_say_what_comes_next(alice, olga, oscar):
    assert "Submit it for review" in status_line(draft(alice), timezone.now())
    p = in_review(alice)
    vote(p, olga)
    services.decide(p.pk, p.earliest_decision_at)
    p.refresh_from_db()
    line = status_line(p, timezone.now())
    assert "Waiting for Core Ops to record the implementation" in line
    assert f"{p.lapses_at:%Y-%m-%d %H:%M} UTC" in line


def test_during_a_freeze_it_says_the_decision_is_held_never_a_time_it_will_not_keep(
        client, alice, olga, oscar):
    p = in_review(alice)
    vote(p, olga)
    freeze = services.declare_freeze(olga, {
        "title": "Upgrade to v3", "reason": "Validators upgrade to v3 in this window.",
        "starts_at": timezone.now(), "ends_at": p.earliest_decision_at + timedelta(hours=6),
        "categories": ["ops"], "nodes": []})
    ends = f"{freeze.ends_at:%Y-%m-%d %H:%M} UTC"
    for moment in (timezone.now(), p.earliest_decision_at + timedelta(minutes=1)):
        with time_machine.travel(moment, tick=False):
            line = page(client, alice, p)
        assert "Approved automatically at" not in line
        assert (f"Approved automatically when Freeze #{freeze.pk}: Upgrade to v3 (until {ends}) "
                "ends unless someone rejects before then.") in line


def test_an_emergency_change_says_it_falls_back_rather_than_expires(alice, olga, oscar, rita):
    from tests.factories import emergency_in_review, sev1

    p = emergency_in_review(alice, sev1(olga, rita))
    line = status_line(p, timezone.now())
    assert "Still needed: 2 more approvals from Core Ops other than the proposer" in line
    assert f"{p.deadline:%Y-%m-%d %H:%M} UTC" in line and "normal Ops review" in line
    assert "expires." not in line and "a majority" not in line


def test_ratification_states_say_what_is_needed_and_what_follows(alice, olga, oscar, rita):
    from tests.factories import emergency_in_review, implementation_data, sev1

    p = emergency_in_review(alice, sev1(olga, rita))
    vote(p, olga)
    vote(p, oscar)
    services.record_implementation(p.pk, olga, implementation_data())
    p.refresh_from_db()
    line = status_line(p, timezone.now())
    assert "in its ratification review" in line
    assert "Still needed: 1 more approval from Core Ops and no rejection." in line
    assert f"If it is not ratified by {p.deadline:%Y-%m-%d %H:%M} UTC, a rollback is required." in line
    services.decide(p.pk, p.deadline)
    p.refresh_from_db()
    assert "a rollback is required. Core Ops carry out" in status_line(p, timezone.now())
