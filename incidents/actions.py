"""What each response step does. Called by incidents.tasks.run_step once it owns the step.

Node steps act on every affected node that has not already succeeded in an
earlier try, record one StepAttempt per node, and raise StepFailed naming the
first error class if any node failed (so the runbook can decide about a retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from fleet.drivers import NodeActionError, get_driver
from qpgov import eventlog, roles
from qpgov.models import Event

from . import runbook
from .models import (
    Evidence,
    Incident,
    Node,
    NotificationDelivery,
    Postmortem,
    ResponseStep,
    StepAttempt,
)

log = logging.getLogger(__name__)


class StepFailed(Exception):
    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


def evidence_storage():
    return storages["evidence"]


def perform(step: ResponseStep, task_id: str) -> tuple[str, list[dict]]:
    """Run `step` once; return a one-line note for the timeline and the events to record
    with its success (see eventlog.entry), or raise StepFailed."""
    handler = {
        runbook.FREEZE: freeze,
        runbook.PRESERVE_LOGS: preserve_logs,
        runbook.SNAPSHOT: snapshot,
        runbook.NOTIFY_GOVERNANCE: notify_governance,
        runbook.POSTMORTEM: draft_postmortem,
    }[step.kind]
    return handler(step, task_id)


def _on_each_node(step: ResponseStep, task_id: str, run, record) -> str:
    """Act on each node not yet done: `run(node)` does the work, outside any transaction,
    and returns (CommandResult, payload); `record(node, payload)` writes its rows and
    returns its events, in one transaction with the node's try."""
    done = set()
    if step.attempts > 1:  # only a later try can find nodes an earlier one finished
        done = set(
            step.tries.filter(status=ResponseStep.SUCCEEDED, node__isnull=False)
            .values_list("node_id", flat=True)
        )
    failures: list[tuple[str, str]] = []
    acted = 0
    # The claim read the nodes (incidents.tasks._claim); sort them here rather than ask again.
    # Each is the copy taken at declaration (IncidentNode): a registry edit since cannot move it.
    for node in sorted(step.incident.members.all(), key=lambda member: member.name):
        if node.node_id in done:
            continue
        acted += 1
        attempt = StepAttempt.objects.create(
            step=step, node_id=node.node_id, attempt=step.attempts, status=ResponseStep.RUNNING,
            task_id=task_id,
        )
        try:
            result, payload = run(node)
        except NodeActionError as exc:
            _finish(attempt, ResponseStep.FAILED, exc.result, exc.error_class, str(exc))
            failures.append((exc.error_class, str(exc)))
        except Exception as exc:  # storage full, a bug: not transient, a human looks
            log.exception("step %s on %s failed", step, node)
            _finish(attempt, ResponseStep.FAILED, None, type(exc).__name__, f"{node.name}: {exc}")
            failures.append((type(exc).__name__, f"{node.name}: {type(exc).__name__}: {exc}"))
        else:
            with transaction.atomic():
                _finish(attempt, ResponseStep.SUCCEEDED, result)
                eventlog.append_many(record(node, payload))
    if failures:
        raise StepFailed(failures[0][0], "; ".join(message for _, message in failures))
    return f"{acted} node(s) done" + (f", {len(done)} already done earlier" if done else "")


def _finish(attempt: StepAttempt, status, result, error_class="", message=""):
    attempt.status = status
    attempt.finished_at = timezone.now()
    attempt.error_class = error_class
    if result is not None:
        attempt.exit_code = result.exit_code
        attempt.output_excerpt = result.excerpt
        attempt.output_sha256 = result.sha256
    if message and message not in attempt.output_excerpt:
        attempt.output_excerpt = (attempt.output_excerpt + "\n" + message).strip()
    if not attempt.output_sha256 and attempt.output_excerpt:
        attempt.output_sha256 = hashlib.sha256(attempt.output_excerpt.encode()).hexdigest()
    attempt.save(update_fields=["status", "finished_at", "error_class", "exit_code",
                                "output_excerpt", "output_sha256"])


