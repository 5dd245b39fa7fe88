"""Alerts into incidents: per rule record, confirm (one click) or declare at once; a firing
group adds to its open incident; a resolve only says "alert cleared"."""

import pytest
from django.urls import reverse

from fleet import tasks
from fleet.models import AlertGroup, AlertReceiver, AlertRule, Node
from incidents.models import Incident
from qpgov import roles
from qpgov.models import Event
from tests.alert_payloads import alert, payload
from tests.conftest import make_user
from tests.test_alerts_intake import deliver


@pytest.fixture
def token(db):
    receiver = AlertReceiver(name="am")
    secret = receiver.issue_token()
    receiver.save()
    return secret


@pytest.fixture
def service_account(db):
    user = make_user("alertmanager", roles.RESPONDERS)
    user.set_unusable_password()
    user.save()
    return user


@pytest.fixture
def validator(db):
    return Node.objects.create(name="validator-1", environment="mainnet")


def kinds(incident):
    return [e.kind for e in Event.objects.for_subject(incident)]


def test_an_alert_without_a_rule_is_only_recorded(client, token, service_account, validator,
                                                  published):
    deliver(client, payload([alert()]), token)
    assert Incident.objects.count() == 0
    assert not AlertGroup.objects.get().awaiting_confirmation


def test_a_declare_rule_declares_at_once_with_its_severity_and_the_mapped_nodes(
        client, token, service_account, validator, published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert(instance="validator-1:9100")]), token)
    incident = Incident.objects.get()
    assert incident.severity == "SEV1" and list(incident.nodes.all()) == [validator]
    assert incident.declared_by == service_account and incident.commander == service_account
    assert incident.title.startswith("BlockProductionStalled")
    assert list(incident.alert_groups.all()) == [AlertGroup.objects.get()]
    assert kinds(incident) == ["detected", "declared"]
    # Re-sends every group_interval open nothing more and write nothing on the timeline.
    for _ in range(3):
        deliver(client, payload([alert(instance="validator-1:9100")]), token)
    assert Incident.objects.count() == 1 and kinds(incident) == ["detected", "declared"]


def test_a_configured_commander_commands_what_the_service_account_declares(
        client, token, service_account, validator, published, rita, settings):
    settings.QPGOV_ALERT_COMMANDER = "rita"
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    incident = Incident.objects.get()
    assert incident.declared_by == service_account and incident.commander == rita


