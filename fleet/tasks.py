"""The check runs: one Celery task per run stage, and the sweep that starts and rescues them.

Like the incident steps (incidents.tasks): a message only says "run N may be
due". The task claims the run with a conditional update, takes its stage's
readings and hands the run on only if it still owns it. Between the two stages
the run waits as a queued row with a due time, not in a worker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qpgov.dispatch import send_now, send_on_commit

from . import checks
from .models import CheckRun, Node

log = logging.getLogger(__name__)

# A queued run this long past due is assumed to have lost its message.
SWEEP_GRACE = timedelta(seconds=60)


def start_run(nodes, trigger: str, requested_by=None) -> CheckRun:
    """Save a queued run over `nodes` and send its message once the transaction commits."""
    with transaction.atomic():
        run = CheckRun.objects.create(trigger=trigger, requested_by=requested_by)
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


def checks_due(now) -> bool:
    """True when no scheduled run has started within the last QPGOV_NODE_CHECK_EVERY_HOURS."""
    since = now - timedelta(hours=settings.QPGOV_NODE_CHECK_EVERY_HOURS)
    return not CheckRun.objects.filter(trigger=CheckRun.SCHEDULE, created_at__gt=since).exists()


@shared_task(name="fleet.sweep_checks")
def sweep_checks() -> dict:
    """Start the daily run when due, expire dead leases, re-dispatch stranded runs; every minute."""
    now = timezone.now()
    counts = {"started": 0, "expired": 0, "redispatched": 0}
    if checks_due(now) and Node.objects.exists():
        start_run(Node.objects.all(), CheckRun.SCHEDULE)
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
