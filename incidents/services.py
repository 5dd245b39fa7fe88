"""What people do to an incident: declare, retry, skip, resolve, acknowledge.

Each function checks the role (qpgov.roles), then the object's state (raising
Conflict, a 409, when the action does not fit it), changes rows and appends the
timeline event in one transaction, and queues work only after it commits.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from fleet.models import AlertGroup, Node
from qpgov import eventlog, roles
from qpgov.dispatch import send_on_commit
from qpgov.http import Conflict

from . import runbook
from .models import Acknowledgement, Incident, IncidentNode, ResponseStep
from .tasks import advance, unfreeze_node


def declare(*, title: str, severity: str, nodes, declared_by, commander=None, summary: str = "",
            detected_at=None, alert_groups=(), drill: bool = False) -> Incident:
    """Save the incident, all its steps and the first timeline event; queue step one on commit.

    `alert_groups` are the Alertmanager groups it is declared from: they are attached
    (their later alerts go on its timeline) and no longer wait for confirmation.
    """
    roles.require(declared_by, "declare_incident")
    commander = commander or declared_by
    if not roles.can(commander, "run_response"):
        raise ValidationError(f"{commander} is not an Incident Responder and cannot command.")
    nodes = list(nodes)
    if not nodes:
        raise ValidationError("Name at least one affected node.")
    book = runbook.get()
    alert_groups = list(alert_groups)
    with transaction.atomic():
        if alert_groups:
            _claim_alert_groups(alert_groups)
        # Lock the nodes (in id order) and read them afresh: the response is driven
        # from the copy taken here, and an unfreeze under way finishes first.
        wanted = {n.id for n in nodes}
        nodes = list(Node.objects.select_for_update().filter(id__in=wanted).order_by("id"))
        if len(nodes) != len(wanted):
            raise ValidationError("A node was removed from the registry meanwhile; declare again.")
        incident = Incident(
            title=title, severity=severity, summary=summary, declared_by=declared_by,
            commander=commander, detected_at=detected_at or timezone.now(),
            runbook_version=book.version, drill=drill,
        )
        incident.full_clean(exclude=["nodes", "state"])
        incident.save()
        IncidentNode.objects.bulk_create(IncidentNode.copy_of(incident, node) for node in nodes)
        # A node this incident holds is not started again on an earlier incident's word.
        withdrawn = list(IncidentNode.objects.select_related("incident").filter(
            node__in=nodes, unfreeze_requested_at__isnull=False))
        IncidentNode.objects.filter(id__in=[m.id for m in withdrawn]).update(unfreeze_requested_at=None)
        if alert_groups:
            incident.alert_groups.set(alert_groups)
            AlertGroup.objects.filter(id__in=[g.id for g in alert_groups]).update(
                awaiting_confirmation=False)
        steps = ResponseStep.objects.bulk_create(
            ResponseStep(incident=incident, kind=kind, position=i)
            for i, kind in enumerate(book.steps, start=1)
        )
        # When it happened and when we heard of it are different moments: the
        # detection event carries the former as occurred_at.
        detected = eventlog.entry(incident, "detected", actor=declared_by,
                                  occurred_at=incident.detected_at, note=f"{severity}: {title}")
        declared = eventlog.entry(
            incident, "declared", actor=declared_by, to_state=incident.state,
            note=f"{severity}: {title}; nodes {', '.join(n.name for n in nodes)}; "
                 f"commander {commander}; runbook {book.version}; "
                 f"detected {incident.detected_at:%Y-%m-%d %H:%M} UTC",
            data={"nodes": [n.name for n in nodes], "runbook_version": book.version,
                  "detected_at": incident.detected_at.isoformat(), "drill": drill,
                  **({"alert_groups": [g.id for g in alert_groups]} if alert_groups else {})},
        )
        # The steps as just created need not be read back, if the database
        # returned their ids (PostgreSQL, SQLite 3.35+).
        withdrawals = [eventlog.entry(
            member.incident, "unfreeze_withdrawn", actor=declared_by,
            note=f"{member.name}: not started, INC-{incident.pk} holds it now",
            data={"node": member.name, "held_by": incident.pk}) for member in withdrawn]
        advance(incident, [detected, declared, *withdrawals], locked=True,
                steps=steps if all(s.pk for s in steps) else None)
    return incident


def _claim_alert_groups(groups) -> None:
    """Lock the alert groups an incident is declared from; refuse one an open incident holds.

    Two declares from one group (a double submit, or a person and the worker's
    automatic declare) queue on these locks: the second finds the first's
    incident and is refused, so a group opens one incident at a time. The worker
    (fleet.alerts.ingest) locks the group before the nodes too, the same order.
    """
    locked = list(AlertGroup.objects.select_for_update().filter(id__in={g.id for g in groups})
                  .order_by("id"))
    if len(locked) != len({g.id for g in groups}):
        raise ValidationError("An alert group was removed meanwhile; declare again.")
    incident = (Incident.objects.filter(alert_groups__in=locked, state__in=Incident.OPEN_STATES)
                .order_by("pk").first())
    if incident is not None:
        raise Conflict(
            f"These alerts are already handled by INC-{incident.pk} ({incident.get_state_display()}): "
            "its timeline takes their further alerts, so no second incident was declared.",
            links=[(f"Go to INC-{incident.pk}", incident.get_absolute_url())])


def _step_for_update(incident: Incident, step_id: int) -> ResponseStep:
    # Lock the incident before the step, the same order as resolve() and the
    # step tasks, so two people acting at once queue up instead of deadlocking.
    Incident.objects.select_for_update().get(pk=incident.pk)
    try:
        return ResponseStep.objects.select_for_update().get(id=step_id, incident=incident)
    except ResponseStep.DoesNotExist:
        raise Conflict("That step does not belong to this incident.") from None


def retry_step(incident: Incident, step_id: int, user) -> ResponseStep:
    """Give a step that needs a human a fresh set of tries, starting now."""
    roles.require(user, "run_response")
    with transaction.atomic():
        step = _step_for_update(incident, step_id)
        if step.status != ResponseStep.NEEDS_HUMAN:
            raise Conflict(f"\"{step.label}\" is {step.get_status_display()}; only a step "
                           "that needs a human can be retried.")
        if ResponseStep.objects.filter(id=step.id, status=ResponseStep.NEEDS_HUMAN).update(
            status=ResponseStep.PENDING, next_attempt_at=None, task_id="",
            attempts_before_human_retry=step.attempts,
        ) != 1:
            raise Conflict(f"\"{step.label}\" changed meanwhile; reload the page.")
        advance(incident, [eventlog.entry(incident, "step_retried", actor=user,
                                          note=f"{step.label}: retry requested",
                                          data={"step": step.kind})])
    step.refresh_from_db()
    return step


def skip_step(incident: Incident, step_id: int, user, reason: str) -> ResponseStep:
    """Skip a step that is not running and not done, with a written reason for the record."""
    roles.require(user, "run_response")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to skip a step.")
    with transaction.atomic():
        step = _step_for_update(incident, step_id)
        if step.status not in (ResponseStep.PENDING, ResponseStep.NEEDS_HUMAN):
            raise Conflict(f"\"{step.label}\" is {step.get_status_display()}; only a pending "
                           "step or one that needs a human can be skipped.")
        # Conditional on the status we checked: a worker that claimed the step
        # in the meantime wins, and the skip is refused rather than half-done.
        if ResponseStep.objects.filter(id=step.id, status=step.status).update(
            status=ResponseStep.SKIPPED, skip_reason=reason, finished_at=timezone.now(),
            lease_expires_at=None,
        ) != 1:
            raise Conflict(f"\"{step.label}\" changed meanwhile; reload the page.")
        advance(incident, [eventlog.entry(incident, "step_skipped", actor=user,
                                          note=f"{step.label}: {reason}", data={"step": step.kind})])
    step.refresh_from_db()
    return step


def resolve(incident: Incident, user, *, resolution: str, unfreeze=()) -> Incident:
    """The commander closes the response; confirmed nodes are started again by a task."""
    roles.require(user, "run_response")
    if user.pk != incident.commander_id:
        raise PermissionDenied("Only the incident commander may resolve it.")
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != Incident.CONTAINED:
            raise Conflict(f"The incident is {incident.stage}; it can be resolved "
                           "only once it is contained.",
                           links=[("See the response steps",
                                   incident.get_absolute_url() + "#incident-steps")])
        unfreeze = [n for n in unfreeze if n in set(incident.nodes.all())]
        if holders := _other_holders(incident, unfreeze):
            raise Conflict("Not resolved: " + "; ".join(
                f"{node.name} is held by {', '.join(f'INC-{i.pk} ({i.get_state_display()})' for i in held)}"
                for node, held in holders.items()) + ". Untick it; the last incident to resolve "
                "may start it.")
        incident.resolution = resolution
        incident.resolve()
        incident.save()
        events = [eventlog.entry(incident, "resolved", actor=user, from_state=Incident.CONTAINED,
                                 to_state=incident.state, note=resolution,
                                 data={"unfreeze": [n.name for n in unfreeze]})]
        for node in unfreeze:
            if IncidentNode.objects.filter(incident=incident, node=node, node__frozen=True).update(
                unfreeze_requested_at=timezone.now()
            ):
                events.append(eventlog.entry(
                    incident, "unfreeze_confirmed", actor=user,
                    note=f"{node.name}: commander confirmed it may run again",
                    data={"node": node.name}))
                send_on_commit(unfreeze_node, node.id, incident.pk)
        # The chain head is locked last, after the incident, its steps and nodes.
        advance(incident, events, locked=True)
    return incident


def _other_holders(incident: Incident, nodes) -> dict:
    """{node: [other unresolved incidents that hold it]} for the nodes some other incident holds."""
    holders: dict = {}
    for node in nodes:
        held = list(Incident.objects.filter(nodes=node, state__in=Incident.UNRESOLVED)
                    .exclude(pk=incident.pk).order_by("pk"))
        if held:
            holders[node] = held
    return holders


def acknowledge(incident: Incident, user) -> Acknowledgement:
    """A council member confirms they have seen the incident; doing it twice is a conflict."""
    roles.require(user, "acknowledge_incident")
    try:
        with transaction.atomic():
            ack = Acknowledgement.objects.create(incident=incident, user=user)
            eventlog.append(incident, "acknowledged", actor=user,
                            note=f"{user.get_full_name() or user.username} acknowledged")
    except IntegrityError:
        raise Conflict("You have already acknowledged this incident.") from None
    return ack
