"""Background work on alerts: process a stored delivery, rescue stranded ones, watch the watchdog.

A message only says "delivery N may need processing". The task claims the row
with a conditional update; a duplicate message finds nothing to claim. The
sweep (beat, every minute) re-sends deliveries whose message was lost or whose
worker died, so an alert that reached the database is never dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from qpgov import eventlog
from qpgov.dispatch import send_now

from . import alerts
from .models import AlertDelivery, AlertReceiver, MonitoringSilence

log = logging.getLogger(__name__)

# Ten thousand alerts take seconds; a worker holding a delivery this long has died.
DELIVERY_LEASE = timedelta(minutes=10)
# A delivery still "received" this long after it arrived has lost its message.
SWEEP_GRACE = timedelta(seconds=60)
# A delivery that failed this many times waits for a human (it is on the alerts page).
MAX_ATTEMPTS = 5


@shared_task(name="fleet.process_alert_delivery", acks_late=True)
def process_alert_delivery(delivery_id: int) -> str:
    """Claim delivery `delivery_id` and turn its body into alert rows (fleet.alerts.ingest)."""
    now = timezone.now()
    if AlertDelivery.objects.filter(id=delivery_id, status=AlertDelivery.RECEIVED).update(
        status=AlertDelivery.PROCESSING, attempts=F("attempts") + 1,
        lease_expires_at=now + DELIVERY_LEASE,
    ) != 1:
        return "not claimed"  # a duplicate message, or someone else has it
    delivery = AlertDelivery.objects.get(id=delivery_id)
    try:
        changes = alerts.ingest(delivery)
    except Exception as exc:  # anything: the body is safe, and the sweep tries again later
        log.exception("alert delivery %s failed", delivery_id)
        status = AlertDelivery.FAILED if delivery.attempts >= MAX_ATTEMPTS else AlertDelivery.RECEIVED
        AlertDelivery.objects.filter(id=delivery_id, status=AlertDelivery.PROCESSING).update(
            status=status, lease_expires_at=None, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        return "failed"
    return "processed" if changes is not None else "lost its lease"


@shared_task(name="fleet.sweep_alert_deliveries")
def sweep_alert_deliveries() -> dict:
    """Take back deliveries from dead workers and re-send lost messages; runs every minute."""
    now = timezone.now()
    expired = AlertDelivery.objects.filter(
        status=AlertDelivery.PROCESSING, lease_expires_at__lt=now
    ).update(status=AlertDelivery.RECEIVED, lease_expires_at=None,
             last_error="the worker processing this delivery stopped answering")
    stranded = AlertDelivery.objects.filter(
        status=AlertDelivery.RECEIVED, received_at__lte=now - SWEEP_GRACE
    ).order_by("id").values_list("id", flat=True)
    sent = 0
    for delivery_id in stranded:
        send_now(process_alert_delivery, delivery_id)
        sent += 1
    return {"expired": expired, "redispatched": sent}


def watchdog_last_heard():
    """When the always-firing watchdog alert last reached qpgov, or None."""
    last = (AlertDelivery.objects.filter(heard_watchdog=True).order_by("-received_at")
            .values_list("received_at", flat=True).first())
    return last


@shared_task(name="fleet.check_watchdog")
def check_watchdog() -> str:
    """Open a MonitoringSilence when the watchdog has not been heard for too long; close it
    when it is heard again. Monitoring is expected from the first receiver's creation."""
    now = timezone.now()
    limit = timedelta(minutes=settings.QPGOV_ALERT_WATCHDOG_SILENT_MINUTES)
    heard = watchdog_last_heard()
    expected_since = heard or AlertReceiver.objects.filter(active=True).aggregate(
        first=Min("created_at"))["first"]
    if expected_since is None:
        return "no receiver"
    silent = expected_since <= now - limit
    current = MonitoringSilence.objects.filter(open=True).first()
    if silent and current is None:
        try:
            with transaction.atomic():
                silence = MonitoringSilence.objects.create(started_at=expected_since, detected_at=now)
                eventlog.append(silence, "monitoring_silent", note=(
                    f"the {settings.QPGOV_ALERT_WATCHDOG_NAME} alert has not been heard since "
                    f"{expected_since:%Y-%m-%d %H:%M:%S} UTC" if heard else
                    f"the {settings.QPGOV_ALERT_WATCHDOG_NAME} alert has never been heard"),
                    data={"last_heard": heard.isoformat() if heard else None})
        except IntegrityError:
            return "already silent"  # another sweep opened it a moment ago
        return "silent"
    if not silent and current is not None:
        with transaction.atomic():
            if MonitoringSilence.objects.filter(id=current.id, open=True).update(
                open=None, ended_at=heard
            ) == 1:
                eventlog.append(current, "monitoring_heard", note=(
                    f"the {settings.QPGOV_ALERT_WATCHDOG_NAME} alert was heard again at "
                    f"{heard:%Y-%m-%d %H:%M:%S} UTC"), data={"heard": heard.isoformat()})
        return "heard again"
    return "silent" if silent else "alive"
