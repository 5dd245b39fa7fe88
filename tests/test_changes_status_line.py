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
