"""No action on a post-mortem draft may discard the text a responder typed (issue 17, item 1)."""

import re

from django.urls import reverse

from incidents.models import Postmortem
from tests import postmortem_factories as pmf


def _edit(pm, **fields):
    return {"title": pm.title, "body": pm.body, "internal_notes": pm.internal_notes, **fields}


def test_submitting_from_the_draft_page_sends_the_text_just_typed(client, rita):
    pm = pmf.draft(rita)
    client.force_login(rita)
    typed = pmf.body(Summary="Blocks stalled for fourteen minutes; typed just now.")
    response = client.post(reverse("incidents:postmortem", args=[pm.incident_id]),
                           _edit(pm, body=typed, action="submit"))
    assert response.status_code == 302
    pm = Postmortem.objects.get(pk=pm.pk)
    assert pm.state == Postmortem.IN_REVIEW
    assert pm.body == typed


def test_the_submit_address_saves_posted_text_before_submitting(client, rita):
    pm = pmf.draft(rita)
    client.force_login(rita)
    typed = pmf.body(Impact="No funds at risk; typed just now.")
    client.post(reverse("incidents:postmortem_submit", args=[pm.incident_id]),
                _edit(pm, body=typed))
    pm = Postmortem.objects.get(pk=pm.pk)
    assert pm.state == Postmortem.IN_REVIEW and pm.body == typed


def test_a_refused_submit_keeps_the_typed_text_and_says_why_at_the_top(client, rita):
    pm = pmf.draft(rita)
    client.force_login(rita)
    typed = pmf.body(**{"Root cause": ""}) + "\n\nA sentence typed just now."
    url = reverse("incidents:postmortem", args=[pm.incident_id])
    response = client.post(url, _edit(pm, body=typed, action="submit"), follow=True)
    pm = Postmortem.objects.get(pk=pm.pk)
    assert pm.state == Postmortem.DRAFT and pm.body == typed
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == url
    alert = re.search(r'role="alert"[^>]*>(.*?)</', html, re.S)
    assert alert and "Root cause" in alert.group(1)
    assert "A sentence typed just now." in html


def test_the_draft_page_has_one_form_for_the_text_and_both_buttons(client, rita):
    pm = pmf.draft(rita)
    client.force_login(rita)
    html = client.get(reverse("incidents:postmortem", args=[pm.incident_id])).content.decode()
    forms = re.findall(r"<form\b.*?</form>", html, re.S)
    with_submit = [f for f in forms if "submit for council review" in f]
    assert len(with_submit) == 1 and 'name="body"' in with_submit[0]
