"""Incident pages: who may see and do what, and forged or out-of-order requests."""

import pytest
from django.urls import reverse

from incidents import runbook, services
from incidents.models import Acknowledgement, Evidence, Incident, IncidentNode, ResponseStep
from incidents.tasks import run_step
from qpgov.models import Event


@pytest.fixture
def incident(rita, demo_node, published):
    return services.declare(title="Fork at height 10", severity="SEV1", nodes=[demo_node],
                            declared_by=rita, summary="**Two** chains.")


def url(name, *args):
    return reverse(f"incidents:{name}", args=args)


def step_of(incident, kind):
    return incident.steps.get(kind=kind)


def run_until_contained(incident):
    for kind in runbook.get().steps[:4]:
        run_step(step_of(incident, kind).id)
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED


def test_the_list_and_detail_are_for_incident_roles_only(client, incident, eve, alice, carol):
    for user in (eve, alice):
        client.force_login(user)
        assert client.get(url("list")).status_code == 403
        assert client.get(url("detail", incident.pk)).status_code == 403
    client.force_login(carol)
    page = client.get(url("detail", incident.pk))
    assert page.status_code == 200
    assert b"Fork at height 10" in page.content and b"<strong>Two</strong>" in page.content
    assert b"Freeze affected nodes" in page.content
    # Just queued: no worker is late yet, and the page does not reload itself (issue 17).
    assert b"queued" in page.content and b"waiting for a worker" not in page.content
    assert b'http-equiv="refresh"' not in page.content
    assert b"js/incident-live.js" in page.content and b"Refresh now" in page.content
    freeze = step_of(incident, runbook.FREEZE)
    assert b"Retry step" not in page.content
    assert url("skip", incident.pk, freeze.id).encode() not in page.content


def test_visitors_are_sent_to_sign_in(client, incident):
    response = client.get(url("detail", incident.pk))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_navigation_shows_incidents_to_incident_roles(client, olga, alice):
    client.force_login(olga)
    assert url("list").encode() in client.get("/").content
    client.force_login(alice)
    assert url("list").encode() not in client.get("/").content


def test_a_responder_declares_through_the_form(client, rita, demo_node, published):
    client.force_login(rita)
    page = client.get(url("declare"))
    assert page.status_code == 200 and b"validator-1" in page.content
    response = client.post(url("declare"), {
        "title": "Missed blocks", "severity": "SEV2", "nodes": [demo_node.pk],
        "commander": rita.pk, "summary": "", "detected_at": "2026-11-27 03:12",
    })
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == url("detail", incident.pk)
    assert incident.declared_by == rita and incident.steps.count() == 5
    assert incident.detected_at.hour == 3
    detected, declared = Event.objects.for_subject(incident)
    assert (detected.kind, declared.kind) == ("detected", "declared")
    assert detected.occurred_at == incident.detected_at < detected.recorded_at


def test_the_declare_form_needs_a_node_and_a_responder_commander(client, olga, demo_node):
    client.force_login(olga)
    response = client.post(url("declare"), {"title": "x", "severity": "SEV2",
                                            "commander": olga.pk})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert b"Select a valid choice" in response.content  # olga is not a responder
    assert not Incident.objects.exists()


@pytest.mark.parametrize("who", ["eve", "carol", "alice"])
def test_only_responders_and_core_ops_may_declare(client, who, request, demo_node):
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(url("declare")).status_code == 403
    response = client.post(url("declare"), {"title": "x", "severity": "SEV1",
                                            "nodes": [demo_node.pk], "commander": user.pk})
    assert response.status_code == 403
    assert not Incident.objects.exists()


def test_retry_of_a_step_that_does_not_need_a_human_is_a_conflict(client, rita, incident):
    client.force_login(rita)
    step = step_of(incident, runbook.FREEZE)
    response = client.post(url("retry", incident.pk, step.id))
    assert response.status_code == 409
    assert b"only a step that needs a human can be retried" in response.content
    step.refresh_from_db()
    assert step.status == ResponseStep.PENDING


def test_a_responder_retries_a_step_that_needs_a_human(client, rita, incident):
    step = step_of(incident, runbook.FREEZE)
    ResponseStep.objects.filter(id=step.id).update(status=ResponseStep.NEEDS_HUMAN)
    client.force_login(rita)
    page = client.get(url("detail", incident.pk))
    assert b"needs attention" in page.content and b"Retry step" in page.content
    response = client.post(url("retry", incident.pk, step.id))
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.status == ResponseStep.PENDING


@pytest.mark.parametrize("who", ["olga", "carol", "eve"])
def test_only_responders_may_retry_or_skip(client, who, request, incident):
    step = step_of(incident, runbook.FREEZE)
    ResponseStep.objects.filter(id=step.id).update(status=ResponseStep.NEEDS_HUMAN)
    client.force_login(request.getfixturevalue(who))
    assert client.post(url("retry", incident.pk, step.id)).status_code == 403
    assert client.post(url("skip", incident.pk, step.id), {"reason": "x"}).status_code == 403
    step.refresh_from_db()
    assert step.status == ResponseStep.NEEDS_HUMAN


