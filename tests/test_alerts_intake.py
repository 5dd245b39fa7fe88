"""Alertmanager's webhook: authentication, payload checks, body limits, and processing that
groups, deduplicates, resolves and keeps every alert, in a fixed number of statements."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fleet import tasks
from fleet.models import Alert, AlertDelivery, AlertGroup, AlertReceiver, Node
from tests.alert_payloads import alert, payload

URL = "/api/alerts/alertmanager"


@pytest.fixture
def token(db):
    receiver = AlertReceiver(name="alertmanager-1")
    secret = receiver.issue_token()
    receiver.save()
    return secret


@pytest.fixture
def sent(monkeypatch):
    """Delivery ids the view queued, instead of publishing them to a broker."""
    ids = []
    monkeypatch.setattr(tasks.process_alert_delivery, "apply_async",
                        lambda args=(), **kw: ids.append(args[0]) or type("R", (), {"id": "x"}))
    return ids


def post(client, body, token, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(URL, data, content_type="application/json", **headers)


def deliver(client, body, token):
    """Post and process the delivery as the worker would; return the response."""
    response = post(client, body, token)
    assert response.status_code == 200, response.content
    tasks.process_alert_delivery(response.json()["delivery"])
    return response


# --- the webhook's answers ----------------------------------------------------------------


def test_a_wrong_or_missing_token_gets_401_with_a_bearer_challenge(client, token, sent):
    for bad in (None, "", "qpa_wrong", token + "x", token[:-1]):
        response = post(client, payload([alert()]), bad)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer ")
        assert "bearer token" in response.json()["error"]
    assert response.status_code == 401
    response = client.post(URL, json.dumps(payload([alert()])), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code == 401
    assert AlertDelivery.objects.count() == 0 and sent == []


def test_a_deactivated_receiver_is_refused_and_a_rotated_token_replaces_the_old(client, token, sent):
    receiver = AlertReceiver.objects.get()
    new = receiver.issue_token()
    receiver.save()
    assert post(client, payload([alert()]), token).status_code == 401
    assert post(client, payload([alert()]), new).status_code == 200
    AlertReceiver.objects.update(active=False)
    assert post(client, payload([alert()]), new).status_code == 401


def test_only_the_hash_of_the_token_is_stored(token):
    receiver = AlertReceiver.objects.get()
    assert token not in receiver.token_hash and len(receiver.token_hash) == 64
    assert AlertReceiver.for_token(token) == receiver


@pytest.mark.parametrize("body,reason", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "JSON object"),
    (json.dumps(payload([alert()], version="3")).encode(), 'version "4"'),
    (json.dumps({**payload([alert()]), "version": 4}).encode(), 'version "4"'),
    (json.dumps({k: v for k, v in payload([alert()]).items() if k != "groupKey"}).encode(),
     "groupKey"),
    (json.dumps({**payload([alert()]), "alerts": {}}).encode(), "alerts"),
])
def test_a_body_that_is_not_a_version_4_payload_gets_400_and_is_not_stored(client, token, sent,
                                                                          body, reason):
    response = post(client, body, token)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert AlertDelivery.objects.count() == 0 and sent == []


def test_a_body_over_the_limit_gets_413(client, token, sent, settings):
    settings.QPGOV_ALERT_MAX_BODY_BYTES = 1024 * 1024
    body = payload([alert(instance=f"validator-{i}:9100") for i in range(5000)])
    raw = json.dumps(body).encode()
    assert len(raw) > 1024 * 1024
    response = post(client, raw, token)
    assert response.status_code == 413
    assert "1,048,576 bytes" in response.json()["error"]
    assert AlertDelivery.objects.count() == 0 and sent == []


def test_a_1_mb_body_under_the_default_limit_is_accepted(client, token, sent, settings):
    # Django's form limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 512 kB) does not apply to the webhook.
    body = json.dumps(payload([alert(instance=f"validator-{i}:9100") for i in range(2500)])).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and len(body) > 1024 * 1024
    assert post(client, body, token).status_code == 200
    assert AlertDelivery.objects.get().body.encode() == body  # the raw body, as it came


def test_the_webhook_needs_no_csrf_token_and_answers_only_post(token, sent):
    client = Client(enforce_csrf_checks=True)
    assert post(client, payload([alert()]), token).status_code == 200
    assert client.get(URL).status_code == 405
    assert AlertDelivery.objects.count() == 1


def test_the_view_stores_the_body_in_one_insert_and_queues_the_task_on_commit(
        client, token, sent, django_capture_on_commit_callbacks):
    body = payload([alert()])
    with django_capture_on_commit_callbacks() as callbacks, \
            CaptureQueriesContext(connection) as queries:
        response = post(client, body, token)
    assert response.status_code == 200 and sent == []
    for callback in callbacks:
        callback()
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1 and "fleet_alertdelivery" in writes[0]
    delivery = AlertDelivery.objects.get()
    assert delivery.status == AlertDelivery.RECEIVED and json.loads(delivery.body) == body
    assert sent == [delivery.id]
    assert Alert.objects.count() == 0  # processing is the task's job


# --- processing -----------------------------------------------------------------------------


def test_it_groups_by_group_key_and_re_sends_change_nothing(client, token, sent):
    firing = payload([alert(), alert(instance="validator-2:9100")])
    deliver(client, firing, token)
    group = AlertGroup.objects.get()
    assert group.group_key == firing["groupKey"] and group.status == "firing"
    rows = list(Alert.objects.order_by("id").values())
    for _ in range(3):
        deliver(client, firing, token)
    assert AlertGroup.objects.count() == 1
    assert list(Alert.objects.order_by("id").values()) == rows
    assert AlertDelivery.objects.filter(status="processed", group=group).count() == 4


def test_each_alert_is_judged_by_its_own_status_and_resolved_in_place(client, token, sent):
    a, b = alert(), alert(instance="validator-2:9100")
    deliver(client, payload([a, b]), token)
    resolved_b = alert(instance="validator-2:9100", status="resolved")
    mixed = payload([a, resolved_b])
    assert mixed["status"] == "firing"  # the top level fires while any alert fires
    deliver(client, mixed, token)
    assert dict(Alert.objects.values_list("labels__instance", "status")) == {
        "validator-1:9100": "firing", "validator-2:9100": "resolved"}
    assert Alert.objects.count() == 2
    assert Alert.objects.get(status="resolved").ends_at is not None
    assert Alert.objects.get(status="firing").ends_at is None  # Go's zero time


def test_a_new_start_of_the_same_alert_is_a_new_row(client, token, sent):
    deliver(client, payload([alert()]), token)
    later = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    deliver(client, payload([alert(starts_at=later)]), token)
    assert Alert.objects.count() == 2
    assert Alert.objects.values("fingerprint").distinct().count() == 1


def test_a_resolved_alert_never_seen_is_accepted(client, token, sent):
    deliver(client, payload([alert(status="resolved")]), token)
    assert Alert.objects.get().status == "resolved"
    assert AlertGroup.objects.get().status == "resolved"


def test_truncated_alerts_are_recorded_and_the_group_marked_incomplete(client, token, sent):
    deliver(client, payload([alert()], truncated=37), token)
    group = AlertGroup.objects.get()
    assert group.incomplete and group.truncated_alerts == 37
    assert AlertDelivery.objects.get().truncated_alerts == 37
    deliver(client, payload([alert()]), token)
    group.refresh_from_db()
    assert group.incomplete  # what went missing once stays missing


def test_unreadable_alerts_are_skipped_and_counted_and_the_rest_kept(client, token, sent):
    good = alert()
    no_fingerprint = {**alert(instance="x:1"), "fingerprint": ""}
    bad_date = {**alert(instance="y:1"), "startsAt": "yesterday"}
    nul = alert(instance="z:1")
    nul["labels"]["note"] = "a\u0000b\ud800"
    deliver(client, payload([good, no_fingerprint, bad_date, "nonsense", nul]), token)
    delivery = AlertDelivery.objects.get()
    assert delivery.skipped_alerts == 3 and delivery.alert_count == 5
    assert Alert.objects.count() == 2
    assert Alert.objects.get(fingerprint=nul["fingerprint"]).labels["note"] == "a\ufffdb?"


def test_an_older_delivery_processed_late_does_not_undo_a_newer_one(client, token, sent):
    older = post(client, payload([alert()]), token).json()["delivery"]
    deliver(client, payload([alert(status="resolved")]), token)
    tasks.process_alert_delivery(older)
    assert Alert.objects.get().status == "resolved"


def test_alerts_map_to_nodes_by_the_instance_label(client, token, sent, settings):
    v1 = Node.objects.create(name="validator-1")
    v2 = Node.objects.create(name="v2", target="ops@validator-2.internal")
    deliver(client, payload([alert(instance="validator-1:9100"),
                             alert(instance="validator-2.internal:9100"),
                             alert(instance="unknown-host:9100")]), token)
    nodes = dict(Alert.objects.values_list("labels__instance", "node"))
    assert nodes == {"validator-1:9100": v1.id, "validator-2.internal:9100": v2.id,
                     "unknown-host:9100": None}
    settings.QPGOV_ALERT_NODE_LABEL = "host"
    deliver(client, payload([alert(instance="nothing", host="validator-1",
                                   alertname="DiskAlmostFull")], group_key="g2"), token)
    assert Alert.objects.get(alertname="DiskAlmostFull").node == v1


def test_ten_thousand_alerts_in_one_group_are_all_kept(client, token, sent, settings):
    alerts = [alert(instance=f"host-{i}:9100") for i in range(10_000)]
    body = json.dumps(payload(alerts)).encode()
    assert len(body) < settings.QPGOV_ALERT_MAX_BODY_BYTES
    deliver(client, body, token)
    assert Alert.objects.count() == 10_000
    assert AlertDelivery.objects.get().alert_count == 10_000
    half = [alert(instance=f"host-{i}:9100", status="resolved") if i % 2 else a
            for i, a in enumerate(alerts)]
    deliver(client, payload(half), token)
    assert Alert.objects.filter(status="resolved").count() == 5_000


@pytest.mark.parametrize("size", [10, 1500])
def test_processing_costs_the_same_statements_for_10_or_1500_alerts(client, token, sent, size):
    """Set-based: reading, upserting and re-sending never cost a statement per alert."""
    Node.objects.create(name="validator-1")
    body = payload([alert(instance=f"host-{i}:9100") for i in range(size)])
    delivery_id = post(client, body, token).json()["delivery"]
    with CaptureQueriesContext(connection) as captured:
        tasks.process_alert_delivery(delivery_id)
    first = [q["sql"] for q in captured]  # read now: the next request resets the query log
    resend = post(client, body, token).json()["delivery"]
    with CaptureQueriesContext(connection) as captured:
        tasks.process_alert_delivery(resend)
    again = [q["sql"] for q in captured]
    assert Alert.objects.count() == size
    # Fingerprints are read 900 to a statement and rows written 500 to a statement
    # (fewer on SQLite, whose statements take at most 999 parameters); nothing
    # else grows with the number of alerts.
    fields = [f for f in Alert._meta.concrete_fields if not f.primary_key]
    per_insert = min(500, connection.ops.bulk_batch_size(fields, [None] * size))
    chunks, batches = math.ceil(size / 900), math.ceil(size / per_insert)
    assert len(first) == 15 + chunks + batches, first
    assert len(again) == 10 + chunks, again


def test_a_delivery_is_claimed_once(client, token, sent):
    delivery_id = post(client, payload([alert()]), token).json()["delivery"]
    assert tasks.process_alert_delivery(delivery_id) == "processed"
    assert tasks.process_alert_delivery(delivery_id) == "not claimed"
    assert AlertDelivery.objects.get().attempts == 1


def test_the_sweep_resends_stranded_deliveries_and_takes_back_expired_leases(
        client, token, sent, time_machine):
    time_machine.move_to(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))
    lost = post(client, payload([alert()]), token).json()["delivery"]
    dead = post(client, payload([alert(instance="b:1")], group_key="g2"), token).json()["delivery"]
    AlertDelivery.objects.filter(id=dead).update(
        status="processing", lease_expires_at=datetime(2026, 11, 30, 5, 5, tzinfo=UTC))
    sent.clear()
    assert tasks.sweep_alert_deliveries() == {"expired": 0, "redispatched": 0}  # not overdue yet
    time_machine.move_to(datetime(2026, 11, 30, 5, 6, tzinfo=UTC))
    assert tasks.sweep_alert_deliveries() == {"expired": 1, "redispatched": 2}
    assert sorted(sent) == sorted([lost, dead])
    for delivery_id in sent:
        tasks.process_alert_delivery(delivery_id)
    assert Alert.objects.count() == 2


def test_a_failing_delivery_is_kept_retried_and_finally_marked_failed(client, token, sent,
                                                                     monkeypatch):
    delivery_id = post(client, payload([alert()]), token).json()["delivery"]

    def broken(delivery):
        raise RuntimeError("database said no")

    monkeypatch.setattr("fleet.alerts.ingest", broken)
    for attempt in range(1, tasks.MAX_ATTEMPTS + 1):
        assert tasks.process_alert_delivery(delivery_id) == "failed"
        delivery = AlertDelivery.objects.get()
        assert delivery.attempts == attempt and "database said no" in delivery.last_error
    assert delivery.status == AlertDelivery.FAILED
    assert delivery.body  # never lost


def test_the_alert_pages_list_groups_and_show_their_alerts(client, token, sent, olga, rita, carol,
                                                          alice, eve):
    deliver(client, payload([alert(), alert(instance="validator-2:9100", status="resolved")]), token)
    group = AlertGroup.objects.get()
    for reader in (olga, rita, carol):
        client.force_login(reader)
        page = client.get(reverse("alerts:list"))
        assert page.status_code == 200 and b"alertname=BlockProductionStalled" in page.content
        detail = client.get(reverse("alerts:group", args=[group.id]))
        assert detail.status_code == 200
        assert b"1 firing of 2" in detail.content and b"validator-2:9100" in detail.content
    for outsider in (alice, eve):
        client.force_login(outsider)
        assert client.get(reverse("alerts:list")).status_code == 403
        assert client.get(reverse("alerts:group", args=[group.id])).status_code == 403


def test_the_watchdog_opens_and_closes_a_monitoring_silence(client, token, sent, time_machine,
                                                            settings):
    from fleet.models import MonitoringSilence
    from qpgov.models import Event

    settings.QPGOV_ALERT_WATCHDOG_SILENT_MINUTES = 10
    start = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    time_machine.move_to(start)
    AlertReceiver.objects.update(created_at=start)
    assert tasks.check_watchdog() == "alive"  # expected since the receiver came, not yet overdue
    time_machine.move_to(start + timedelta(minutes=11))
    assert tasks.check_watchdog() == "silent"
    assert tasks.check_watchdog() == "silent"
    silence = MonitoringSilence.objects.get()
    assert silence.open and silence.ended_at is None
    assert [e.kind for e in Event.objects.for_subject(silence)] == ["monitoring_silent"]
    client.force_login(_make_ops())
    assert b"monitoring silent" in client.get(reverse("alerts:list")).content
    deliver(client, payload([alert(alertname="Watchdog", instance="prometheus:9090")],
                            group_key="watchdog"), token)
    assert tasks.check_watchdog() == "heard again"
    silence.refresh_from_db()
    assert silence.open is None and silence.ended_at is not None
    assert MonitoringSilence.objects.count() == 1
    time_machine.move_to(start + timedelta(minutes=30))
    assert tasks.check_watchdog() == "silent"
    assert MonitoringSilence.objects.filter(open=True).count() == 1


def _make_ops():
    from qpgov import roles
    from tests.conftest import make_user

    return make_user("otto", roles.CORE_OPS)


def test_staff_create_and_rotate_a_receiver_token_shown_once_in_the_admin(client, staff, sent):
    client.force_login(staff)
    response = client.post("/admin/fleet/alertreceiver/add/", {"name": "am-1", "active": "on"},
                           follow=True)
    shown = [str(m) for m in response.context["messages"]]
    token = shown[0].split("Bearer token for am-1: ")[1].split(" ")[0]
    receiver = AlertReceiver.objects.get(name="am-1")
    assert token.startswith("qpa_") and token not in receiver.token_hash
    assert post(client, payload([alert()]), token).status_code == 200
    response = client.post("/admin/fleet/alertreceiver/", {
        "action": "rotate_token", "_selected_action": [receiver.pk]}, follow=True)
    new = [str(m) for m in response.context["messages"]][0].split("am-1: ")[1].split(" ")[0]
    assert new != token
    assert post(client, payload([alert()]), token).status_code == 401
    assert post(client, payload([alert()]), new).status_code == 200
    receiver.refresh_from_db()
    page = client.get(f"/admin/fleet/alertreceiver/{receiver.pk}/change/").content.decode()
    assert new not in page and receiver.token_hash not in page


def test_metrics_count_alerts_received_and_deduplicated(client, token, sent):
    from tests.test_metrics import scrape

    body = payload([alert(), alert(instance="validator-2:9100"), {"fingerprint": ""}])
    deliver(client, body, token)
    deliver(client, body, token)  # a re-send: two alerts deduplicated
    samples = scrape(client)
    assert samples["qpgov_alerts_received_total"][()] == 6
    assert samples["qpgov_alerts_skipped_total"][()] == 2
    assert samples["qpgov_alerts_deduplicated_total"][()] == 2
    assert samples["qpgov_alerts_firing"][()] == 2
    assert samples["qpgov_alert_deliveries"][(("status", "processed"),)] == 2
    assert samples["qpgov_monitoring_silent"][()] == 0


def test_only_a_web_address_becomes_the_groups_alertmanager_link(client, token, sent, olga):
    deliver(client, {**payload([alert()]), "externalURL": "javascript:alert(1)"}, token)
    group = AlertGroup.objects.get()
    assert group.external_url == ""
    client.force_login(olga)
    assert b"javascript:" not in client.get(reverse("alerts:group", args=[group.id])).content
    deliver(client, {**payload([alert()]), "externalURL": "https://am.example.org"}, token)
    group.refresh_from_db()
    assert group.external_url == "https://am.example.org"
