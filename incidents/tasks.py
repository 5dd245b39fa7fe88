"""The step engine: one Celery task per response step, and the sweep that rescues them.

A message only says "step N may be due". The task claims the step with a
conditional update; a duplicate delivery, or a message for a step that is not
due yet, finds nothing to claim and exits. The result is recorded only if the
task still owns the step (same task id, still running), so a task that
outlived its lease cannot overwrite the work of the one that replaced it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, prefetch_related_objects
from django.utils import timezone

from fleet.drivers import NodeActionError, get_driver
from fleet.models import Node
from qpgov import eventlog
from qpgov.dispatch import send_now, send_on_commit
from qpgov.wording import count

from . import actions, runbook
from .models import Incident, IncidentNode, NotificationDelivery, ResponseStep, StepAttempt

log = logging.getLogger(__name__)

# A pending step this long past due is assumed to have lost its message.
SWEEP_GRACE = timedelta(seconds=60)


def advance(incident: Incident, events=(), *, locked: bool = False,
            steps: list[ResponseStep] | None = None) -> ResponseStep | None:
    """Append `events`, mark the incident contained when it is, and queue the first unfinished step if due.

    Call inside a transaction. The incident is locked here unless the caller
    already holds it (`locked`, and then `steps` may be its steps as read under
    that lock); the chain head is locked last, by the append. The message goes
    out after the transaction commits.
    """
    if not locked:
        incident, steps = lock_with_steps(incident.pk)
    elif steps is None:
        steps = list(incident.steps.order_by("position"))
    events = list(events)
    if any(s.partly_done for s in steps):
        events += _catch_up_held_nodes(incident, steps)
    before_postmortem = [s for s in steps if s.kind != runbook.POSTMORTEM]
    if incident.state in (Incident.DECLARED, Incident.RESPONDING) and all(
        s.status in ResponseStep.DONE for s in before_postmortem
    ):
        previous = incident.state
        incident.contain()
        incident.save(update_fields=["state"])
        events.append(eventlog.entry(
            incident, "contained", from_state=previous, to_state=incident.state,
            note="freeze, logs, snapshot and notification are each done or skipped"))
    # The first step not done, past any partly done one (it lets the next go on);
    # and a partly done step a responder retried, which needs its message too.
    queued = next((s for s in steps if s.status not in ResponseStep.DONE and not s.partly_done), None)
    if queued is None or queued.status != ResponseStep.PENDING or queued.next_attempt_at is not None:
        queued = None  # finished, already queued, running, or waiting for a human
    elif queued.kind == runbook.POSTMORTEM and incident.state != Incident.RESOLVED:
        queued = None  # the post-mortem waits for the commander to resolve
    retried = [s for s in steps if s.partly_done and s.status == ResponseStep.PENDING
               and s.next_attempt_at is None]
    for step in [*retried, *([queued] if queued else [])]:
        ResponseStep.objects.filter(id=step.id).update(next_attempt_at=timezone.now())
        step.next_attempt_at = timezone.now()
        send_on_commit(run_step, step.id)
    eventlog.append_many(events)
    return queued


def _catch_up_held_nodes(incident: Incident, steps: list[ResponseStep]) -> list[dict]:
    """Reopen a node step that succeeded without a node an earlier step held then and
    has let through since (its freeze succeeded on a retry, or a responder skipped it).

    The reopened step's next try acts only on the nodes it has not done
    (actions.nodes_to_act_on). Runs under the incident's lock, in advance().
    """
    node_steps = [s for s in steps if s.kind in actions.NODE_STEPS]
    succeeded: dict[int, set[int]] = {}
    for step_id, node_id in StepAttempt.objects.filter(
        step__incident_id=incident.pk, step__kind__in=actions.NODE_STEPS,
        status=ResponseStep.SUCCEEDED, node__isnull=False,
    ).values_list("step_id", "node_id"):
        succeeded.setdefault(step_id, set()).add(node_id)
    through = set(IncidentNode.objects.filter(incident=incident).values_list("node_id", flat=True))
    events = []
    for step in node_steps:
        if step.status == ResponseStep.SKIPPED:
            continue  # skipped for every node: all that were through still are
        missing = through - succeeded.get(step.id, set())
        if step.status == ResponseStep.SUCCEEDED and missing:
            # Its tries so far stay on the record; the reopened step gets fresh tries.
            ResponseStep.objects.filter(id=step.id, status=ResponseStep.SUCCEEDED).update(
                status=ResponseStep.PENDING, next_attempt_at=None, partly_done=False,
                attempts_before_human_retry=F("attempts"), finished_at=None)
            step.status, step.next_attempt_at, step.partly_done = ResponseStep.PENDING, None, False
            names = ", ".join(sorted(m.name for m in incident.members.all() if m.node_id in missing))
            events.append(eventlog.entry(
                incident, "step_reopened", note=f"{step.label}: again for {names}, "
                f"now through the steps before", data={"step": step.kind}))
            break  # the steps after it wait for it again
        through &= succeeded.get(step.id, set())
    return events


def lock_with_steps(incident_id: int) -> tuple[Incident, list[ResponseStep]]:
    """Lock the incident and read it with its steps, in position order, in one statement.

    Only the incident's row is locked (FOR UPDATE OF): the steps are read under
    its lock. Responders' actions change steps under the same lock; a try that
    fails and the sweep update a step without it, but only by conditional
    updates on a step that is running or overdue, never a done step, and the
    step that is queued next has no message in flight, so what `advance()`
    decides from these rows still holds.
    """
    steps = list(
        ResponseStep.objects.select_related("incident").select_for_update(of=("incident",))
        .filter(incident_id=incident_id).order_by("position")
    )
    incident = steps[0].incident
    for step in steps:
        step.incident = incident  # one instance for all, as incident.steps would give
    return incident, steps


def _claim(step_id: int, task_id: str) -> ResponseStep | None:
    try:
        # get(), not first(): first() would order by the incident's declared_at, a join for nothing.
        step = ResponseStep.objects.select_related("incident").get(id=step_id)
    except ResponseStep.DoesNotExist:
        return None
    if step.status != ResponseStep.PENDING:
        return None  # a duplicate delivery, or a step someone else has
    if step.kind == runbook.POSTMORTEM and step.incident.state != Incident.RESOLVED:
        return None
    now = timezone.now()
    if step.next_attempt_at is None or step.next_attempt_at > now:
        return None  # not due yet: an early retry message, or its turn has not come
    incident = step.incident
    # Every step acts on or names the incident's nodes: read them once, here,
    # where the lease needs their number; incident.members.all() reuses them.
    prefetch_related_objects([incident], "members")
    # Long enough for every node's commands to hit their timeout, so the sweep
    # never takes a step from a worker that is merely slow. The nodes run at the
    # same time, so that is one node's worst case per wave of the pool, not per node.
    per_node = (settings.QPGOV_NODE_FREEZE_TIMEOUT if step.kind == runbook.FREEZE
                else settings.QPGOV_NODE_COMMAND_TIMEOUT)
    waves = -(-len(incident.members.all()) // settings.QPGOV_NODE_PARALLELISM)
    lease = max(step.policy.lease, timedelta(
        seconds=(2 * per_node + settings.QPGOV_NODE_FREEZE_TIMEOUT) * max(waves, 1) + 60))
    # A partly done step lets the later ones go on for the nodes it is done on.
    unfinished_before = ResponseStep.objects.filter(
        incident_id=step.incident_id, position__lt=step.position, partly_done=False,
    ).exclude(status__in=ResponseStep.DONE)
    # One conditional update claims the step as it was read: still pending and
    # due, no step before it unfinished (a step starts only after every step
    # before it is done or partly done), and no try or human retry since the read.
    claimed = ResponseStep.objects.filter(
        ~Exists(unfinished_before), id=step_id, status=ResponseStep.PENDING, next_attempt_at__lte=now,
        attempts=step.attempts, attempts_before_human_retry=step.attempts_before_human_retry,
    ).update(
        status=ResponseStep.RUNNING, task_id=task_id, attempts=F("attempts") + 1,
        lease_expires_at=now + lease, started_at=now, finished_at=None,
    )
    if claimed != 1:
        return None  # not due yet, an earlier step unfinished, or someone else got there first
    step.status, step.task_id, step.attempts = ResponseStep.RUNNING, task_id, step.attempts + 1
    step.lease_expires_at, step.started_at, step.finished_at = now + lease, now, None
    events = []
    with transaction.atomic():
        if incident.state == Incident.DECLARED:
            # Lock the row and re-read its state only: the rest was just read,
            # and this transition changes nothing else.
            incident.refresh_from_db(fields=["state"],
                                     from_queryset=Incident.objects.select_for_update())
            if incident.state == Incident.DECLARED:
                incident.start_response()
                incident.save(update_fields=["state"])
                events.append(eventlog.entry(incident, "responding", from_state=Incident.DECLARED,
                                             to_state=incident.state, note="the first step started"))
        events.append(eventlog.entry(
            incident, "step_started", note=f"{step.label}, try {step.attempts}",
            data={"step": step.kind, "attempt": step.attempts, "task_id": task_id}))
        eventlog.append_many(events)
    return step


def _owned(step: ResponseStep, task_id: str):
    return ResponseStep.objects.filter(id=step.id, status=ResponseStep.RUNNING, task_id=task_id)


def _succeed(step: ResponseStep, task_id: str, note: str, events: list) -> None:
    """Record the step's success with the events its work produced, and queue the next step."""
    with transaction.atomic():
        # The incident before the step, the same order as the responders' actions.
        incident, steps = lock_with_steps(step.incident_id)
        if _owned(step, task_id).update(status=ResponseStep.SUCCEEDED, finished_at=timezone.now(),
                                        lease_expires_at=None, last_error="") != 1:
            # Our lease expired and another task owns the step now; what this
            # try did (a manifest, say) still goes on the record.
            eventlog.append_many(events)
            return
        for other in steps:
            if other.id == step.id:
                other.status = ResponseStep.SUCCEEDED  # as the update just wrote it
        events = [*events, eventlog.entry(incident, "step_succeeded", note=f"{step.label}: {note}",
                                          data={"step": step.kind, "attempt": step.attempts})]
        advance(incident, events, locked=True, steps=steps)


