"""Both Atom feeds stay well-formed, valid and inert whatever text their entries carry."""

import re

import feedparser
import pytest
from django.core.cache import cache
from django.urls import reverse

from changes.models import Proposal
from incidents import postmortems
from qpgov.markdown import render_markdown
from tests import postmortem_factories as pmf
from tests.test_public_changelog import implemented

# Characters XML 1.0 forbids, raw or as numeric character references.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NASTY = ["\x0b", "&#14;", "&#x1F;", "&#0;", "&#xFFFE;", "\x1b[31m"]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def site(settings):
    settings.SITE_ROOT = "https://gov.quantumpay.example"
    settings.QPGOV_TAG_AUTHORITY = "gov.quantumpay.example,2026"
    return settings


def parse(response):
    assert response.status_code == 200, response.content[:300]
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert not XML_FORBIDDEN.search(response.content.decode())
    return feed


@pytest.mark.parametrize("nasty", NASTY)
def test_the_renderer_never_outputs_a_character_xml_forbids(nasty):
    html = render_markdown(f"Before {nasty} after, and `code {nasty}` too.")
    assert not XML_FORBIDDEN.search(html)
    assert "Before" in html and "after" in html


def test_the_renderer_keeps_newlines_and_tabs_in_code():
    assert "indented\nline two" in render_markdown("```\n\tindented\nline two\n```")


def test_a_post_mortem_with_control_characters_keeps_the_feed_well_formed(client, rita, carol,
                                                                          site):
    body = pmf.body().replace("## Impact", "## Impact\n\nA stray &#14; and a raw \x0b here.")
    pm = postmortems.publish(pmf.in_review(rita, text=body), carol)
    feed = parse(client.get(reverse("postmortems:feed")))
    entry, = feed.entries
    assert "A stray" in entry.summary and "a raw" in entry.summary
    assert entry.link == "https://gov.quantumpay.example" + pm.get_public_url()


def test_a_changelog_line_stored_with_markup_and_controls_is_text_in_the_feed(client, alice, olga,
                                                                              site):
    proposal = implemented(alice, olga, "Raise the rpc peer limit", "Raised the peer limit.")
    # Stored before the form refused it, or written by hand: the feed still holds.
    line = 'Raised <img src=x onerror="alert(1)"> limit\x0b to 80 &#14; now.'
    Proposal.objects.filter(pk=proposal.pk).update(public_changelog=line)
    response = client.get(reverse("changes:public_feed"))
    feed = parse(response)
    entry, = feed.entries
    assert "<img" not in response.content.decode().replace("&lt;img", "")
    assert "<img" not in entry.summary and "onerror" in entry.summary  # shown, as text
    assert "&lt;img" in entry.summary or "&amp;lt;img" in response.content.decode()
    assert entry.title.startswith("Implemented: Raised <img")  # a text construct: literal


@pytest.mark.parametrize("name", ["changes:public_feed", "postmortems:feed"])
def test_each_feed_has_an_author_and_stable_tag_ids_from_the_site_root(client, alice, olga, rita,
                                                                       carol, site, name):
    implemented(alice, olga, "Raise the rpc peer limit", "Raised the rpc peer limit to 80.")
    pm = postmortems.publish(pmf.in_review(rita), carol)
    postmortems.publish(pmf.amendment_in_review(pm, rita), carol)
    response = client.get(reverse(name), HTTP_HOST="localhost")
    feed = parse(response)
    assert feed.feed.author_detail.name  # RFC 4287 4.1.1: the feed names its author
    assert feed.feed.id.startswith("tag:gov.quantumpay.example,2026:")
    assert feed.entries
    for entry in feed.entries:
        assert re.fullmatch(r"tag:gov\.quantumpay\.example,2026:[a-z/0-9-]+", entry.id), entry.id
        assert entry.link.startswith("https://gov.quantumpay.example/")
    assert "localhost" not in response.content.decode()
    cache.clear()
    again = parse(client.get(reverse(name), HTTP_HOST="127.0.0.1"))
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]
