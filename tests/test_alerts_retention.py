"""Raw alert bodies are kept while they may be needed, then emptied; their hash and size stay."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from fleet import tasks
from fleet.models import Alert, AlertDelivery
from tests.alert_payloads import alert, payload
from tests.test_alerts_intake import deliver, sent, token  # noqa: F401 - fixtures


def aged(delivery_id, days):
    AlertDelivery.objects.filter(id=delivery_id).update(received_at=timezone.now() - timedelta(days=days))


def test_the_webhook_records_the_hash_and_size_of_the_body_it_saved(client, token, sent):  # noqa: F811
    response = deliver(client, payload([alert()]), token)
    delivery = AlertDelivery.objects.get(id=response.json()["delivery"])
    raw = delivery.body.encode()
    assert delivery.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert delivery.body_bytes == len(raw) > 0 and delivery.body_pruned_at is None


def test_old_processed_bodies_are_emptied_and_everything_else_is_kept(client, token, sent, settings):  # noqa: F811
    settings.QPGOV_ALERT_BODY_RETENTION_DAYS = 30
    old = deliver(client, payload([alert(fingerprint="aa01")]), token).json()["delivery"]
    recent = deliver(client, payload([alert(fingerprint="aa02")]), token).json()["delivery"]
    failed = deliver(client, payload([alert(fingerprint="aa03")]), token).json()["delivery"]
    waiting = deliver(client, payload([alert(fingerprint="aa04")]), token).json()["delivery"]
    AlertDelivery.objects.filter(id=failed).update(status=AlertDelivery.FAILED)
    AlertDelivery.objects.filter(id=waiting).update(status=AlertDelivery.RECEIVED)
    for delivery_id in (old, failed, waiting):
        aged(delivery_id, 31)
    aged(recent, 29)
    before = {d.id: (d.body, d.body_sha256, d.body_bytes) for d in AlertDelivery.objects.all()}
    alerts_before = list(Alert.objects.order_by("id").values())

    assert tasks.prune_alert_bodies() == 1
    pruned = AlertDelivery.objects.get(id=old)
    assert pruned.body == "" and pruned.body_pruned_at is not None
    assert (pruned.body_sha256, pruned.body_bytes) == before[old][1:]
    for kept in (recent, failed, waiting):
        assert AlertDelivery.objects.get(id=kept).body == before[kept][0] != ""
    # What the bodies said is in the alert rows, untouched.
    assert list(Alert.objects.order_by("id").values()) == alerts_before
    # Running again finds nothing more to do.
    assert tasks.prune_alert_bodies() == 0


def test_retention_zero_keeps_every_body(client, token, sent, settings):  # noqa: F811
    settings.QPGOV_ALERT_BODY_RETENTION_DAYS = 0
    delivery_id = deliver(client, payload([alert()]), token).json()["delivery"]
    aged(delivery_id, 3650)
    assert tasks.prune_alert_bodies() == 0
    assert AlertDelivery.objects.get(id=delivery_id).body != ""


def test_pruning_goes_in_batches_until_done(client, token, sent, settings, monkeypatch):  # noqa: F811
    settings.QPGOV_ALERT_BODY_RETENTION_DAYS = 1
    monkeypatch.setattr(tasks, "PRUNE_BATCH", 2)
    ids = [deliver(client, payload([alert(fingerprint=f"bb{i:02}")]), token).json()["delivery"]
           for i in range(5)]
    for delivery_id in ids:
        aged(delivery_id, 2)
    assert tasks.prune_alert_bodies() == 5
    assert not AlertDelivery.objects.filter(id__in=ids).exclude(body="").exists()


@pytest.mark.django_db
def test_the_hourly_prune_is_scheduled(settings):
    assert settings.CELERY_BEAT_SCHEDULE["fleet-prune-alert-bodies"]["task"] == "fleet.prune_alert_bodies"