def _fail(step: ResponseStep, task_id: str, error_class: str, message: str,
          nodes_through: int = 0) -> None:
    """Record a failed try: a retry, or a human. If the step is done on some nodes
    (`nodes_through`), it is partly done and the next step is queued for them."""
    now = timezone.now()
    policy = step.policy
    tries = step.attempts - step.attempts_before_human_retry
    needs_human = False
    partly = {"partly_done": True} if nodes_through else {}
    with transaction.atomic():
        if nodes_through:
            # advance() below needs the incident, locked before the step as everywhere.
            incident, steps = lock_with_steps(step.incident_id)
        if policy.should_retry(error_class, tries):
            delay = policy.delay_after(tries)
            if _owned(step, task_id).update(
                status=ResponseStep.PENDING, next_attempt_at=now + delay, lease_expires_at=None,
                last_error=message, finished_at=now, **partly,
            ) != 1:
                return
            eventlog.append(step.incident, "step_retry_scheduled",
                            note=f"{step.label} failed ({error_class}: {message}); "
                                 f"try {step.attempts + 1} in {delay.total_seconds():g} s",
                            data={"step": step.kind, "error_class": error_class})
            send_on_commit(run_step, step.id, countdown=delay.total_seconds())
            new_status = ResponseStep.PENDING
        else:
            if _owned(step, task_id).update(
                status=ResponseStep.NEEDS_HUMAN, lease_expires_at=None, last_error=message,
                finished_at=now, **partly,
            ) != 1:
                return
            eventlog.append(step.incident, "step_needs_human",
                            note=f"{step.label} failed ({error_class}: {message}) after "
                                 f"{count(tries, 'try', 'tries')}; a responder must retry or skip it",
                            data={"step": step.kind, "error_class": error_class})
            needs_human = True
            new_status = ResponseStep.NEEDS_HUMAN
        if nodes_through:
            for other in steps:
                if other.id == step.id:  # as the update just wrote it
                    other.status, other.partly_done = new_status, True
            advance(incident, [eventlog.entry(
                incident, "step_partly_done",
                note=f"{step.label}: done on {count(nodes_through, 'node')}; the next steps go on "
                     "for them while the rest are retried or wait for a responder",
                data={"step": step.kind, "nodes_through": nodes_through})],
                locked=True, steps=steps)
    if needs_human:
        actions.email_responders(
            step.incident,
            f"[{step.incident.severity}] INC-{step.incident_id} needs attention: {step.label}",
            f"The step \"{step.label}\" failed and will not be retried automatically.\n\n"
            f"{error_class}: {message}\n\n"
            "Retry it or skip it (with a reason) on the incident page.",
        )


