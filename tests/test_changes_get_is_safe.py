"""Reading never decides: every page that shows proposals leaves a due decision to the sweep.

Issue 12, item 7. A GET (or HEAD) on any page, for anyone, must change no row
and append no event, even when an approval, a rejection, an expiry or a lapse
is due; the page says the decision is due and being taken, and the beat sweep
takes it.
"""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.models import Proposal, Revision, State, Vote
from changes.tasks import decide_due_proposals
from qpgov.models import ChainHead, Event
from tests.factories import in_review, vote

H = timedelta(hours=1)


@pytest.fixture
def due(alice, olga, oscar, settings):
    """Four proposals, each with a different decision due at `later`; one not due."""
    settings.QPGOV_APPROVAL_LAPSE_DAYS = 14
    start = timezone.now() - timedelta(days=20)
    with time_machine.travel(start, tick=False):
        lapsing = in_review(alice, title="Rotate the rpc TLS certificates")
        vote(lapsing, olga)
    services.decide(lapsing.pk, start + 24 * H)  # approved 19 days ago: its lapse is due
    later = timezone.now()
    with time_machine.travel(later - 80 * H, tick=False):
        expiring = in_review(alice, title="Move the metrics port to 9616")
    with time_machine.travel(later - 30 * H, tick=False):
        approving = in_review(alice, title="Raise p2p max peers on rpc nodes")
        vote(approving, olga)
        rejecting = in_review(alice, title="Open port 30304 on the seed nodes")
        vote(rejecting, oscar, "reject")
        waiting = in_review(alice, title="Lower the mempool size on validators")
    return {"approving": approving, "rejecting": rejecting, "expiring": expiring,
            "lapsing": lapsing, "waiting": waiting}


def snapshot() -> tuple:
    """Everything a decision could write: proposal rows, votes, revisions, the log and its head."""
    return (
        list(Proposal.objects.order_by("pk").values()),
        list(Vote.objects.order_by("pk").values()),
        list(Revision.objects.order_by("pk").values()),
        list(Event.objects.order_by("seq").values_list("seq", "hash")),
        list(ChainHead.objects.values_list("seq", "hash")),
    )


def pages(due, staff=False) -> list[str]:
    if staff:  # the read-only admin shows proposals too
        return [reverse("admin:changes_proposal_changelist")] + [
            reverse("admin:changes_proposal_change", args=[p.pk]) for p in due.values()]
    urls = [reverse("changes:list"), reverse("changes:list") + "?awaiting=1",
            reverse("changes:list") + "?state=in_review", reverse("changes:list") + "?mine=1",
            reverse("changes:public"), reverse("changes:public_feed"), reverse("home")]
    for proposal in due.values():
        urls.append(proposal.get_absolute_url())
    return urls


@pytest.mark.parametrize("method", ["get", "head"])
def test_no_page_takes_a_due_decision_for_anyone(client, due, alice, olga, staff, method):
    before = snapshot()
    for user in (alice, olga, None, staff):
        if user:
            client.force_login(user)
        else:
            client.logout()
        for url in pages(due, staff=user == staff):
            response = getattr(client, method)(url)
            assert response.status_code in (200, 302), (url, response.status_code)
    assert snapshot() == before


def test_the_page_says_a_due_decision_is_being_taken(client, due, olga):
    client.force_login(olga)
    for name in ("approving", "rejecting", "expiring", "lapsing"):
        html = client.get(due[name].get_absolute_url()).content.decode()
        assert "Decision due, being taken" in html, name
    html = client.get(due["waiting"].get_absolute_url()).content.decode()
    assert "Decision due" not in html
    # Still in review on the page: the page decided nothing.
    html = client.get(due["approving"].get_absolute_url()).content.decode()
    assert 'state-in_review">In review' in html and "state-approved" not in html


def test_the_sweep_takes_what_the_pages_left(client, due, olga):
    client.force_login(olga)
    for proposal in due.values():
        client.get(proposal.get_absolute_url())
    decide_due_proposals()
    states = {name: Proposal.objects.get(pk=p.pk).state for name, p in due.items()}
    assert states == {"approving": State.APPROVED, "rejecting": State.REJECTED,
                      "expiring": State.EXPIRED, "lapsing": State.LAPSED,
                      "waiting": State.IN_REVIEW}
    html = client.get(due["approving"].get_absolute_url()).content.decode()
    assert 'state-approved">Approved' in html and "Decision due" not in html
