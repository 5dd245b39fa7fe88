"""Change control through the test client: the full flow, forged requests, and list costs."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from changes.models import Proposal, State, Vote
from changes.tasks import decide_due_proposals
from qpgov import eventlog
from qpgov.models import Event
from tests.factories import draft, form_data, in_review, vote


def test_propose_review_approve_implement_through_the_web(client, alice, olga, oscar):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(alice)
        response = client.post(reverse("changes:create"), form_data())
        proposal = Proposal.objects.get()
        assert response.status_code == 302 and response["Location"] == proposal.get_absolute_url()
        assert client.post(reverse("changes:submit", args=[proposal.pk])).status_code == 302
        proposal.refresh_from_db()
        assert proposal.state == State.IN_REVIEW

        client.force_login(olga)
        page = client.get(proposal.get_absolute_url())
        assert b"Record vote" in page.content
        response = client.post(reverse("changes:vote", args=[proposal.pk]), {
            "choice": "approve", "reason": "", "revision_hash": proposal.content_hash,
            "confirm_determinism": "on",
        })
        assert response.status_code == 302

    with time_machine.travel(start + timedelta(hours=24), tick=False):
        client.force_login(olga)  # a day later: sessions last 12 hours, olga signs in again
        # Viewing the page decides nothing: it says the decision is due, and
        # the beat sweep (called here) takes it.
        page = client.get(proposal.get_absolute_url())
        assert b"Decision due, being taken" in page.content
        assert b"Record implementation" not in page.content
        decide_due_proposals()
        page = client.get(proposal.get_absolute_url())
        assert b"Approved" in page.content
        assert b"Record implementation" in page.content
        response = client.post(reverse("changes:implementation", args=[proposal.pk]), {
            "outcome": "implemented",
            "performed_at": (start + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"),
            "verification_notes": "All three rpc nodes report max_peers 80 and stable memory.",
            "public_changelog": "Raised the peer limit on public rpc nodes to 80.",
        })
        assert response.status_code == 302

    proposal.refresh_from_db()
    assert proposal.state == State.IMPLEMENTED
    assert proposal.implemented_by == olga
    states = [e.to_state for e in Event.objects.for_subject(proposal) if e.to_state]
    assert states == ["draft", "in_review", "approved", "implemented"]
    assert eventlog.verify()[1] is None


def test_the_form_shows_field_errors_and_saves_nothing(client, alice):
    client.force_login(alice)
    response = client.post(reverse("changes:create"), form_data(rollback_steps="n/a", title=""))
    assert response.status_code == 200
    assert b"is a placeholder" in response.content
    assert b"This field is required" in response.content
    assert not Proposal.objects.exists()


def test_a_protocol_change_is_refused_on_the_form(client, alice):
    client.force_login(alice)
    response = client.post(reverse("changes:create"), form_data(category="protocol"))
    assert b"Protocol changes are frozen during the mainnet phase." in response.content
    assert not Proposal.objects.exists()


@pytest.mark.parametrize("url_name", ["changes:list", "changes:create"])
def test_outsiders_get_403(client, eve, url_name):
    client.force_login(eve)
    assert client.get(reverse(url_name)).status_code == 403


def test_visitors_are_sent_to_sign_in(client, db):
    response = client.get(reverse("changes:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_forged_vote_from_the_wrong_role_gets_403_and_changes_nothing(client, alice, olga, carol):
    proposal = in_review(alice)
    client.force_login(carol)
    response = client.post(reverse("changes:vote", args=[proposal.pk]), {
        "choice": "approve", "reason": "", "revision_hash": proposal.content_hash,
        "confirm_determinism": "on"})
    assert response.status_code == 403
    assert b"Only Core Ops may vote" in response.content
    assert not Vote.objects.exists()


def test_a_self_vote_gets_403(client, db, olga):
    from qpgov import roles
    from tests.conftest import make_user

    proposer = make_user("pat", roles.PROPOSERS, roles.CORE_OPS)
    make_user("otto", roles.CORE_OPS)
    proposal = in_review(proposer)
    client.force_login(proposer)
    response = client.post(reverse("changes:vote", args=[proposal.pk]), {
        "choice": "approve", "reason": "", "revision_hash": proposal.content_hash,
        "confirm_determinism": "on"})
    assert response.status_code == 403
    assert not Vote.objects.exists()


def test_out_of_order_requests_get_409_with_a_reason(client, alice, olga):
    proposal = draft(alice)
    client.force_login(olga)
    response = client.post(reverse("changes:vote", args=[proposal.pk]), {
        "choice": "approve", "reason": "", "revision_hash": "x" * 64})
    assert response.status_code == 404  # someone else's draft is invisible
    client.force_login(alice)
    in_review_now = in_review(alice, title="Rotate rpc TLS certificates now")
    response = client.post(reverse("changes:submit", args=[in_review_now.pk]))
    assert response.status_code == 409
    assert b"not a draft" in response.content
    response = client.get(reverse("changes:edit", args=[in_review_now.pk]))
    assert response.status_code == 409
    client.force_login(olga)
    response = client.post(reverse("changes:implementation", args=[in_review_now.pk]), {})
    assert response.status_code == 409


def test_a_stale_revision_vote_gets_409(client, alice, olga):
    proposal = in_review(alice)
    client.force_login(olga)
    response = client.post(reverse("changes:vote", args=[proposal.pk]), {
        "choice": "approve", "reason": "", "revision_hash": "0" * 64,
        "confirm_determinism": "on"})
    assert response.status_code == 409
    assert b"amended after you loaded it" in response.content


def test_get_is_not_allowed_on_actions(client, alice):
    proposal = draft(alice)
    client.force_login(alice)
    assert client.get(reverse("changes:submit", args=[proposal.pk])).status_code == 405


def test_only_the_proposer_withdraws(client, alice, olga):
    proposal = in_review(alice)
    client.force_login(olga)
    assert client.post(reverse("changes:withdraw", args=[proposal.pk])).status_code == 403
    client.force_login(alice)
    response = client.post(reverse("changes:withdraw", args=[proposal.pk]), {"note": "superseded"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN
    assert client.post(reverse("changes:withdraw", args=[proposal.pk])).status_code == 409


def test_the_amend_form_makes_a_new_revision(client, alice, olga):
    proposal = in_review(alice)
    client.force_login(alice)
    response = client.post(reverse("changes:amend", args=[proposal.pk]),
                           form_data(rollback_minutes=30, note="Rollback measured at 30 minutes."))
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.revision == 2


def test_the_list_filters(client, alice, olga, oscar):
    mine = in_review(alice)
    voted = in_review(alice, title="Open port 30304 for the new relay")
    vote(voted, olga)
    draft(alice, title="A draft nobody else should see")
    client.force_login(olga)
    awaiting = client.get(reverse("changes:list"), {"awaiting": "1"})
    assert list(awaiting.context["page"].object_list) == [mine]
    everything = client.get(reverse("changes:list"))
    assert everything.context["page"].paginator.count == 2  # alice's draft is hidden
    client.force_login(alice)
    assert client.get(reverse("changes:list"), {"mine": "1"}).context["page"].paginator.count == 3
    assert client.get(reverse("changes:list"), {"state": "draft"}).context["page"].paginator.count == 1


def test_the_list_shows_a_change_to_a_row_at_once(client, alice, olga):
    proposal = draft(alice, title="Raise the rpc peer limit")
    client.force_login(alice)
    assert "Raise the rpc peer limit" in client.get(reverse("changes:list")).content.decode()
    client.post(reverse("changes:edit", args=[proposal.pk]),
                {**form_data(), "title": "Raise the rpc peer limit to 80"})
    client.post(reverse("changes:submit", args=[proposal.pk]))
    html = client.get(reverse("changes:list")).content.decode()
    assert "Raise the rpc peer limit to 80" in html and "In review" in html
    client.force_login(olga)  # the same rows, rendered once, for anyone who may see them
    html = client.get(reverse("changes:list")).content.decode()
    assert "Raise the rpc peer limit to 80" in html and "olga" in html


def test_a_draft_never_reaches_another_persons_list_through_the_cache(client, alice, olga):
    in_review(alice, title="Open port 30304 for the new relay")
    draft(alice, title="A draft nobody else should see")
    client.force_login(alice)
    assert "A draft nobody else should see" in client.get(reverse("changes:list")).content.decode()
    client.force_login(olga)
    html = client.get(reverse("changes:list")).content.decode()
    assert "Open port 30304" in html and "A draft nobody else should see" not in html


@pytest.mark.parametrize("rows", [1, 60])
def test_the_list_costs_a_constant_number_of_queries(client, alice, olga, rows,
                                                     django_assert_max_num_queries):
    objs = [draft(alice, title=f"Change number {i} for the rpc nodes") for i in range(rows)]
    assert objs
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("changes:list"))
    assert response.status_code == 200


@pytest.mark.parametrize("votes", [0, 2])
def test_the_detail_page_costs_a_constant_number_of_queries(client, alice, olga, oscar, votes,
                                                            django_assert_max_num_queries):
    proposal = in_review(alice)
    for voter in (olga, oscar)[:votes]:
        vote(proposal, voter)
    client.force_login(olga)
    with django_assert_max_num_queries(14):
        response = client.get(proposal.get_absolute_url())
    assert response.status_code == 200


def test_markdown_in_the_change_is_sanitized(client, alice):
    proposal = draft(alice, change="Run this <script>alert(1)</script> and [x](javascript:alert(1)) now ok")
    client.force_login(alice)
    html = client.get(proposal.get_absolute_url()).content
    assert b"<script>alert" not in html
    assert b'href="javascript:' not in html
