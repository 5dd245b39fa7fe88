from datetime import timedelta
from xml.etree import ElementTree

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

from changes import services
from changes.forms import ImplementationForm
from tests.factories import in_review, vote

ATOM = "{http://www.w3.org/2005/Atom}"


def implemented(alice, olga, title, line, outcome="implemented"):
    # Approved an hour ago, so that the work can be recorded as done now.
    with time_machine.travel(timezone.now() - timedelta(hours=25), tick=False):
        proposal = in_review(alice, title=title)
        vote(proposal, olga)
    services.decide(proposal.pk, proposal.earliest_decision_at)
    return services.record_implementation(proposal.pk, olga, {
        "outcome": outcome, "performed_at": timezone.now(),
        "verification_notes": "INTERNAL: checked on host rpc-3.internal by olga.",
        "rollback_notes": "INTERNAL rollback detail on host rpc-3.internal.",
        "public_changelog": line,
    })


def test_anyone_reads_implemented_and_rolled_back_changes_without_internal_detail(
    client, alice, olga
):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    implemented(alice, olga, "Change the p2p port", "Moved p2p to port 30305.", "rolled_back")
    in_review(alice, title="Still in review, not public")
    response = client.get(reverse("changes:public"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Raised the rpc peer limit to 80." in html and "Moved p2p to port 30305." in html
    assert "Rolled back" in html
    for internal in ("INTERNAL", "rpc-3.internal", "alice", "olga", "Still in review"):
        assert internal not in html


def test_the_feed_is_atom_and_carries_each_change(client, alice, olga):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    response = client.get(reverse("changes:public_feed"))
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(response.content)
    titles = [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    assert titles == ["Implemented: Raised the rpc peer limit to 80."]
    assert b"INTERNAL" not in response.content


def test_readers_can_revalidate_with_last_modified(client, alice, olga):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    first = client.get(reverse("changes:public"))
    assert "Last-Modified" in first and "public" in first["Cache-Control"]
    again = client.get(reverse("changes:public"), HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304
    assert "ETag" in first
    assert client.get(reverse("changes:public"), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    stale = http_date((timezone.now() - timedelta(days=1)).timestamp())
    assert client.get(reverse("changes:public"), HTTP_IF_MODIFIED_SINCE=stale).status_code == 200


@pytest.mark.parametrize("rows", [1, 40])
def test_the_public_log_costs_a_constant_number_of_queries(client, alice, olga, rows,
                                                           django_assert_max_num_queries):
    for i in range(rows):
        implemented(alice, olga, f"Change number {i} on rpc", f"Applied change number {i}.")
    # A cold cache: three stamp lookups (implemented, rolled back, emergency), the count
    # and the page.
    with django_assert_max_num_queries(5):
        assert client.get(reverse("changes:public")).status_code == 200


def test_pages_carry_strict_security_headers(client, db):
    response = client.get(reverse("changes:public"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_a_public_line_that_talks_price_is_refused(db):
    form = ImplementationForm({
        "outcome": "implemented", "performed_at": "2026-01-01T10:00",
        "verification_notes": "Checked every node reports the new value.",
        "public_changelog": "Upgrade done, token price should follow",
    })
    assert not form.is_valid()
    assert "price discussion" in form.errors["public_changelog"][0]


@pytest.mark.parametrize("line,match", [
    ("Raised the peer limit on rpc-east-3 to 80.", "rpc-east-3"),  # a registered node
    ("Raised the peer limit on rpc-east-3.internal to 80.", "rpc-east-3.internal"),  # its host
    ("Olga Kowalski raised the rpc peer limit to 80.", "Olga Kowalski"),  # an account's full name
    ("okowalski raised the rpc peer limit to 80.", "okowalski"),  # an account's username
    ("Raised the peer limit on 10.0.3.17 to 80.", "10.0.3.17"),
    ("Rotated GITHUB_TOKEN=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 for deploys.", "ghp_"),
])
def test_a_public_line_naming_a_host_a_person_or_a_secret_is_refused(db, line, match):
    from fleet.models import Node
    from tests.conftest import make_user

    Node.objects.create(name="rpc-east-3", environment="mainnet", role="rpc",
                        target="ops@rpc-east-3.internal:22")
    make_user("okowalski", first_name="Olga", last_name="Kowalski")
    form = ImplementationForm({
        "outcome": "implemented", "performed_at": "2026-01-01T10:00",
        "verification_notes": "Checked every node reports the new value.",
        "public_changelog": line,
    })
    assert not form.is_valid() and set(form.errors) == {"public_changelog"}
    [error, *_] = form.errors["public_changelog"]
    assert error.startswith("Not for the public log (sensitive data):") and match in error
    assert "never hosts, people or secrets" in error


def test_a_cached_public_page_changes_as_soon_as_a_change_is_implemented(
    client, alice, olga, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    assert b"Raised the rpc peer limit" in client.get(reverse("changes:public")).content
    with django_capture_on_commit_callbacks(execute=True):
        implemented(alice, olga, "Move the p2p port", "Moved p2p to port 30305.")
    assert b"Moved p2p to port 30305." in client.get(reverse("changes:public")).content


def test_the_cache_serves_repeat_visitors_without_touching_the_database(
    client, alice, olga, django_assert_num_queries
):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    client.get(reverse("changes:public"))
    with django_assert_num_queries(0):
        response = client.get(reverse("changes:public"))
    assert b"Raised the rpc peer limit" in response.content


def test_signed_in_people_never_get_a_cached_copy_of_someone_elses_page(client, alice, olga):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    client.force_login(olga)
    assert b"olga" in client.get(reverse("changes:public")).content
    client.logout()
    assert b"olga" not in client.get(reverse("changes:public")).content
