"""Alert rules and receivers changed in the admin go on the event log: who, before and after,
and never the token."""

import json

from fleet.models import AlertReceiver, AlertRule, hash_token
from qpgov import eventlog
from qpgov.models import Event

RULES = "/admin/fleet/alertrule/"
RECEIVERS = "/admin/fleet/alertreceiver/"


def events(kind):
    return list(Event.objects.filter(kind=kind).order_by("seq"))


def rule_form(**fields):
    return {"alertname": "BlockProductionStalled", "environment": "mainnet",
            "node_role": "validator", "action": "declare", "severity": "SEV1",
            "description": "", **fields}


def test_adding_editing_and_deleting_a_rule_in_the_admin_is_logged_with_before_and_after(
        client, staff):
    client.force_login(staff)
    assert client.post(f"{RULES}add/", rule_form()).status_code == 302
    rule = AlertRule.objects.get()
    [added] = events("alert_rule_added")
    assert added.actor == staff and (added.subject_type, added.subject_id) == ("fleet.alertrule",
                                                                                rule.pk)
    assert added.data["after"]["action"] == "declare" and added.data["after"]["severity"] == "SEV1"

    assert client.post(f"{RULES}{rule.pk}/change/", rule_form(severity="SEV2")).status_code == 302
    [changed] = events("alert_rule_changed")
    assert changed.actor == staff
    assert changed.data == {"before": {"severity": "SEV1"}, "after": {"severity": "SEV2"}}

    # Saved again unchanged: nothing to log.
    client.post(f"{RULES}{rule.pk}/change/", rule_form(severity="SEV2"))
    assert len(events("alert_rule_changed")) == 1

    assert client.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    [deleted] = events("alert_rule_deleted")
    assert deleted.actor == staff and deleted.subject_id == rule.pk
    assert deleted.data["before"]["severity"] == "SEV2" and deleted.data["after"] == {}
    assert not AlertRule.objects.exists()
    assert eventlog.verify()[1] is None


def test_rules_deleted_from_the_list_are_each_logged(client, staff):
    client.force_login(staff)
    rules = [AlertRule.objects.create(alertname=name) for name in ("A", "B")]
    client.post(RULES, {"action": "delete_selected", "_selected_action": [r.pk for r in rules],
                        "post": "yes"})
    assert not AlertRule.objects.exists()
    assert sorted(e.data["before"]["alertname"] for e in events("alert_rule_deleted")) == ["A", "B"]


def test_receiver_creation_rotation_and_deactivation_are_logged_without_the_token(client, staff):
    client.force_login(staff)
    response = client.post(f"{RECEIVERS}add/", {"name": "am-1", "active": "on"}, follow=True)
    first = [str(m) for m in response.context["messages"]][0].split("am-1: ")[1].split(" ")[0]
    receiver = AlertReceiver.objects.get()
    [added] = events("alert_receiver_added")
    assert added.actor == staff and added.data["after"] == {"name": "am-1", "active": True}
    assert "token_issued_at" in added.data

    response = client.post(RECEIVERS, {"action": "rotate_token", "_selected_action": [receiver.pk]},
                           follow=True)
    second = [str(m) for m in response.context["messages"]][0].split("am-1: ")[1].split(" ")[0]
    [rotated] = events("alert_receiver_token_rotated")
    assert rotated.actor == staff and rotated.subject_id == receiver.pk

    client.post(f"{RECEIVERS}{receiver.pk}/change/", {"name": "am-1"})  # "active" unticked
    [changed] = events("alert_receiver_changed")
    assert changed.actor == staff
    assert changed.data == {"before": {"active": True}, "after": {"active": False}}

    receiver.refresh_from_db()
    logged = json.dumps([[e.note, e.data] for e in Event.objects.filter(
        subject_type="fleet.alertreceiver")])
    for secret in (first, second, hash_token(first), receiver.token_hash):
        assert secret not in logged
