"""Writing, reviewing and publishing a post-mortem and its amendments."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from incidents import postmortems
from incidents.models import Amendment, Postmortem
from qpgov import eventlog
from qpgov.http import Conflict
from qpgov.models import Event
from tests import postmortem_factories as pmf


def kinds(obj):
    return list(Event.objects.for_subject(obj).values_list("kind", flat=True))


def test_it_finds_every_required_section_in_a_complete_body():
    assert postmortems.missing_sections(pmf.body()) == []


def test_it_reports_absent_empty_and_placeholder_sections():
    text = pmf.body(Trigger=None, Impact="_Who and what was affected._",
                    **{"Action items": "| Action | Owner |\n| --- | --- |\n| _…_ | _…_ |"})
    text += "\n\n## Lessons learned\n"
    missing = postmortems.missing_sections(text.replace("## Lessons learned\n\nRoll", "Roll"))
    assert missing == ["Impact", "Trigger", "Action items", "Lessons learned"]


def test_the_generated_draft_is_not_publishable_until_a_human_fills_it_in():
    from incidents.actions import POSTMORTEM_TEMPLATE

    text = POSTMORTEM_TEMPLATE.format(
        title="t", pk=1, severity="SEV2", summary="_One paragraph._", node_count=1, detected="x",
        declared="x", declared_by="the incident commander", resolved="x", resolution="Restarted.",
        timeline="- 10:31 declared")
    assert postmortems.missing_sections(text) == [
        "remove the draft note at the top", "Summary", "Impact", "Root cause", "Trigger",
        "Action items", "Lessons learned"]


def test_it_refuses_to_submit_a_draft_with_missing_sections(rita):
    pm = pmf.draft(rita, text=pmf.body(**{"Root cause": ""}))
    with pytest.raises(ValidationError, match="Root cause"):
        postmortems.submit(pm, rita)
    assert Postmortem.objects.get(pk=pm.pk).state == Postmortem.DRAFT


def test_a_responder_submits_and_a_council_member_publishes(rita, carol):
    pm = pmf.in_review(rita)
    assert pm.state == Postmortem.IN_REVIEW
    pm = postmortems.publish(pm, carol)
    assert pm.state == Postmortem.PUBLISHED
    assert pm.approved_by == carol and pm.published_at is not None
    assert pm.slug.endswith("block-production-stalled-for-14-minutes")
    assert pm.content_hash == pm.compute_hash() and len(pm.content_hash) == 64
    assert kinds(pm) == ["postmortem_submitted", "postmortem_published"]
    assert "postmortem_published" in kinds(pm.incident)
    assert eventlog.verify()[1] is None


def test_it_refuses_approval_by_a_council_member_who_edited_it(rita, make_council_responder):
    both = make_council_responder
    pm = pmf.draft(rita)
    postmortems.save_draft(pm, both, body=pm.body + "\n\nOne more line.")
    pm = postmortems.submit(Postmortem.objects.get(pk=pm.pk), rita)[0]
    with pytest.raises(PermissionDenied, match="another council member"):
        postmortems.publish(pm, both)


def test_only_council_members_publish_and_only_responders_edit(rita, olga, carol):
    pm = pmf.in_review(rita)
    for outsider in (rita, olga):
        with pytest.raises(PermissionDenied):
            postmortems.publish(pm, outsider)
    with pytest.raises(PermissionDenied):
        postmortems.save_draft(pmf.draft(rita, title="Another"), carol, body="x")


def test_steps_out_of_order_are_conflicts(rita, carol):
    draft = pmf.draft(rita)
    with pytest.raises(Conflict):
        postmortems.publish(draft, carol)
    pm = postmortems.publish(pmf.in_review(rita, title="Second"), carol)
    with pytest.raises(Conflict):
        postmortems.save_draft(pm, rita, body="rewritten")
    with pytest.raises(Conflict):
        postmortems.submit(pm, rita)
    with pytest.raises(Conflict):
        postmortems.start_amendment(draft, rita, "too early")


def test_published_text_is_immutable(rita, carol):
    pm = postmortems.publish(pmf.in_review(rita), carol)
    pm.body += "\n\nA quiet edit."
    with pytest.raises(ValueError, match="amendment"):
        pm.save()


def test_a_council_member_sends_a_draft_back_with_a_note(rita, carol):
    pm = postmortems.send_back(pmf.in_review(rita), carol, "Say which validators.")
    assert pm.state == Postmortem.DRAFT
    event = Event.objects.for_subject(pm).last()
    assert (event.kind, event.note) == ("postmortem_sent_back", "Say which validators.")


def test_amendments_are_reviewed_the_same_way_and_move_the_public_version(rita, carol):
    pm = postmortems.publish(pmf.in_review(rita), carol)
    first_version = pm.public_updated_at
    amendment = pmf.amendment(pm, rita)
    assert amendment.state == Amendment.DRAFT
    with pytest.raises(Conflict):
        postmortems.publish(amendment, carol)
    amendment = postmortems.submit(amendment, rita)[0]
    with pytest.raises(PermissionDenied):
        postmortems.publish(amendment, rita)
    amendment = postmortems.publish(amendment, carol)
    assert amendment.state == Amendment.PUBLISHED and len(amendment.content_hash) == 64
    assert Postmortem.objects.get(pk=pm.pk).public_updated_at > first_version
    assert kinds(amendment) == ["postmortem_edited", "postmortem_submitted", "amendment_published"]


# The pages.


def test_it_edits_a_draft_through_the_page(client, rita):
    pm = pmf.draft(rita)
    client.force_login(rita)
    url = reverse("incidents:postmortem", args=[pm.incident_id])
    response = client.post(url, {"title": "New title", "body": pmf.body(),
                                 "internal_notes": "validator-1 at 10.0.0.5"})
    assert response.status_code == 302
    pm = Postmortem.objects.get(pk=pm.pk)
    assert pm.title == "New title" and pm.internal_notes == "validator-1 at 10.0.0.5"
    assert client.post(url, {"title": "", "body": ""}).status_code == 400


def test_the_review_page_lists_missing_sections_and_findings(client, rita):
    pm = pmf.draft(rita, text=pmf.body(Trigger="", Summary="Guaranteed returns for all holders."))
    client.force_login(rita)
    html = client.get(reverse("incidents:postmortem", args=[pm.incident_id])).content.decode()
    assert "Still to fill in: Trigger." in html
    assert "Guaranteed returns for all holders." in html and "profit or yield promise" in html


def test_it_answers_409_to_an_edit_after_publication(client, rita, carol):
    pm = postmortems.publish(pmf.in_review(rita), carol)
    client.force_login(rita)
    response = client.post(reverse("incidents:postmortem", args=[pm.incident_id]),
                           {"title": "x", "body": "y"})
    assert response.status_code == 409


def test_the_author_gets_403_when_approving_through_the_page(client, rita, make_council_responder):
    pm = pmf.in_review(make_council_responder)
    client.force_login(make_council_responder)
    response = client.post(reverse("incidents:postmortem_publish", args=[pm.incident_id]), {})
    assert response.status_code == 403


def test_the_full_flow_through_the_pages(client, rita, carol):
    pm = pmf.draft(rita)
    client.force_login(rita)
    client.post(reverse("incidents:postmortem_submit", args=[pm.incident_id]))
    client.force_login(carol)
    response = client.post(reverse("incidents:postmortem_publish", args=[pm.incident_id]), {})
    assert response.status_code == 302
    pm = Postmortem.objects.get(pk=pm.pk)
    assert pm.state == Postmortem.PUBLISHED
    client.force_login(rita)
    response = client.post(reverse("incidents:amendment_new", args=[pm.incident_id]),
                           {"body": "Correction: 15 minutes."})
    amendment = pm.amendments.get()
    assert response["Location"] == amendment.get_absolute_url()
    client.post(reverse("incidents:amendment_submit", args=[pm.incident_id, amendment.pk]))
    client.force_login(carol)
    client.post(reverse("incidents:amendment_publish", args=[pm.incident_id, amendment.pk]), {})
    assert Amendment.objects.get(pk=amendment.pk).state == Amendment.PUBLISHED
    detail = client.get(reverse("incidents:detail", args=[pm.incident_id])).content.decode()
    assert pm.get_public_url() in detail


def drill_in_review(author) -> Postmortem:
    pm = pmf.draft(author, title="Rehearsal: block production stalled")
    pm.incident.drill = True
    pm.incident.save(update_fields=["drill"])
    return postmortems.submit(pm, author)[0]


def test_a_drills_post_mortem_is_never_published(rita, carol):
    pm = drill_in_review(rita)
    with pytest.raises(Conflict, match="drill"):
        postmortems.publish(pm, carol, override_reason="The council says so.")
    pm.refresh_from_db()
    assert pm.state == Postmortem.IN_REVIEW and not pm.slug and not pm.content_hash
    assert "postmortem_published" not in kinds(pm) and "postmortem_published" not in kinds(pm.incident)


def test_publishing_a_drills_post_mortem_through_the_page_is_a_409_with_the_reason(client, rita, carol):
    pm = drill_in_review(rita)
    client.force_login(carol)
    page = client.get(reverse("incidents:postmortem", args=[pm.incident_id])).content.decode()
    assert "Approve and publish" not in page and "drill" in page
    response = client.post(reverse("incidents:postmortem_publish", args=[pm.incident_id]), {})
    assert response.status_code == 409 and "drill" in response.content.decode()
    assert Postmortem.objects.get(pk=pm.pk).state == Postmortem.IN_REVIEW
