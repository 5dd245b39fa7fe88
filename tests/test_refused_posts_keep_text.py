"""A refused form post never throws away what was typed (issue 17, item 1, review 17 gap 1).

Each post here is refused by the domain (a 409) after the person typed free text: the page
comes back with the reason at the top (role="alert") and the text still in its field, or,
where no form can be shown again, on the 409 page. Two co-authors saving the same draft:
the second save is refused, not silently written over the first (review 17 gap 1d).
"""

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.models import State
from incidents import postmortems
from incidents.models import Postmortem
from qpgov import roles
from tests import factories as f
from tests import postmortem_factories as pmf
from tests.conftest import make_user
from tests.test_incidents_unfreeze import two_incidents  # noqa: F401 (a fixture)

TYPED = "TYPED-JUST-NOW: the words a person wrote and must not lose."


def top_alert(html: str) -> str:
    """The first role=alert block inside <main>, before the page's own heading."""
    main = html[html.index("<main"):]
    alert = main.index('role="alert"')
    assert alert < main.index("<h1"), "the refusal is not at the top of the page"
    return main[alert:main.index("</div>", alert)]


def field_text(html: str, name: str) -> str:
    """What the page's `name` text areas hold (a page may have more than one form)."""
    found = re.findall(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, f"no {name} field on the page"
    return "\n".join(found)


def post_from_the_page(client, url, data, page=None):
    """As a browser does: the Referer is the form's own page."""
    return client.post(url, data, HTTP_REFERER="http://testserver" + (page or url))


def test_a_draft_save_refused_because_it_was_submitted_meanwhile_keeps_the_text(client, rita):
    pm = pmf.draft(rita)
    url = reverse("incidents:postmortem", args=[pm.incident_id])
    postmortems.submit(pm, rita)  # another tab or a co-author, after this page was loaded
    client.force_login(rita)
    body = pmf.body(Summary=TYPED)
    response = post_from_the_page(client, url, {"title": pm.title, "body": body,
                                                "internal_notes": "", "action": "save"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "can be edited only while it is draft" in top_alert(html)
    assert TYPED in field_text(html, "body")
    assert Postmortem.objects.get(pk=pm.pk).body != body


def test_a_resolve_refused_for_a_node_another_incident_holds_keeps_the_resolution(
        client, rita, demo_node, two_incidents):  # noqa: F811
    first, _second = two_incidents
    client.force_login(rita)
    url = reverse("incidents:resolve", args=[first.pk])
    response = post_from_the_page(client, url, {"resolution": TYPED, "unfreeze": [demo_node.pk],
                                                "confirm": "on"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "is held by" in top_alert(html)
    assert TYPED in field_text(html, "resolution")
    first.refresh_from_db()
    assert first.state == first.CONTAINED


def test_an_approval_without_the_determinism_tick_keeps_the_reason(client, alice, olga):
    p = f.in_review(alice)
    client.force_login(olga)
    response = post_from_the_page(client, reverse("changes:vote", args=[p.pk]),
                                  {"choice": "approve", "reason": TYPED,
                                   "revision_hash": p.content_hash}, page=p.get_absolute_url())
    assert response.status_code == 400
    html = response.content.decode()
    assert "determinism" in top_alert(html)
    assert TYPED in field_text(html, "reason")
    assert not p.votes.exists()


def test_a_rejection_refused_because_the_proposal_was_amended_keeps_the_reason(
        client, alice, olga):
    p = f.in_review(alice)
    stale = p.content_hash
    services.amend(p.pk, alice, f.proposal_data(rollback_minutes=44), "Rollback takes longer.")
    client.force_login(olga)
    response = post_from_the_page(client, reverse("changes:vote", args=[p.pk]),
                                  {"choice": "reject", "reason": TYPED, "revision_hash": stale},
                                  page=p.get_absolute_url())
    assert response.status_code == 409
    html = response.content.decode()
    assert top_alert(html).startswith('role="alert"')
    assert TYPED in field_text(html, "reason")
    p.refresh_from_db()
    # A second try votes on the revision the page now shows.
    assert f'value="{p.content_hash}"' in html
    assert not p.votes.exists()


def test_a_skip_refused_because_the_step_moved_on_keeps_the_reason(client, rita, demo_node,
                                                                    evidence_dir, published):
    from incidents import services as incident_services
    from incidents.models import ResponseStep
    incident = incident_services.declare(title="Fork", severity="SEV1", nodes=[demo_node],
                                declared_by=rita)
    step = incident.steps.first()
    url = reverse("incidents:skip", args=[incident.pk, step.pk])
    ResponseStep.objects.filter(pk=step.pk).update(status=ResponseStep.SUCCEEDED)
    client.force_login(rita)
    response = post_from_the_page(client, url, {"reason": TYPED})
    assert response.status_code == 409
    html = response.content.decode()
    assert "can be skipped" in top_alert(html)
    assert TYPED in field_text(html, "reason")


def test_an_implementation_refused_by_a_freeze_declared_meanwhile_keeps_the_notes(
        client, alice, olga):
    from tests.test_changes_freezes import approved_in_principle, freeze
    now = timezone.now().replace(microsecond=0)
    p = approved_in_principle(alice, olga, now - timedelta(hours=30))
    assert services.decide(p.pk, now - timedelta(hours=5)) == State.APPROVED
    url = reverse("changes:implementation", args=[p.pk])
    client.force_login(olga)
    assert client.get(url).status_code == 200  # the page loads; then a freeze is declared
    freeze(olga, now - timedelta(minutes=1), now + timedelta(hours=2))
    data = f.implementation_data(verification_notes=TYPED)
    # Work done before the freeze began (the form accepts the time); recording it now,
    # while the freeze is in force, is what the service refuses.
    data["performed_at"] = (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    response = post_from_the_page(client, url, data)
    assert response.status_code == 409
    html = response.content.decode()
    assert "change freeze is in force" in top_alert(html)
    assert TYPED in field_text(html, "verification_notes")
    p.refresh_from_db()
    assert p.state == State.APPROVED


def test_a_refused_post_no_view_re_renders_shows_the_typed_text_on_the_409_page(
        client, rita, carol):
    pm = postmortems.publish(pmf.in_review(rita), carol)
    client.force_login(rita)
    # The submit address of a published post-mortem, with text: no form to show it in.
    response = post_from_the_page(client, reverse("incidents:postmortem_submit",
                                                  args=[pm.incident_id]),
                                  {"body": pmf.body(Summary=TYPED), "title": pm.title},
                                  page=pm.get_absolute_url())
    assert response.status_code == 409
    html = response.content.decode()
    assert "only while it is draft" in top_alert(html)
    assert TYPED in html


# --- two co-authors on one draft -------------------------------------------------------


def _loaded_form(client, url) -> dict:
    html = client.get(url).content.decode()
    version = re.search(r'name="base_version" value="([0-9a-f]{64})"', html)
    assert version, "the draft form does not carry the version it was loaded from"
    return {"base_version": version.group(1)}


def test_a_save_over_a_co_authors_newer_save_is_refused_with_both_texts(client, rita):
    ron = make_user("ron", roles.RESPONDERS, first_name="Ron", last_name="Reyes")
    pm = pmf.draft(rita)
    url = reverse("incidents:postmortem", args=[pm.incident_id])
    client.force_login(rita)
    rons = Client()
    rons.force_login(ron)
    ritas_page, rons_page = _loaded_form(client, url), _loaded_form(rons, url)
    ritas_body = pmf.body(Summary="RITA-WROTE-THIS first.")
    saved = client.post(url, {"title": pm.title, "body": ritas_body, "internal_notes": "",
                              "action": "save", **ritas_page})
    assert saved.status_code == 302

    rons_body = pmf.body(Summary="RON-WROTE-THIS second, from a stale page.")
    response = rons.post(url, {"title": pm.title, "body": rons_body, "internal_notes": "",
                               "action": "save", **rons_page})
    assert response.status_code == 409
    pm.refresh_from_db()
    assert pm.body == ritas_body  # nothing overwritten
    html = response.content.decode()
    alert = top_alert(html)
    assert "saved this draft since you opened it" in alert
    assert 'href="' + pm.get_absolute_url() + '#newer-text"' in alert
    assert "RON-WROTE-THIS" in field_text(html, "body")  # his text, kept
    newer = html[html.index('id="newer-text"'):]
    assert "RITA-WROTE-THIS" in newer[:newer.index("</section>")]  # hers, to merge with

    # Saving again from that page is a save over the text it showed: accepted.
    again = re.search(r'name="base_version" value="([0-9a-f]{64})"', html).group(1)
    merged = pmf.body(Summary="RITA-WROTE-THIS first. RON-WROTE-THIS second.")
    ok = rons.post(url, {"title": pm.title, "body": merged, "internal_notes": "",
                         "action": "save", "base_version": again})
    assert ok.status_code == 302
    pm.refresh_from_db()
    assert pm.body == merged


def test_a_save_from_a_current_page_is_not_refused(client, rita):
    pm = pmf.draft(rita)
    url = reverse("incidents:postmortem", args=[pm.incident_id])
    client.force_login(rita)
    page = _loaded_form(client, url)
    body = pmf.body(Summary="Edited on a fresh page.")
    assert client.post(url, {"title": pm.title, "body": body, "internal_notes": "",
                             "action": "save", **page}).status_code == 302
    assert Postmortem.objects.get(pk=pm.pk).body == body