def freeze(step, task_id):
    driver = get_driver()

    def record(node, _):
        Node.objects.filter(id=node.node_id).update(frozen=True, frozen_at=timezone.now())
        return [eventlog.entry(step.incident, "node_frozen",
                               note=f"{node.name} stopped and confirmed inactive",
                               data={"node": node.name})]

    return _on_each_node(step, task_id, lambda node: (driver.freeze(node), None), record), []


def preserve_logs(step, task_id):
    driver = get_driver()
    since = step.incident.detected_at - step.incident.runbook.log_margin

    def run(node):
        stream = driver.collect_logs(node, since)
        return stream.result, _save_evidence_file(step.incident, node, Evidence.LOGS, stream, "export")

    note = _on_each_node(step, task_id, run, _evidence_recorder(step.incident, Evidence.LOGS))
    return note, [manifest_entry(step.incident)]


def snapshot(step, task_id):
    driver = get_driver()

    def run(node):
        stream = driver.snapshot(node)
        return stream.result, _save_evidence_file(step.incident, node, Evidence.SNAPSHOT, stream, "tar")

    note = _on_each_node(step, task_id, run, _evidence_recorder(step.incident, Evidence.SNAPSHOT))
    return note, [manifest_entry(step.incident)]


def _save_evidence_file(incident, node, kind, stream, extension) -> tuple[str, int, str]:
    """Stream a node's output into evidence storage; return (stored name, size, SHA-256)."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    wanted = f"incident-{incident.pk}/{node.name}-{kind}-{stamp}.{extension}"
    with stream.file:
        name = evidence_storage().save(wanted, File(stream.file, name=wanted))
    return name, stream.size, stream.sha256


def _evidence_recorder(incident, kind):
    def record(node, stored):
        name, size, sha256 = stored
        evidence = Evidence.objects.create(
            incident=incident, node_id=node.node_id, kind=kind, storage_name=name, size=size, sha256=sha256,
        )
        return [eventlog.entry(incident, "evidence_collected", note=f"{kind} of {node.name}: {name}",
                               revision_hash=sha256, data={"evidence": evidence.pk, "size": size})]

    return record


def manifest_bytes(incident: Incident) -> bytes:
    files = [
        {"name": e.storage_name, "node": e.node.name, "kind": e.kind, "size": e.size,
         "sha256": e.sha256, "collected_at": e.collected_at.isoformat()}
        for e in incident.evidence.select_related("node").order_by("id")
    ]
    payload = {"incident": incident.pk, "runbook_version": incident.runbook_version,
               "files": files}
    return json.dumps(payload, indent=2, sort_keys=True).encode()


def manifest_entry(incident: Incident) -> dict:
    """Store a new manifest of every evidence file; return the event that puts its hash on the timeline.

    Manifests are never overwritten: each one gets a new name, and the latest
    "manifest" event says which file and which hash verify_evidence trusts.
    """
    body = manifest_bytes(incident)
    digest = hashlib.sha256(body).hexdigest()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    name = evidence_storage().save(
        f"incident-{incident.pk}/manifest-{stamp}.json", ContentFile(body)
    )
    return eventlog.entry(incident, "manifest", note=f"evidence manifest {name}",
                          revision_hash=digest, data={"name": name})


def latest_manifest_event(incident: Incident) -> Event | None:
    return Event.objects.for_subject(incident).filter(kind="manifest").last()


# Notifications.

def _incident_link(incident, name="incidents:detail") -> str:
    return settings.SITE_ROOT.rstrip("/") + reverse(name, args=[incident.pk])


def council_members():
    return User.objects.filter(groups__name=roles.COUNCIL, is_active=True).exclude(email="")


def _email(incident, purpose, recipients, subject, body) -> list[NotificationDelivery]:
    deliveries = []
    for address in recipients:
        delivery = NotificationDelivery(incident=incident, channel=NotificationDelivery.EMAIL,
                                        purpose=purpose, recipient=address)
        try:
            sent = send_mail(subject, body, None, [address])
            delivery.ok = sent == 1
            delivery.response_excerpt = "accepted by the mail server" if sent else "not sent"
        except Exception as exc:  # SMTP down, refused address
            delivery.response_excerpt = f"{type(exc).__name__}: {exc}"[:1000]
        delivery.save()
        deliveries.append(delivery)
    return deliveries


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook(incident, payload: dict) -> NotificationDelivery:
    url = settings.QPGOV_INCIDENT_WEBHOOK_URL
    body = json.dumps(payload, sort_keys=True).encode()
    signature = sign(body, settings.QPGOV_INCIDENT_WEBHOOK_SECRET)
    delivery = NotificationDelivery(incident=incident, channel=NotificationDelivery.WEBHOOK,
                                    recipient=url, signature=signature)
    request = urllib.request.Request(  # noqa: S310 - the URL is an operator's setting
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Qpgov-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            delivery.response_status = response.status
            delivery.response_excerpt = response.read(2000).decode("utf-8", "replace")
            delivery.ok = 200 <= response.status < 300
    except urllib.error.HTTPError as exc:
        delivery.response_status = exc.code
        delivery.response_excerpt = exc.read(2000).decode("utf-8", "replace")
    except Exception as exc:  # connection refused, DNS, timeout
        delivery.response_excerpt = f"{type(exc).__name__}: {exc}"[:1000]
    delivery.save()
    return delivery


def notify_governance(step, task_id):
    incident = step.incident
    record = StepAttempt.objects.create(step=step, attempt=step.attempts,
                                        status=ResponseStep.RUNNING, task_id=task_id)
    # A retry only repeats the deliveries that have not succeeded yet (a first
    # try has none: only this step sends notices).
    delivered = set()
    if step.attempts > 1:
        delivered = set(incident.deliveries.filter(purpose=NotificationDelivery.NOTICE, ok=True)
                        .values_list("channel", "recipient"))
    council = list(council_members())
    members = [m.email for m in council if (NotificationDelivery.EMAIL, m.email) not in delivered]
    if not council:
        _finish(record, ResponseStep.FAILED, None, "NoCouncil",
                "No Governance Council member has an email address.")
        raise StepFailed("NoCouncil", "No Governance Council member has an email address.")
    subject = f"[{incident.severity}] Incident INC-{incident.pk}: {incident.title}"
    # Both people in one query; often they are the same person.
    people = User.objects.in_bulk({incident.declared_by_id, incident.commander_id})
    body = (
        f"{incident.severity} incident declared by {people[incident.declared_by_id]} at "
        f"{incident.declared_at:%Y-%m-%d %H:%M} UTC.\n\n{incident.summary}\n\n"
        f"Affected nodes: {', '.join(n.name for n in incident.nodes.all())}\n"
        f"Commander: {people[incident.commander_id]}\n\n"
        f"Please acknowledge: {_incident_link(incident, 'incidents:acknowledge')}\n"
    )
    deliveries = _email(incident, NotificationDelivery.NOTICE, members, subject, body)
    url = settings.QPGOV_INCIDENT_WEBHOOK_URL
    if url and (NotificationDelivery.WEBHOOK, url) not in delivered:
        deliveries.append(_webhook(incident, {
            "incident": incident.pk, "title": incident.title, "severity": incident.severity,
            "state": incident.state, "url": _incident_link(incident),
            "nodes": [n.name for n in incident.nodes.all()],
        }))
    failed = [d for d in deliveries if not d.ok]
    summary = "\n".join(f"{d.channel} {d.recipient}: {'ok' if d.ok else 'FAILED'} "
                        f"{d.response_status or ''} {d.response_excerpt[:200]}" for d in deliveries)
    if failed:
        _finish(record, ResponseStep.FAILED, None, runbook.DELIVERY_FAILED, summary)
        raise StepFailed(runbook.DELIVERY_FAILED, f"{len(failed)} delivery(ies) failed")
    _finish(record, ResponseStep.SUCCEEDED, None, "", summary or "nothing left to deliver")
    return f"{len(deliveries)} delivery(ies)", [eventlog.entry(
        incident, "governance_notified",
        note=f"{len(deliveries)} delivery(ies) to the Governance Council")]


def email_responders(incident: Incident, subject: str, body: str):
    responders = User.objects.filter(groups__name=roles.RESPONDERS, is_active=True)
    addresses = sorted({u.email for u in responders if u.email} | (
        {incident.commander.email} if incident.commander.email else set()))
    return _email(incident, NotificationDelivery.RESPONDERS, addresses, subject,
                  body + f"\n\n{_incident_link(incident)}\n")


def remind_council(incident: Incident):
    subject = f"[{incident.severity}] Reminder: please acknowledge INC-{incident.pk}"
    body = (f"Nobody on the Governance Council has acknowledged incident INC-{incident.pk} "
            f"({incident.title}) yet.\n\nAcknowledge: "
            f"{_incident_link(incident, 'incidents:acknowledge')}\n")
    deliveries = _email(incident, NotificationDelivery.REMINDER,
                        [m.email for m in council_members()], subject, body)
    eventlog.append(incident, "council_reminded", note=f"{len(deliveries)} reminder(s) sent")


# The post-mortem draft.

POSTMORTEM_TEMPLATE = """# Post-mortem: {title}

