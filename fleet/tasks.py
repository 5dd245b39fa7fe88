"""Background work of the fleet: alert deliveries and the watchdog, and the node check runs.

Alert deliveries: a message only says "delivery N may need processing"; the task claims
the row with a conditional update, and the sweep re-sends deliveries whose message was
lost or whose worker died, so an alert that reached the database is never dropped.

Check runs: one task per run stage. The task claims the run with a conditional update,
takes its stage's readings and hands the run on only if it still owns it. Between the
two stages the run waits as a queued row with a due time, not in a worker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from qpgov import eventlog
from qpgov.dispatch import send_now, send_on_commit

from . import alerts, checks
from .models import AlertDelivery, AlertReceiver, CheckRun, MonitoringSilence, Node

log = logging.getLogger(__name__)

# Ten thousand alerts take seconds; a worker holding a delivery this long has died.
DELIVERY_LEASE = timedelta(minutes=10)
# A delivery still "received" this long after it arrived, or a check run still queued
# this long past due, has lost its message.
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


PRUNE_BATCH = 500


@shared_task(name="fleet.prune_alert_bodies")
def prune_alert_bodies() -> int:
    """Empty the raw bodies of processed deliveries older than the retention; runs hourly.

    A 10,000-alert body is a few MB and Alertmanager re-sends a firing group every
    few minutes, so bodies would soon outweigh everything else in the database.
    What the body said is already in the alert rows; the row keeps its hash and
    size. Failed and unprocessed deliveries keep their bodies: they may still be
    needed to process or to debug them. Batches keep each transaction short.
    """
    days = settings.QPGOV_ALERT_BODY_RETENTION_DAYS
    if days <= 0:
        return 0
    now = timezone.now()
    pruned = 0
    while True:
        batch = list(AlertDelivery.objects.filter(
            status=AlertDelivery.PROCESSED, received_at__lt=now - timedelta(days=days),
            body_pruned_at__isnull=True,
        ).order_by("id").values_list("id", flat=True)[:PRUNE_BATCH])
        if not batch:
            return pruned
        pruned += AlertDelivery.objects.filter(id__in=batch, body_pruned_at__isnull=True).update(
            body="", body_pruned_at=now)


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


def start_run(nodes, trigger: str, requested_by=None, follows_scheduled_at=None) -> CheckRun:
    """Save a queued run over `nodes` and send its message once the transaction commits."""
    with transaction.atomic():
        run = CheckRun.objects.create(trigger=trigger, requested_by=requested_by,
                                      follows_scheduled_at=follows_scheduled_at)
        run.nodes.set(nodes)
        send_on_commit(run_checks, run.id)
    return run


def _lease() -> timedelta:
    # Long enough for every command of one node to hit its timeout: the lease is
    # renewed before each node, so the sweep never takes a run from a worker
    # that is merely slow, and finds a dead worker's run within minutes.
    return timedelta(seconds=2 * settings.QPGOV_NODE_CHECK_TIMEOUT * len(checks.KINDS) + 60)


def _claim(run_id: int, task_id: str) -> CheckRun | None:
    now = timezone.now()
    if CheckRun.objects.filter(id=run_id, status=CheckRun.QUEUED, due_at__lte=now).update(
        status=CheckRun.RUNNING, task_id=task_id, lease_expires_at=now + _lease(),
    ) != 1:
        return None  # not due yet, done, or another worker got there first
    return CheckRun.objects.get(id=run_id)


def _owned(run: CheckRun, task_id: str):
    return CheckRun.objects.filter(id=run.id, status=CheckRun.RUNNING, task_id=task_id)


def _renewer(run: CheckRun, task_id: str):
    """A `still_ours()` for the stage: renew the lease if the run is still this task's."""
    return lambda: _owned(run, task_id).update(lease_expires_at=timezone.now() + _lease()) == 1


@shared_task(name="fleet.run_checks", acks_late=True, bind=True)
def run_checks(self, run_id: int) -> None:
    """Claim check run `run_id` and take its current stage's readings; queue the next stage."""
    task_id = self.request.id or f"direct-{uuid.uuid4()}"
    run = _claim(run_id, task_id)
    if run is None:
        return
    if run.stage == CheckRun.FIRST_READINGS:
        checks.take_first_readings(run, still_ours=_renewer(run, task_id))
        interval = settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL
        with transaction.atomic():
            if _owned(run, task_id).update(
                status=CheckRun.QUEUED, stage=CheckRun.SECOND_READINGS, task_id="",
                lease_expires_at=None, due_at=timezone.now() + timedelta(seconds=interval),
            ) == 1:
                send_on_commit(run_checks, run.id, countdown=interval)
    else:
        checks.take_second_readings(run, still_ours=_renewer(run, task_id))
        _owned(run, task_id).update(status=CheckRun.DONE, lease_expires_at=None,
                                    finished_at=timezone.now())


def start_scheduled_run(now) -> CheckRun | None:
    """Start the daily run over every node when no scheduled run has started within the
    last QPGOV_NODE_CHECK_EVERY_HOURS; None when it is not due or another sweep started it.

    Two beats sweep at once (docs/operations.md). Both may find the run due after the
    same last run; the new run records which run it follows, that is unique among
    scheduled runs, so PostgreSQL makes the second insert wait for the first and then
    refuses it. The due test and the run to follow come from one read, so a sweep
    that reads after the other's commit sees the new run and starts nothing.
    """
    last = (CheckRun.objects.filter(trigger=CheckRun.SCHEDULE).order_by("-created_at")
            .values_list("created_at", flat=True).first())
    if last is not None and last > now - timedelta(hours=settings.QPGOV_NODE_CHECK_EVERY_HOURS):
        return None
    if not Node.objects.exists():
        return None
    try:
        return start_run(Node.objects.all(), CheckRun.SCHEDULE,
                         follows_scheduled_at=last or CheckRun.NO_EARLIER_RUN)
    except IntegrityError:
        return None  # the other beat's sweep started this run a moment ago


@shared_task(name="fleet.sweep_checks")
def sweep_checks() -> dict:
    """Start the daily run when due, expire dead leases, re-dispatch stranded runs; every minute."""
    now = timezone.now()
    counts = {"started": 0, "expired": 0, "redispatched": 0}
    if start_scheduled_run(now) is not None:
        counts["started"] = 1
    # A run whose worker died goes back to the queue at the same stage; its
    # stage runs again and replaces what the dead worker recorded.
    for run_id in CheckRun.objects.filter(
        status=CheckRun.RUNNING, lease_expires_at__lt=now
    ).values_list("id", flat=True):
        if CheckRun.objects.filter(id=run_id, status=CheckRun.RUNNING, lease_expires_at__lt=now
                                   ).update(status=CheckRun.QUEUED, task_id="",
                                            lease_expires_at=None, due_at=now) == 1:
            send_now(run_checks, run_id)
            counts["expired"] += 1
    for run_id in CheckRun.objects.filter(
        status=CheckRun.QUEUED, due_at__lte=now - SWEEP_GRACE
    ).values_list("id", flat=True):
        send_now(run_checks, run_id)
        counts["redispatched"] += 1
    return counts