def test_a_firing_group_with_an_open_incident_adds_to_it(client, token, service_account, validator,
                                                         published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    incident = Incident.objects.get()
    second = alert(instance="validator-1:9100", chain="b")
    deliver(client, payload([alert(), second]), token)
    assert Incident.objects.count() == 1
    assert kinds(incident)[-1] == "alert_firing"


def test_a_resolve_only_records_alert_cleared_and_resolves_or_unfreezes_nothing(
        client, token, service_account, validator, published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    incident = Incident.objects.get()
    Node.objects.filter(id=validator.id).update(frozen=True)
    deliver(client, payload([alert(status="resolved")]), token)
    incident.refresh_from_db()
    validator.refresh_from_db()
    assert kinds(incident)[-1] == "alert_cleared"
    assert incident.state == Incident.DECLARED and validator.frozen
    assert Incident.objects.count() == 1


def test_without_the_service_account_a_declare_rule_waits_for_a_human(client, token, validator,
                                                                     published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    group = AlertGroup.objects.get()
    assert Incident.objects.count() == 0
    assert group.awaiting_confirmation and "QPGOV_ALERT_DECLARER" in group.confirmation_note


def test_an_alert_on_no_registered_node_waits_for_a_human(client, token, service_account, published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert(instance="somewhere-else:9100")]), token)
    assert Incident.objects.count() == 0
    assert "no alert names a registered node" in AlertGroup.objects.get().confirmation_note


def test_a_confirm_rule_offers_a_one_click_prefilled_declare(client, token, service_account,
                                                             validator, published, rita, carol):
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    deliver(client, payload([alert(alertname="DiskAlmostFull")], group_key="disk"), token)
    group = AlertGroup.objects.get()
    assert group.awaiting_confirmation and Incident.objects.count() == 0
    client.force_login(carol)  # the council sees it, but does not declare
    page = client.get(reverse("alerts:group", args=[group.id])).content.decode()
    assert "to confirm" in page and "Declare an incident from these alerts" not in page
    client.force_login(rita)
    page = client.get(reverse("alerts:group", args=[group.id])).content.decode()
    link = f"{reverse('incidents:declare')}?alert_group={group.id}"
    assert link in page
    form = client.get(link).context["form"]
    assert form.initial["severity"] == "SEV3" and form.initial["nodes"] == [validator.id]
    assert form.initial["title"].startswith("DiskAlmostFull") and form.initial["alert_group"] == group.id
    response = client.post(reverse("incidents:declare"), {
        "title": form.initial["title"], "severity": "SEV3", "nodes": [validator.id],
        "commander": rita.id, "summary": form.initial["summary"], "alert_group": group.id,
    })
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert list(incident.alert_groups.all()) == [group]
    group.refresh_from_db()
    assert not group.awaiting_confirmation
    page = client.get(reverse("alerts:group", args=[group.id])).content.decode()
    assert f"INC-{incident.pk}" in page and "Declare an incident from these alerts" not in page


def test_a_bad_alert_group_in_the_declare_link_is_ignored(client, rita):
    client.force_login(rita)
    for value in ("999", "²", "9" * 30, "x"):
        assert client.get(reverse("incidents:declare"), {"alert_group": value}).status_code == 200


def test_the_strongest_rule_in_a_group_wins(client, token, service_account, validator, published):
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV2")
    deliver(client, payload([alert(alertname="DiskAlmostFull"), alert()], group_key="all"), token)
    assert Incident.objects.get().severity == "SEV2"


def test_the_fleet_and_incident_severities_agree():
    assert [c for c, _ in AlertRule.SEVERITIES] == [c for c, _ in Incident.SEVERITIES]


def test_a_listener_failure_rolls_the_delivery_back_for_a_retry(client, token, validator,
                                                                 monkeypatch, published):
    from fleet import alerts
    from fleet.models import Alert, AlertDelivery

    def broken(changes):
        raise RuntimeError("listener broke")

    monkeypatch.setattr(alerts, "listeners", [broken])
    response = client.post("/api/alerts/alertmanager", payload([alert()]),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert tasks.process_alert_delivery(response.json()["delivery"]) == "failed"
    assert Alert.objects.count() == 0
    assert AlertDelivery.objects.get().status == AlertDelivery.RECEIVED


def test_the_incident_page_links_the_alert_group_it_came_from(client, token, service_account,
                                                              validator, published, rita):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    incident, group = Incident.objects.get(), AlertGroup.objects.get()
    client.force_login(rita)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert f'href="{group.get_absolute_url()}"' in page and "alertname=BlockProductionStalled" in page


def _declare_from(client, group, node, commander):
    return client.post(reverse("incidents:declare"), {
        "title": "DiskAlmostFull on validator-1", "severity": "SEV3", "nodes": [node.id],
        "commander": commander.id, "summary": "", "alert_group": group.id,
    })


def test_a_second_declare_from_the_same_alert_group_is_refused(client, token, service_account,
                                                               validator, published, rita):
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    deliver(client, payload([alert(alertname="DiskAlmostFull")], group_key="disk"), token)
    group = AlertGroup.objects.get()
    client.force_login(rita)
    assert _declare_from(client, group, validator, rita).status_code == 302
    incident = Incident.objects.get()
    # The same form sent again (a double click, a second tab): refused, with the reason.
    response = _declare_from(client, group, validator, rita)
    assert response.status_code == 409
    page = response.content.decode()
    assert f"already handled by INC-{incident.pk}" in page
    assert f'href="{incident.get_absolute_url()}"' in page
    assert Incident.objects.count() == 1 and list(group.incidents.all()) == [incident]


def test_a_person_declaring_after_the_worker_declared_is_refused(client, token, service_account,
                                                                 validator, published, rita):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    deliver(client, payload([alert()]), token)
    incident, group = Incident.objects.get(), AlertGroup.objects.get()
    client.force_login(rita)
    response = _declare_from(client, group, validator, rita)
    assert response.status_code == 409 and f"INC-{incident.pk}" in response.content.decode()
    assert Incident.objects.count() == 1


def test_a_group_whose_incident_is_resolved_may_open_a_new_one(client, token, service_account,
                                                               validator, published, rita):
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    deliver(client, payload([alert(alertname="DiskAlmostFull")], group_key="disk"), token)
    group = AlertGroup.objects.get()
    client.force_login(rita)
    assert _declare_from(client, group, validator, rita).status_code == 302
    Incident.objects.update(state=Incident.RESOLVED)
    assert _declare_from(client, group, validator, rita).status_code == 302
    assert group.incidents.count() == 2


@pytest.fixture
def scoped_stall_rules(db):
    """The issue's example: a stall on a mainnet validator is a SEV1 at once; elsewhere, confirm."""
    AlertRule.objects.create(alertname="BlockProductionStalled", environment="mainnet",
                             node_role="validator", action="declare", severity="SEV1")
    AlertRule.objects.create(alertname="BlockProductionStalled", action="confirm", severity="SEV2")


def test_a_stall_on_a_mainnet_validator_declares_sev1_at_once(client, token, service_account,
                                                              validator, published,
                                                              scoped_stall_rules):
    deliver(client, payload([alert(instance="validator-1:9100")]), token)
    incident = Incident.objects.get()
    assert incident.severity == "SEV1" and list(incident.nodes.all()) == [validator]


def test_a_stall_on_a_testnet_rpc_node_falls_to_the_next_rule_and_waits_for_a_person(
        client, token, service_account, published, scoped_stall_rules):
    Node.objects.create(name="rpc-test-1", environment="testnet", role="rpc")
    deliver(client, payload([alert(instance="rpc-test-1:9100")]), token)
    group = AlertGroup.objects.get()
    assert Incident.objects.count() == 0
    assert group.awaiting_confirmation and "(SEV2)" in group.confirmation_note


def test_an_alert_out_of_every_rules_scope_is_only_recorded(client, token, service_account,
                                                             published):
    AlertRule.objects.create(alertname="BlockProductionStalled", environment="mainnet",
                             node_role="validator", action="declare", severity="SEV1")
    Node.objects.create(name="validator-t", environment="testnet", role="validator")
    Node.objects.create(name="rpc-1", environment="mainnet", role="rpc")
    deliver(client, payload([alert(instance="validator-t:9100"), alert(instance="rpc-1:9100"),
                             alert(instance="unregistered:9100")]), token)
    assert Incident.objects.count() == 0
    assert not AlertGroup.objects.get().awaiting_confirmation


def test_a_declare_freezes_only_the_nodes_its_rule_covers(client, token, service_account, validator,
                                                          published, scoped_stall_rules):
    testnet = Node.objects.create(name="validator-t", environment="testnet", role="validator")
    deliver(client, payload([alert(instance="validator-1:9100"),
                             alert(instance="validator-t:9100")]), token)
    incident = Incident.objects.get()
    assert incident.severity == "SEV1" and list(incident.nodes.all()) == [validator]
    assert testnet.name not in incident.summary


def test_the_most_specific_rule_that_fits_the_node_wins(client, token, service_account, validator,
                                                        published):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV3")
    AlertRule.objects.create(alertname="BlockProductionStalled", environment="mainnet",
                             action="confirm", severity="SEV2")
    AlertRule.objects.create(alertname="BlockProductionStalled", environment="mainnet",
                             node_role="validator", action="declare", severity="SEV1")
    deliver(client, payload([alert(instance="validator-1:9100")]), token)
    assert Incident.objects.get().severity == "SEV1"
    # Without the narrowest rule, the mainnet rule applies (and not the stronger rule for any node).
    Incident.objects.all().delete()
    AlertRule.objects.filter(node_role="validator").delete()
    deliver(client, payload([alert(instance="validator-1:9100", chain="b")], group_key="g2"), token)
    assert Incident.objects.count() == 0
    assert AlertGroup.objects.get(group_key="g2").awaiting_confirmation


def test_one_alertname_takes_one_rule_per_scope(db):
    from django.db import IntegrityError, transaction

    AlertRule.objects.create(alertname="DiskAlmostFull", environment="mainnet")
    AlertRule.objects.create(alertname="DiskAlmostFull")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertRule.objects.create(alertname="DiskAlmostFull", environment="mainnet")


def test_the_demo_rules_declare_sev1_on_a_mainnet_validator_and_sev2_on_the_testnet_demo_node(
        client, token, validator, published):
    import io

    from django.core.management import call_command

    call_command("demo_alert", "--setup", stdout=io.StringIO())
    demo = Node.objects.create(name="demo-validator", environment="testnet", role="validator")
    rpc = Node.objects.create(name="rpc-1", environment="mainnet", role="rpc")
    for node in (validator, demo, rpc):
        deliver(client, payload([alert(instance=f"{node.name}:9100")], group_key=node.name), token)
    assert Incident.objects.get(nodes=validator).severity == "SEV1"
    assert Incident.objects.get(nodes=demo).severity == "SEV2"
    assert not Incident.objects.filter(nodes=rpc).exists()
    assert AlertGroup.objects.get(group_key="rpc-1").awaiting_confirmation


def test_a_further_node_firing_in_an_attached_group_is_named_on_the_incidents_timeline(
        client, token, service_account, validator, published, rita):
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    Node.objects.create(name="validator-2")
    deliver(client, payload([alert()]), token)
    incident = Incident.objects.get()
    deliver(client, payload([alert(), alert(instance="validator-2:9100"),
                             alert(instance="elsewhere:9100")]), token)
    assert Incident.objects.count() == 1
    firing = Event.objects.for_subject(incident).get(kind="alert_firing")
    assert "validator-2 (not on this incident: not frozen by it)" in firing.note
    assert "instance=elsewhere:9100 (no registered node)" in firing.note
    assert firing.data["nodes_not_on_incident"] == ["validator-2"]
    client.force_login(rita)
    assert "validator-2 (not on this incident" in client.get(incident.get_absolute_url()).content.decode()


def test_a_confirm_group_whose_alerts_all_resolved_no_longer_offers_the_declare(
        client, token, service_account, validator, published, rita):
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    disk = [alert(alertname="DiskAlmostFull"), alert(alertname="DiskAlmostFull", chain="b")]
    deliver(client, payload(disk, group_key="disk"), token)
    group = AlertGroup.objects.get()
    client.force_login(rita)
    url = reverse("alerts:group", args=[group.id])
    assert "Declare an incident from these alerts" in client.get(url).content.decode()
    # One of two resolves: still something to confirm.
    deliver(client, payload([disk[0], {**disk[1], "status": "resolved",
                                       "endsAt": "2026-11-30T03:10:00Z"}], group_key="disk"), token)
    group.refresh_from_db()
    assert group.awaiting_confirmation
    # Both resolved: nothing left to confirm, no button.
    deliver(client, payload([alert(alertname="DiskAlmostFull", status="resolved"),
                             alert(alertname="DiskAlmostFull", chain="b", status="resolved")],
                            group_key="disk"), token)
    group.refresh_from_db()
    assert not group.awaiting_confirmation
    page = client.get(url).content.decode()
    assert "Declare an incident from these alerts" not in page and ">to confirm<" not in page


def test_a_group_marked_to_confirm_with_nothing_firing_offers_no_declare(client, rita):
    # A mark left from before the worker cleared it: the page judges by what fires now.
    group = AlertGroup.objects.create(key_hash="d" * 64, group_key="old", awaiting_confirmation=True,
                                      confirmation_note="DiskAlmostFull: confirm")
    client.force_login(rita)
    page = client.get(reverse("alerts:group", args=[group.id])).content.decode()
    assert "Declare an incident from these alerts" not in page