*Draft for INC-{pk} ({severity}), assigned to {commander}. Runbook {runbook}.*

## Summary

{summary}

## Impact

_Who and what was affected, for how long. Nodes: {nodes}._

## Detection

Detected at {detected} UTC; declared by {declared_by} at {declared} UTC.

## Root cause

_What was wrong._

## Trigger

_What set it off._

## Resolution

Resolved at {resolved} UTC. {resolution}

## Timeline

{timeline}

## Action items

| Action | Owner | Due date |
| --- | --- | --- |
| _…_ | _…_ | _YYYY-MM-DD_ |

## Lessons learned

_What went well, what went badly, where we got lucky._
"""


def postmortem_body(incident: Incident) -> str:
    timeline = "\n".join(
        f"- {e.occurred_at:%Y-%m-%d %H:%M:%S} — {e.actor_name}: {e.kind.replace('_', ' ')}"
        + (f" — {e.note}" if e.note else "")
        for e in Event.objects.for_subject(incident)
    )
    return POSTMORTEM_TEMPLATE.format(
        title=incident.title, pk=incident.pk, severity=incident.severity,
        commander=incident.commander, runbook=incident.runbook_version,
        summary=incident.summary or "_One paragraph._",
        nodes=", ".join(n.name for n in incident.nodes.all()),
        detected=f"{incident.detected_at:%Y-%m-%d %H:%M}",
        declared=f"{incident.declared_at:%Y-%m-%d %H:%M}", declared_by=incident.declared_by,
        resolved=f"{incident.resolved_at:%Y-%m-%d %H:%M}" if incident.resolved_at else "?",
        resolution=incident.resolution, timeline=timeline,
    )


def draft_postmortem(step, task_id):
    record = StepAttempt.objects.create(step=step, attempt=step.attempts,
                                        status=ResponseStep.RUNNING, task_id=task_id)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=step.incident_id)
        draft, created = Postmortem.objects.get_or_create(
            incident=incident,
            defaults={"assignee": incident.commander, "title": incident.title,
                      "body": postmortem_body(incident)},
        )
        if incident.state == Incident.RESOLVED:
            incident.draft_postmortem()
            incident.save()
            eventlog.append(incident, "postmortem_drafted", from_state=Incident.RESOLVED,
                            to_state=incident.state, note=f"assigned to {draft.assignee}")
    _finish(record, ResponseStep.SUCCEEDED, None, "", "draft created" if created else "draft kept")
    return f"draft assigned to {draft.assignee}", []
