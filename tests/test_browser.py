"""Real-browser flows: Debian's Chromium, driven by Playwright, against the live test server.

Each flow signs in through the real sign-in page and clicks through the same
forms a person would. The incident flow needs the real Celery worker, which
shares the live server's (test) database.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from changes.models import Proposal, State
from changes.tasks import decide_due_proposals
from incidents.models import Incident, ResponseStep
from qpgov import roles
from tests.conftest import make_user
from tests.factories import form_data

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

XSS_MARKDOWN = """Set `max_peers = 80` in node.toml on every rpc node and restart the service.

<script>alert("script tag")</script>

<img src="x" onerror="alert('img onerror')">

[a javascript link](javascript:alert('markdown link'))

<a href="javascript:alert('html link')" id="js-link">another javascript link</a>

<svg onload="alert('svg onload')"></svg>
"""


@pytest.fixture
def page(live_server):
    """A fresh Chromium page on the live server, started after the database is set up.

    Playwright's sync API runs an event loop in this thread, and Django keeps
    connections per async context: ORM calls made while it runs use their own
    connection. Starting the browser after the test database fixture (and
    stopping it, closing that connection, before the flush) keeps pytest-django's
    serialized rollback working for the tests that follow.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # The test makes ordinary blocking ORM calls between browser steps: safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"],
            )
            context = browser.new_context(base_url=live_server.url)
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.dialogs = []
            page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
            try:
                yield page
            finally:
                connections.close_all()
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def sign_in(page, username):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("button:has-text('Sign out')")


def sign_out(page):
    page.click("button:has-text('Sign out')")
    page.wait_for_selector("text=Sign in")


def fill_form(page, data):
    """Fill each named field as a person would: pick, tick or type."""
    for name, value in data.items():
        field = page.locator(f"[name='{name}']").first
        tag, kind = field.evaluate("e => [e.tagName.toLowerCase(), e.type]")
        if tag == "select":
            field.select_option(str(value))
        elif kind == "radio":
            page.check(f"[name='{name}'][value='{value}']")
        else:
            field.fill(str(value))


def propose(page, **overrides):
    page.goto("/changes/new/")
    fill_form(page, form_data(**overrides))
    page.click("button:has-text('Save draft')")
    page.click("button:has-text('Submit for review')")
    page.wait_for_selector(".badge.state-in_review")
    return Proposal.objects.get(title=overrides.get("title", form_data()["title"]))


def test_a_proposal_goes_from_the_form_through_a_vote_to_its_decision(page):
    make_user("alice", roles.PROPOSERS)
    make_user("olga", roles.CORE_OPS)
    make_user("oscar", roles.CORE_OPS)

    sign_in(page, "alice")
    proposal = propose(page, title="Raise p2p max peers on the rpc nodes")
    sign_out(page)

    sign_in(page, "olga")
    page.goto(f"/changes/{proposal.pk}/")
    page.check("[name='choice'][value='approve']")
    page.check("[name='confirm_determinism']")  # an Ops approval re-confirms the attestation
    page.click("button:has-text('Record vote')")
    page.wait_for_selector("text=1 approve · 0 reject")

    # Time moves on on the server: the review window's earliest decision passes
    # and the decision sweep (the Celery beat task, called here) runs.
    Proposal.objects.filter(pk=proposal.pk).update(
        earliest_decision_at=timezone.now() - timedelta(seconds=1))
    decide_due_proposals()
    page.reload()
    assert page.locator(".badge.state-approved").is_visible()
    assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
    assert page.dialogs == []


def test_an_incident_declared_in_the_browser_shows_its_steps_finishing(
    celery_worker, page, make_demo_node
):
    make_user("rita", roles.RESPONDERS)
    make_user("carol", roles.COUNCIL)
    node = make_demo_node()

    sign_in(page, "rita")
    page.goto("/incidents/declare/")
    page.fill("#id_title", "Validator double-signing")
    page.select_option("#id_severity", "SEV1")
    page.check(f"[name='nodes'][value='{node.pk}']")
    page.click("button:has-text('Declare and start the response')")
    page.wait_for_selector("h1:has-text('Validator double-signing')")

    # The page updates itself in place while steps run (static/js/incident-live.js):
    # no reload, so a mark left on the window and the keyboard focus survive.
    assert page.locator("meta[http-equiv='refresh']").count() == 0
    page.evaluate("window.__sameDocument = true")
    page.locator("#incident-progress").wait_for()
    assert page.locator("#incident-progress").get_attribute("aria-live") == "polite"
    page.wait_for_selector("#incident-status .badge:text-is('contained')", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True
    rows = page.locator("#incident-steps tbody tr:not(.muted) .badge").all_inner_texts()
    assert rows[:4] == ["succeeded"] * 4 and rows[4] == "pending"
    assert "stopped, confirmed inactive" in page.locator("#incident-steps").inner_text()
    assert page.locator("[data-live-url]").get_attribute("data-moving") == "false"
    incident = Incident.objects.get()
    assert incident.state == Incident.CONTAINED
    assert incident.steps.filter(status=ResponseStep.SUCCEEDED).count() == 4


def test_script_in_a_proposals_markdown_stays_inert(page):
    make_user("alice", roles.PROPOSERS)
    make_user("olga", roles.CORE_OPS)
    sign_in(page, "alice")
    proposal = propose(page, title="<svg onload=alert('title')> peers", change=XSS_MARKDOWN)
    page.goto(f"/changes/{proposal.pk}/")
    rendered = page.locator(".rendered").first
    assert "max_peers = 80" in rendered.inner_text()
    for link in rendered.locator("a").all():
        link.click(no_wait_after=True)
    page.goto(f"/changes/{proposal.pk}/")

    assert page.dialogs == []
    page.evaluate("alert('control')")  # the listener does see a dialog when one opens
    assert page.dialogs == ["control"]
    # Not only blocked by the Content-Security-Policy: removed by the sanitizer.
    assert rendered.locator("script, svg, [onerror], [onload], a[href^='javascript']").count() == 0
    assert page.evaluate("document.title").startswith("<svg")  # shown as text
