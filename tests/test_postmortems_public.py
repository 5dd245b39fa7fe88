"""The public side: published post-mortems for anyone, and nothing else."""

import time
from datetime import timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
import time_machine
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from incidents import postmortems
from incidents import views as incident_views
from qpgov import pagecache
from tests import postmortem_factories as pmf

ATOM = "{http://www.w3.org/2005/Atom}"

XSS = [
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="x" onmouseover="alert(1)">hover</a>',
    '**bold <iframe src="javascript:alert(1)"></iframe>**',
    "![img](javascript:alert(1))",
]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def published(rita, carol):
    return postmortems.publish(pmf.in_review(rita), carol)


def test_an_anonymous_visitor_reads_published_post_mortems_and_nothing_else(client, rita, carol):
    pm = pmf.in_review(rita, title="Published one")
    pm.internal_notes = "INTERNAL: ssh ops@val-1.internal, evidence INC-1/logs, rita@example.invalid"
    pm.save()
    pm = postmortems.publish(pm, carol)
    draft = pmf.draft(rita, title="Still a draft")
    in_review = pmf.in_review(rita, title="Still in review")

    listing = client.get(reverse("postmortems:list"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Published one" in html and pm.get_public_url() in html
    assert "Still a draft" not in html and "Still in review" not in html

    page = client.get(pm.get_public_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Published one" in html and pm.content_hash in html
    for internal in ("INTERNAL", "val-1.internal", "rita", "carol", "evidence", "@"):
        assert internal not in html.split("<main", 1)[1]
    assert client.get(reverse("changes:public")).status_code == 200

    # Drafts and reviews have no public URL; their internal pages want a sign-in.
    for unpublished in (draft, in_review):
        assert unpublished.slug is None
        response = client.get(reverse("incidents:postmortem", args=[unpublished.incident_id]))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/postmortems/still-a-draft/").status_code == 404
    assert client.get(reverse("incidents:list")).status_code == 302


def test_signed_in_people_without_access_are_turned_away(client, eve, rita):
    pm = pmf.in_review(rita)
    client.force_login(eve)
    assert client.get(reverse("incidents:postmortem", args=[pm.incident_id])).status_code == 403
    assert client.get("/postmortems/block-production-stalled-for-14-minutes/").status_code == 404


def test_the_list_is_newest_first_and_paginated(client, rita, carol):
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=True):
        for i in range(21):
            postmortems.publish(pmf.in_review(rita, title=f"Old incident {i:02}"), carol)
    postmortems.publish(pmf.in_review(rita, title="The newest incident"), carol)
    first = client.get(reverse("postmortems:list")).content.decode()
    assert first.index("The newest incident") < first.index("Old incident 20")
    assert "Page 1 of 2" in first and "Old incident 00" not in first
    second = client.get(reverse("postmortems:list") + "?page=2").content.decode()
    assert "Old incident 00" in second


def test_an_amendment_shows_on_the_page_and_in_the_feed_in_order(
    client, published, rita, carol, django_capture_on_commit_callbacks
):
    before = client.get(published.get_public_url())
    with django_capture_on_commit_callbacks(execute=True):
        first = pmf.published_amendment(published, rita, carol, text="First correction: 15 minutes.")
        second = pmf.published_amendment(published, rita, carol, text="Second correction: SEV1.")
    pmf.amendment(published, rita, text="Unreviewed correction.")
    html = client.get(published.get_public_url()).content.decode()
    assert "First correction" not in before.content.decode()
    assert html.index("First correction") < html.index("Second correction")
    assert f'id="amendment-{first.pk}"' in html and second.content_hash in html
    assert "Unreviewed correction" not in html

    feed = client.get(reverse("postmortems:feed"))
    assert feed["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed.content)
    entries = [(e.findtext(f"{ATOM}title"), e.find(f"{ATOM}link").get("href"))
               for e in root.iter(f"{ATOM}entry")]
    titles = [t for t, _ in entries]
    assert titles.count("Amendment to: Block production stalled for 14 minutes") == 2
    assert "Post-mortem: Block production stalled for 14 minutes" in titles
    assert any(link.endswith(f"#amendment-{second.pk}") for _, link in entries)
    assert b"Unreviewed correction" not in feed.content


def test_readers_revalidate_with_last_modified_and_etag(
    client, published, rita, carol, django_capture_on_commit_callbacks
):
    url = published.get_public_url()
    first = client.get(url)
    assert "public" in first["Cache-Control"] and first["ETag"] and first["Last-Modified"]
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    listing = client.get(reverse("postmortems:list"))
    assert client.get(reverse("postmortems:list"),
                      HTTP_IF_MODIFIED_SINCE=listing["Last-Modified"]).status_code == 304
    feed = client.get(reverse("postmortems:feed"))
    assert client.get(reverse("postmortems:feed"),
                      HTTP_IF_MODIFIED_SINCE=feed["Last-Modified"]).status_code == 304

    # An amendment is a new version: the old validators no longer match and the
    # cached page is not served.
    with (time_machine.travel(timezone.now() + timedelta(minutes=5)),
          django_capture_on_commit_callbacks(execute=True)):
        pmf.published_amendment(published, rita, carol, text="A later correction.")
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and "A later correction." in again.content.decode()
    assert again["ETag"] != first["ETag"]
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 200


@pytest.mark.parametrize("rows", [1, 30])
def test_the_public_pages_cost_a_constant_number_of_queries(client, rita, carol, rows,
                                                            django_assert_max_num_queries):
    pms = [postmortems.publish(pmf.in_review(rita, title=f"Incident {i}"), carol)
           for i in range(rows)]
    for i in range(rows):
        pmf.published_amendment(pms[0], rita, carol, text=f"Correction number {i}.")
    with django_assert_max_num_queries(3):
        assert client.get(reverse("postmortems:list")).status_code == 200
    with django_assert_max_num_queries(3):
        assert client.get(pms[0].get_public_url()).status_code == 200
    with django_assert_max_num_queries(3):
        assert client.get(reverse("postmortems:feed")).status_code == 200


def test_a_repeat_visitor_costs_no_query(client, published, django_assert_num_queries):
    first = client.get(published.get_public_url())
    client.get(reverse("postmortems:list"))
    with django_assert_num_queries(0):
        page = client.get(published.get_public_url())
        listing = client.get(reverse("postmortems:list"))
    assert "Lessons learned" in page.content.decode() and page["ETag"] == first["ETag"]
    assert page["Last-Modified"] == first["Last-Modified"]
    assert published.get_public_url() in listing.content.decode()
    with django_assert_num_queries(0):
        assert client.get(published.get_public_url(),
                          HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_the_feed_is_served_from_the_page_cache_like_the_other_pages(
        client, published, rita, carol, django_assert_num_queries, django_capture_on_commit_callbacks):
    first = client.get(reverse("postmortems:feed"))
    with django_assert_num_queries(0):
        again = client.get(reverse("postmortems:feed"))
    assert again.content == first.content and published.title.encode() in again.content
    for response in (first, again):
        assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert response["Cache-Control"] == pagecache.PUBLIC_CACHE_CONTROL
    assert again["ETag"] == first["ETag"] and again["Last-Modified"] == first["Last-Modified"]
    with django_assert_num_queries(0):
        assert client.get(reverse("postmortems:feed"), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        pmf.published(rita, carol, title="A second stall")
    assert b"A second stall" in client.get(reverse("postmortems:feed")).content


def test_a_new_publication_shows_on_the_cached_list_at_once(
    client, published, rita, carol, django_capture_on_commit_callbacks
):
    client.get(reverse("postmortems:list"))
    with django_capture_on_commit_callbacks(execute=True):
        newer = pmf.published(rita, carol, title="A second stall")
    html = client.get(reverse("postmortems:list")).content.decode()
    assert "A second stall" in html and newer.get_public_url() in html


def test_an_amendment_elsewhere_does_not_change_a_pages_validators(
    client, published, rita, carol, django_capture_on_commit_callbacks
):
    other = pmf.published(rita, carol, title="Another stall")
    first = client.get(published.get_public_url())
    with django_capture_on_commit_callbacks(execute=True):
        pmf.published_amendment(other, rita, carol, text="A correction to the other one.")
    assert client.get(published.get_public_url(),
                      HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_signed_in_people_neither_get_nor_leave_a_shared_copy(client, published, rita):
    client.force_login(rita)
    mine = client.get(published.get_public_url())
    assert "rita" in mine.content.decode()
    # Nor may the browser show it again after signing out without asking.
    assert "private" in mine["Cache-Control"] and "no-cache" in mine["Cache-Control"]
    assert "public" not in mine["Cache-Control"]
    client.logout()
    again = client.get(published.get_public_url(), HTTP_IF_NONE_MATCH=mine["ETag"])
    assert again.status_code == 200 and "rita" not in again.content.decode()
    client.force_login(rita)
    assert "rita" in client.get(reverse("postmortems:list")).content.decode()
    client.logout()
    assert "rita" not in client.get(published.get_public_url()).content.decode()
    assert "rita" not in client.get(reverse("postmortems:list")).content.decode()


def test_an_odd_page_number_is_served_but_not_cached(client, published):
    assert client.get(reverse("postmortems:list"), {"page": "x" * 300}).status_code == 200
    assert client.get(reverse("postmortems:list"), {"page": "last"}).status_code == 200
    assert cache.get("page:postmortems::last") is None


def test_a_page_number_with_a_newline_gets_a_page_not_a_500(client, published):
    for url in (reverse("postmortems:list"), reverse("changes:public")):
        response = client.get(url, {"page": "1\n2"})
        assert response.status_code == 200 and "ETag" not in response


def test_a_single_page_ignores_page_numbers_and_caches_one_copy(client, published):
    first = client.get(published.get_public_url())
    again = client.get(published.get_public_url(), {"page": "7"})
    assert again.status_code == 200 and again["ETag"] == first["ETag"]
    assert cache.get(f"page:postmortems:postmortem:{published.slug}:7") is None
    assert cache.get(f"page:postmortems:postmortem:{published.slug}:") is not None


def test_a_change_committed_out_of_order_still_reaches_a_cached_page(
    client, published, rita, carol, django_capture_on_commit_callbacks
):
    # B is published after A's amendment took its time but before it commits; a
    # reader in between caches A without the amendment under the stamp the
    # database shows after both. A's commit must still move the stamp.
    with time_machine.travel(timezone.now() - timedelta(minutes=5), tick=False):
        amendment = pmf.amendment_in_review(published, rita, text="The peer limit was the cause.")
        amended_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        pmf.published(rita, carol, title="Another stall")
    assert "The peer limit" not in client.get(published.get_public_url()).content.decode()
    with time_machine.travel(amended_at, tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        postmortems.publish(amendment, carol)
    assert "The peer limit" in client.get(published.get_public_url()).content.decode()


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the markup."""

    def __init__(self, html):
        super().__init__()
        self.found = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(html):
    for tag, attrs in Elements(html).found:
        assert tag not in ("script", "img", "svg", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert not (value or "").strip().lower().startswith(("javascript:", "data:")), value


def publish_payload(rita, carol):
    # The base64 data: URL looks like a key to the sensitive-data check.
    pm = postmortems.publish(pmf.in_review(rita, text=pmf.body(Summary="\n\n".join(XSS))), carol,
                             "XSS corpus for the test.")
    amendment = pmf.amendment_in_review(pm, rita, text="\n\n".join(XSS))
    postmortems.publish(amendment, carol, "XSS corpus for the test.")
    return pm


def test_xss_payloads_are_rendered_inert(client, rita, carol):
    pm = publish_payload(rita, carol)
    main = client.get(pm.get_public_url()).content.decode().split("<main", 1)[1]
    assert main.count("&lt;script&gt;") == 2  # shown as text, once in each
    assert_inert(main)

    root = ElementTree.fromstring(client.get(reverse("postmortems:feed")).content)
    summaries = [e.findtext(f"{ATOM}summary") for e in root.iter(f"{ATOM}entry")]
    assert len(summaries) == 2
    for html in summaries:
        assert_inert(html)


def test_the_navigation_links_the_public_pages(client, db):
    html = client.get(reverse("home")).content.decode()
    assert 'href="/postmortems/"' in html and 'href="/changes/public/"' in html


def test_public_pages_carry_strict_security_headers(client, published):
    response = client.get(published.get_public_url())
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_another_process_s_publication_shows_once_the_local_copy_expires(client, published, rita, carol,
                                                                       settings):
    # Each web process keeps a page it read for PAGE_CACHE_LOCAL_SECONDS. Another
    # process publishing moves the shared stamp (its on-commit hook, played here
    # by hand) but cannot drop this process's copy: that copy is the staleness bound.
    settings.PAGE_CACHE_LOCAL_SECONDS = 0.3
    url = reverse("postmortems:list")
    assert "Another stall" not in client.get(url).content.decode()
    pmf.published(rita, carol, title="Another stall")
    cache.set("stamp:postmortems", timezone.now(), pagecache.STAMP_TTL)
    assert "Another stall" not in client.get(url).content.decode()
    time.sleep(0.3)
    assert "Another stall" in client.get(url).content.decode()


def test_with_the_local_copy_off_another_process_s_publication_shows_at_once(client, published, rita,
                                                                           carol, settings):
    settings.PAGE_CACHE_LOCAL_SECONDS = 0
    url = reverse("postmortems:list")
    client.get(url)
    pmf.published(rita, carol, title="Another stall")
    cache.set("stamp:postmortems", timezone.now(), pagecache.STAMP_TTL)
    assert "Another stall" in client.get(url).content.decode()


def test_each_process_keeps_a_bounded_number_of_pages(client, published, rita, carol, monkeypatch):
    monkeypatch.setattr(pagecache, "LOCAL_MAX_PAGES", 5)
    monkeypatch.setattr(incident_views, "PUBLIC_PAGE_SIZE", 1)
    for i in range(11):
        pmf.published(rita, carol, title=f"Stall {i}")
    for number in range(1, 13):
        assert client.get(reverse("postmortems:list"), {"page": str(number)}).status_code == 200
        assert pagecache._local_count <= 5
    assert pagecache._local_count == 2  # dropped at 5 after the 10th page, then 11 and 12


def test_a_page_number_past_the_end_shows_the_last_page_without_caching_it_again(client, published):
    url = reverse("postmortems:list")
    for number in ("2", "999999", "01"):
        response = client.get(url, {"page": number})
        assert response.status_code == 200 and published.title in response.content.decode()
        assert cache.get(f"page:postmortems::{number}") is None
    assert pagecache._local_count == 0
    client.get(url, {"page": "1"})
    assert cache.get("page:postmortems::1") is not None


def test_public_copies_say_they_vary_with_the_cookie(client, published):
    # A proxy must not hand the public copy to someone signed in, or the reverse;
    # the copy served from this process's memory reads no session to earn it.
    for url in (reverse("postmortems:list"), reverse("postmortems:list"), published.get_public_url(),
                reverse("changes:public")):
        response = client.get(url)
        assert response["Vary"] == "Cookie" and response["Cache-Control"] == "public, max-age=60"


def test_a_stale_session_cookie_gets_the_public_copy(client, published, rita):
    client.force_login(rita)
    client.get(reverse("postmortems:list"))
    client.logout()
    client.cookies["sessionid"] = "no-such-session"
    response = client.get(reverse("postmortems:list"))
    assert response["Cache-Control"] == "public, max-age=60" and "rita" not in response.content.decode()
    assert client.get(reverse("postmortems:list"), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_a_waiting_flash_message_is_shown_to_its_visitor_only(client, published):
    # Messages wait in a cookie until the next rendered page shows them: that
    # page must not become the copy everyone else is served.
    request = RequestFactory().get("/")
    storage = CookieStorage(request)
    storage.add(messages.INFO, "Only for this visitor")
    carrier = HttpResponse()
    storage.update(carrier)
    client.cookies["messages"] = carrier.cookies["messages"].value
    mine = client.get(reverse("postmortems:list"))
    assert "Only for this visitor" in mine.content.decode()
    assert "private" in mine["Cache-Control"] and "ETag" not in mine and "Last-Modified" not in mine
    stranger = Client()
    assert "Only for this visitor" not in stranger.get(reverse("postmortems:list")).content.decode()


def test_odd_digits_are_not_page_numbers(client, published):
    for number in ("²", "١", "１"):
        response = client.get(reverse("postmortems:list"), {"page": number})
        assert response.status_code == 200 and "ETag" not in response


def test_an_amended_post_mortem_says_so_at_the_top(client, rita, carol,
                                                   django_capture_on_commit_callbacks):
    """Issue 17: the correction sat at the bottom, under the old text."""
    from incidents import postmortems as pm_services
    from tests import postmortem_factories as factories

    with time_machine.travel(timezone.now() - timedelta(minutes=5), tick=False):
        pm = pm_services.publish(factories.in_review(rita), carol)
        html = client.get(pm.get_public_url()).content.decode()
    assert 'id="amended"' not in html
    with django_capture_on_commit_callbacks(execute=True):
        factories.published_amendment(pm, rita, carol)
    html = client.get(pm.get_public_url()).content.decode()
    notice = html.index('id="amended"')
    assert notice < html.index('class="rendered"') < html.index('id="amendments"')
    assert "a published correction" in html[notice:notice + 400]


def test_the_public_text_column_is_measured_in_ch():
    """Where there is no browser: the column is set in ch, at the width that the browser
    test (test_postmortems_browser.py) measures as about 75 characters of prose."""
    import re
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "static/css/qpgov.css").read_text()
    width = re.search(r"article\.postmortem \{ max-width: (\d+)ch; \}", css)
    assert width and 60 <= int(width.group(1)) <= 66


def test_a_drills_post_mortem_is_never_shown_even_if_it_reached_published(client, published, rita, carol):
    # Published before drills were refused, or marked a drill afterwards: still never public.
    drill = pmf.published(rita, carol, title="Rehearsal of a stall")
    pmf.published_amendment(drill, rita, carol, text="Rehearsal correction.")
    drill.incident.drill = True
    drill.incident.save(update_fields=["drill"])
    assert list(postmortems.published()) == [published]
    listing = client.get(reverse("postmortems:list")).content.decode()
    feed = client.get(reverse("postmortems:feed")).content.decode()
    assert published.get_public_url() in listing and published.title in feed
    for text in (listing, feed):
        assert "Rehearsal" not in text and drill.get_public_url() not in text
    assert client.get(drill.get_public_url()).status_code == 404