@shared_task(name="incidents.run_step", acks_late=True, bind=True)
def run_step(self, step_id: int) -> None:
    """Claim response step `step_id`, run it on every affected node, record and advance."""
    task_id = self.request.id or f"direct-{uuid.uuid4()}"
    step = _claim(step_id, task_id)
    if step is None:
        return
    try:
        note, events = actions.perform(step, task_id)
    except actions.StepFailed as exc:
        _fail(step, task_id, exc.error_class, str(exc), exc.nodes_through)
    except Exception as exc:  # a bug or an outage we did not foresee: never retried blindly
        log.exception("step %s crashed", step_id)
        _fail(step, task_id, type(exc).__name__, str(exc))
    else:
        _succeed(step, task_id, note, events)


@shared_task(name="incidents.sweep_steps")
def sweep_steps() -> dict:
    """Re-dispatch stranded steps, expire dead leases, remind the council, resend the responders'
    failed "needs attention" mail; runs every minute."""
    now = timezone.now()
    counts = {"expired": 0, "redispatched": 0, "reminded": 0, "unfreezes": 0, "responders_mailed": 0}
    for step in ResponseStep.objects.select_related("incident").filter(
        status=ResponseStep.RUNNING, lease_expires_at__lt=now
    ):
        with transaction.atomic():
            tries = step.attempts - step.attempts_before_human_retry
            out_of_tries = tries >= step.policy.attempts
            new_status = ResponseStep.NEEDS_HUMAN if out_of_tries else ResponseStep.PENDING
            if ResponseStep.objects.filter(
                id=step.id, status=ResponseStep.RUNNING, lease_expires_at__lt=now
            ).update(status=new_status, next_attempt_at=now, lease_expires_at=None, task_id="",
                     last_error="the worker running this step stopped answering") != 1:
                continue
            StepAttempt.objects.filter(step=step, status=ResponseStep.RUNNING).update(
                status=ResponseStep.FAILED, finished_at=now, error_class="LeaseExpired"
            )
            eventlog.append(step.incident, "step_lease_expired",
                            note=f"{step.label}: no result before the lease expired; "
                                 + ("a responder must retry or skip it" if out_of_tries
                                    else "dispatched again"),
                            data={"step": step.kind})
            if out_of_tries:
                # Queued with the change; sent by resend_due_responder_mail below, after commit.
                actions.queue_responder_mail(
                    step.incident,
                    f"[{step.incident.severity}] INC-{step.incident_id} needs attention: {step.label}",
                    f"The step \"{step.label}\" got no result before its lease expired (the worker "
                    "running it stopped answering) and has no tries left.\n\n"
                    "Retry it or skip it (with a reason) on the incident page.",
                )
            else:
                send_on_commit(run_step, step.id)
            counts["expired"] += 1
    overdue = ResponseStep.objects.filter(
        status=ResponseStep.PENDING, next_attempt_at__lte=now - SWEEP_GRACE
    )
    for step_id in overdue.values_list("id", flat=True):
        send_now(run_step, step_id)
        counts["redispatched"] += 1
    counts["reminded"] = _remind_council(now)
    for node_id, incident_id in IncidentNode.objects.filter(
        node__frozen=True, unfreeze_requested_at__lte=now - SWEEP_GRACE
    ).values_list("node_id", "incident_id"):
        send_now(unfreeze_node, node_id, incident_id)
        counts["unfreezes"] += 1
    counts["responders_mailed"] = actions.resend_due_responder_mail()  # now: takes in rows queued above
    return counts