def test_retry_is_post_only(client, rita, incident):
    client.force_login(rita)
    step = step_of(incident, runbook.FREEZE)
    assert client.get(url("retry", incident.pk, step.id)).status_code == 405


def test_a_step_of_another_incident_is_refused(client, rita, incident, demo_node):
    other = services.declare(title="Other", severity="SEV3", nodes=[demo_node],
                             declared_by=rita)
    step = step_of(other, runbook.FREEZE)
    ResponseStep.objects.filter(id=step.id).update(status=ResponseStep.NEEDS_HUMAN)
    client.force_login(rita)
    assert client.post(url("retry", incident.pk, step.id)).status_code in (404, 409)
    step.refresh_from_db()
    assert step.status == ResponseStep.NEEDS_HUMAN


def test_skipping_needs_a_written_reason(client, rita, incident):
    client.force_login(rita)
    step = step_of(incident, runbook.SNAPSHOT)
    response = client.post(url("skip", incident.pk, step.id), {"reason": "   "})
    assert response.status_code == 200 and b"This field is required" in response.content
    step.refresh_from_db()
    assert step.status == ResponseStep.PENDING

    response = client.post(url("skip", incident.pk, step.id),
                           {"reason": "RPC node: no state worth keeping."})
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.status == ResponseStep.SKIPPED
    assert b"RPC node: no state worth keeping." in client.get(url("detail", incident.pk)).content


def test_skipping_a_finished_step_is_a_conflict(client, rita, incident):
    run_step(step_of(incident, runbook.FREEZE).id)
    client.force_login(rita)
    step = step_of(incident, runbook.FREEZE)
    response = client.post(url("skip", incident.pk, step.id), {"reason": "late"})
    assert response.status_code == 409
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED


def test_only_responders_download_evidence(client, rita, olga, carol, incident, evidence_dir):
    run_step(step_of(incident, runbook.FREEZE).id)
    run_step(step_of(incident, runbook.PRESERVE_LOGS).id)
    evidence = Evidence.objects.get()
    for user in (olga, carol):
        client.force_login(user)
        page = client.get(url("detail", incident.pk))
        assert evidence.sha256.encode() in page.content
        assert url("evidence", incident.pk, evidence.pk).encode() not in page.content
        assert client.get(url("evidence", incident.pk, evidence.pk)).status_code == 403
    client.force_login(rita)
    response = client.get(url("evidence", incident.pk, evidence.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (evidence_dir / evidence.storage_name
                                                     ).read_bytes()


def test_the_council_acknowledges_once(client, carol, rita, incident):
    client.force_login(rita)
    assert client.post(url("acknowledge", incident.pk)).status_code == 403
    client.force_login(carol)
    assert b"I have seen this incident" in client.get(url("acknowledge", incident.pk)).content
    assert client.post(url("acknowledge", incident.pk)).status_code == 302
    assert client.post(url("acknowledge", incident.pk)).status_code == 409
    assert Acknowledgement.objects.filter(incident=incident).count() == 1
    assert b"Carol" in client.get(url("detail", incident.pk)).content or b"carol" in (
        client.get(url("detail", incident.pk)).content)


def test_only_the_commander_resolves_and_only_once_contained(
    client, rita, carol, demo_node, evidence_dir, published
):
    from tests.conftest import make_user

    other_responder = make_user("rob", "Incident Responders")
    incident = services.declare(title="Fork", severity="SEV1", nodes=[demo_node],
                                declared_by=rita)
    client.force_login(rita)
    form = {"resolution": "Fixed.", "confirm": "on", "unfreeze": [demo_node.pk]}
    response = client.post(url("resolve", incident.pk), form)
    assert response.status_code == 409  # still declared
    incident.refresh_from_db()
    assert incident.state == Incident.DECLARED

    run_until_contained(incident)
    client.force_login(other_responder)
    assert client.post(url("resolve", incident.pk), form).status_code == 403
    client.force_login(rita)
    page = client.get(url("resolve", incident.pk))
    assert page.status_code == 200 and b"validator-1" in page.content
    assert client.post(url("resolve", incident.pk), {"resolution": "Fixed."}).status_code == 200
    response = client.post(url("resolve", incident.pk), form)
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.state == Incident.RESOLVED
    assert IncidentNode.objects.get(incident=incident).unfreeze_requested_at is not None
    assert client.post(url("resolve", incident.pk), form).status_code == 409


def test_staff_can_look_at_incidents_in_the_admin_but_not_change_them(client, staff, incident):
    client.force_login(staff)
    assert client.get("/admin/incidents/incident/").status_code == 200
    page = client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    assert page.status_code == 200 and b"Save" not in page.content
    assert client.post(f"/admin/incidents/incident/{incident.pk}/delete/").status_code == 403