def _remind_council(now) -> int:
    reminded = 0
    waiting = Incident.objects.filter(
        steps__kind=runbook.NOTIFY_GOVERNANCE, steps__status=ResponseStep.SUCCEEDED,
        acknowledgements__isnull=True,
    ).distinct()
    for incident in waiting:
        # Two beats may sweep at once (docs/operations.md): under the incident's
        # lock one decides and sends, the other skips the incident or, after the
        # lock, sees the reminder sent. The lock is held while the e-mails go out.
        with transaction.atomic():
            if not Incident.objects.select_for_update(skip_locked=True).filter(pk=incident.pk).exists():
                continue  # the other sweep has it this minute
            interval = incident.runbook.reminder_interval[incident.severity]
            last = incident.deliveries.filter(
                purpose__in=[NotificationDelivery.NOTICE, NotificationDelivery.REMINDER]
            ).order_by("-attempted_at").first()
            if last is None or last.attempted_at <= now - interval:
                actions.remind_council(incident)
                reminded += 1
    return reminded


@shared_task(name="incidents.unfreeze_node", acks_late=True)
def unfreeze_node(node_id: int, incident_id: int | None = None) -> None:
    """Start a frozen node again, as incident `incident_id`'s commander confirmed on resolving.

    The node's row stays locked from the checks to the final update, so an
    incident declared on the node meanwhile waits, then freezes it again. The
    node is started only if no other unresolved incident holds it; the final
    update happens only if the same request still stands; every event goes on
    the incident that asked. (A message without `incident_id` predates these rules.)
    """
    with transaction.atomic():
        if Node.objects.select_for_update().filter(id=node_id, frozen=True).first() is None:
            return
        asked = IncidentNode.objects.select_related("incident").filter(
            node_id=node_id, unfreeze_requested_at__isnull=False)
        if incident_id is not None:
            asked = asked.filter(incident_id=incident_id)
        member = asked.order_by("unfreeze_requested_at").first()
        if member is None:
            return  # nobody asked, it was withdrawn, or another task did it
        incident = member.incident
        same_request = IncidentNode.objects.filter(
            id=member.id, unfreeze_requested_at=member.unfreeze_requested_at)
        holders = list(Incident.objects.filter(nodes=node_id, state__in=Incident.UNRESOLVED)
                       .exclude(pk=incident.pk).order_by("pk"))
        if holders:
            same_request.update(unfreeze_requested_at=None)
            held_by = ", ".join(f"INC-{i.pk}" for i in holders)
            eventlog.append(incident, "unfreeze_refused",
                            note=f"{member.name}: not started, {held_by} still holds it",
                            data={"node": member.name, "held_by": [i.pk for i in holders]})
            return
        try:
            result = get_driver().unfreeze(member)  # the values copied at declaration
        except NodeActionError as exc:
            # Never retried on its own: a validator that will not start is a human's problem.
            same_request.update(unfreeze_requested_at=None)
            eventlog.append(incident, "unfreeze_failed", note=f"{member.name}: {exc}",
                            data={"node": member.name, "error_class": exc.error_class})
            return
        if same_request.update(unfreeze_requested_at=None) != 1:
            log.warning("unfreeze of %s for INC-%s: the request changed meanwhile", member.name,
                        incident.pk)
            return
        Node.objects.filter(id=node_id, frozen=True).update(frozen=False, frozen_at=None)
        eventlog.append(incident, "node_unfrozen", note=f"{member.name} started again",
                        data={"node": member.name, "exit_code": result.exit_code})
