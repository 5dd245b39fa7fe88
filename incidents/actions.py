"""What each response step does. Called by incidents.tasks.run_step once it owns the step.

Node steps act on every affected node that has not already succeeded in an
earlier try, record one StepAttempt per node, and raise StepFailed naming the
first error class if any node failed (so the runbook can decide about a retry).
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from fleet.drivers import NodeActionError, get_driver
from qpgov import eventlog, mail, roles, webhooks
from qpgov.models import Event
from qpgov.wording import count

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
    """A try failed. `nodes_through` counts the nodes this step is done on all the same:
    with any, the later steps go on for them (tasks._fail)."""

    def __init__(self, error_class: str, message: str, nodes_through: int = 0):
        super().__init__(message)
        self.error_class = error_class
        self.nodes_through = nodes_through


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


NODE_STEPS = (runbook.FREEZE, runbook.PRESERVE_LOGS, runbook.SNAPSHOT)


def nodes_to_act_on(step: ResponseStep) -> tuple[list, set[int]]:
    """The incident's nodes this try acts on, and the ids of those done in an earlier try.

    A node is left out if this step already succeeded on it, or if it is held by
    an earlier node step that is only partly done (it did not freeze, say): the
    engine comes back for it once it is through (tasks.advance).
    """
    succeeded: dict[int, set[int]] = {}
    for step_id, node_id in (
        StepAttempt.objects.filter(
            step__incident_id=step.incident_id, step__position__lte=step.position,
            step__kind__in=NODE_STEPS, status=ResponseStep.SUCCEEDED, node__isnull=False,
        ).exclude(step__status__in=ResponseStep.DONE).values_list("step_id", "node_id")
    ):
        succeeded.setdefault(step_id, set()).add(node_id)
    done = succeeded.pop(step.id, set())
    # What is left are earlier steps, not done, that let this one start: each is
    # partly done, so it has at least one node through (and so one row here).
    members = sorted(step.incident.members.all(), key=lambda member: member.name)
    through = [m for m in members if all(m.node_id in ids for ids in succeeded.values())]
    return [m for m in through if m.node_id not in done], done


def _on_each_node(step: ResponseStep, task_id: str, run, record) -> str:
    """Act on every node not yet done at the same time: `run(node)` does the work in a
    thread of a bounded pool, outside any transaction, and returns (CommandResult,
    payload); as each node finishes, `record(node, payload)` writes its rows and
    returns its events, in one transaction with the node's try (and with the
    tries of any nodes that finished at the same moment).

    Only this thread touches the database (the pool's threads run commands and
    write evidence files), so each node's try is on the record the moment it
    finishes, and a worker killed mid-step loses only the nodes still running.
    """
    # The claim read the nodes (incidents.tasks._claim). Each is the copy taken at
    # declaration (IncidentNode): a registry edit since cannot move it.
    nodes, done = nodes_to_act_on(step)
    held = len(step.incident.members.all()) - len(nodes) - len(done)
    attempts = StepAttempt.objects.bulk_create([
        StepAttempt(step=step, node_id=node.node_id, attempt=step.attempts,
                    status=ResponseStep.RUNNING, task_id=task_id)
        for node in nodes
    ])
    failures: list[tuple[str, str]] = []
    succeeded = 0

    def timed(node):
        started = timezone.now()
        try:
            return started, run(node), None, timezone.now()
        except Exception as exc:  # recorded by this thread's caller, below
            return started, None, exc, timezone.now()

    if nodes:
        workers = min(len(nodes), settings.QPGOV_NODE_PARALLELISM)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"step-{step.id}") as pool:
            futures = {pool.submit(timed, node): (node, attempt)
                       for node, attempt in zip(nodes, attempts, strict=True)}
            pending = set(futures)
            while pending:
                # The nodes that finished together go on the record together: one
                # transaction and one append to the event log, however many they are.
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                events = []
                with transaction.atomic():
                    for future in sorted(finished, key=lambda f: futures[f][0].name):
                        node, attempt = futures[future]
                        attempt.started_at, outcome, exc, finished_at = future.result()
                        if isinstance(exc, NodeActionError):
                            _finish(attempt, ResponseStep.FAILED, exc.result, exc.error_class,
                                    str(exc), finished_at=finished_at)
                            failures.append((exc.error_class, str(exc)))
                        elif exc is not None:  # storage full, a bug: not transient, a human looks
                            log.error("step %s on %s failed", step, node, exc_info=exc)
                            _finish(attempt, ResponseStep.FAILED, None, type(exc).__name__,
                                    f"{node.name}: {exc}", finished_at=finished_at)
                            failures.append((type(exc).__name__,
                                             f"{node.name}: {type(exc).__name__}: {exc}"))
                        else:
                            result, payload = outcome
                            _finish(attempt, ResponseStep.SUCCEEDED, result, finished_at=finished_at)
                            events += record(node, payload)
                            succeeded += 1
                    eventlog.append_many(events)
    note = f"{count(succeeded, 'node')} done" + (f", {len(done)} already done earlier" if done else "")
    if held:
        note += f", {held} held by an earlier step"
    if failures:
        failures.sort(key=lambda failure: failure[1])  # by node name, whatever finished first
        raise StepFailed(failures[0][0], "; ".join(message for _, message in failures),
                         nodes_through=succeeded + len(done))
    return note


def _finish(attempt: StepAttempt, status, result, error_class="", message="", finished_at=None):
    attempt.status = status
    attempt.finished_at = finished_at or timezone.now()
    attempt.error_class = error_class
    if result is not None:
        attempt.exit_code = result.exit_code
        attempt.output_excerpt = result.excerpt
        attempt.output_sha256 = result.sha256
    if message and message not in attempt.output_excerpt:
        attempt.output_excerpt = (attempt.output_excerpt + "\n" + message).strip()
    if not attempt.output_sha256 and attempt.output_excerpt:
        attempt.output_sha256 = hashlib.sha256(attempt.output_excerpt.encode()).hexdigest()
    attempt.save(update_fields=["status", "started_at", "finished_at", "error_class", "exit_code",
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
    return roles.holders(roles.COUNCIL).exclude(email="")


def _email(incident, purpose, recipients, subject, body) -> list[NotificationDelivery]:
    deliveries = []
    for address in recipients:
        delivery = NotificationDelivery(incident=incident, channel=NotificationDelivery.EMAIL,
                                        purpose=purpose, recipient=address)
        delivery.ok, delivery.response_excerpt = mail.send_one(subject, body, address)
        delivery.save()
        deliveries.append(delivery)
    return deliveries


def _webhook(incident, payload: dict, message_id: str = "") -> NotificationDelivery:
    """Post `payload` to the configured webhook (qpgov.webhooks: signed, no redirects).

    A retry of the same message sends the same `message_id`, so a receiver can
    drop a duplicate.
    """
    url = settings.QPGOV_INCIDENT_WEBHOOK_URL
    body = json.dumps(payload, sort_keys=True).encode()
    result = webhooks.post(url, settings.QPGOV_INCIDENT_WEBHOOK_SECRET,
                           message_id or f"msg_qpgov_incident_{incident.pk}", body)
    return NotificationDelivery.objects.create(
        incident=incident, channel=NotificationDelivery.WEBHOOK, recipient=url, ok=result.ok,
        response_status=result.status, response_excerpt=result.excerpt,
        signature=result.signature,
    )


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
        payload = {
            "incident": incident.pk, "title": incident.title, "severity": incident.severity,
            "state": incident.state, "url": _incident_link(incident),
            "nodes": [n.name for n in incident.nodes.all()],
        }
        deliveries.append(_webhook(incident, payload,
                                   message_id=f"msg_qpgov_incident_{incident.pk}_notice"))
    failed = [d for d in deliveries if not d.ok]
    summary = "\n".join(f"{d.channel} {d.recipient}: {'ok' if d.ok else 'FAILED'} "
                        f"{d.response_status or ''} {d.response_excerpt[:200]}" for d in deliveries)
    if failed:
        _finish(record, ResponseStep.FAILED, None, runbook.DELIVERY_FAILED, summary)
        raise StepFailed(runbook.DELIVERY_FAILED, f"{count(len(failed), 'delivery', 'deliveries')} failed")
    _finish(record, ResponseStep.SUCCEEDED, None, "", summary or "nothing left to deliver")
    delivered = count(len(deliveries), "delivery", "deliveries")
    return delivered, [eventlog.entry(incident, "governance_notified",
                                      note=f"{delivered} to the Governance Council")]


def email_responders(incident: Incident, subject: str, body: str) -> list[NotificationDelivery]:
    """Tell the responders and the commander that a step needs a human.

    Each message is a row first, then one try; a failed send is retried by the
    sweep with backoff (`resend_due_responder_mail`), as proposal mail is: this
    message is what brings a human to a stuck response.
    """
    rows = queue_responder_mail(incident, subject, body)
    for row in rows:
        _try_responder_mail(row)
    return list(NotificationDelivery.objects.filter(pk__in=[row.pk for row in rows]))


def queue_responder_mail(incident: Incident, subject: str, body: str) -> list[NotificationDelivery]:
    """The "needs attention" rows alone, due now: written in the caller's transaction,
    so the change that needs a human and the mail about it commit together, and the
    sweep (`resend_due_responder_mail`) sends them if nobody tries at once."""
    responders = roles.holders(roles.RESPONDERS)
    addresses = sorted({u.email for u in responders if u.email} | (
        {incident.commander.email} if incident.commander.email else set()))
    now = timezone.now()
    return NotificationDelivery.objects.bulk_create([
        NotificationDelivery(incident=incident, channel=NotificationDelivery.EMAIL,
                             purpose=NotificationDelivery.RESPONDERS, recipient=address,
                             subject=subject, body=body + f"\n\n{_incident_link(incident)}\n",
                             attempts=0, next_attempt_at=now, attempted_at=now)
        for address in addresses
    ])


def resend_due_responder_mail(now=None) -> int:
    """The sweep: try again every "needs attention" mail whose next try is due; return how many went."""
    now = now or timezone.now()
    due = NotificationDelivery.objects.filter(purpose=NotificationDelivery.RESPONDERS, ok=False,
                                              next_attempt_at__lte=now)
    return sum(_try_responder_mail(row) for row in due[:500])


def _try_responder_mail(delivery: NotificationDelivery) -> bool:
    now = timezone.now()
    # Claim the try with a conditional update, so two sweeps never both send it.
    claimed = NotificationDelivery.objects.filter(
        pk=delivery.pk, ok=False, attempts=delivery.attempts, next_attempt_at__lte=now,
    ).update(attempts=delivery.attempts + 1, next_attempt_at=now + mail.SEND_LEASE)
    if claimed != 1:
        return False
    attempts = delivery.attempts + 1
    ok, outcome = mail.send_one(delivery.subject, delivery.body, delivery.recipient)
    done = timezone.now()
    if ok:
        next_at = None
    elif attempts >= mail.MAX_ATTEMPTS:
        next_at, outcome = None, f"gave up after {attempts} tries: {outcome}"
    else:
        next_at = done + mail.backoff(attempts)
        log.warning("needs-attention mail %s about INC-%s to %s failed (try %d): %s",
                    delivery.pk, delivery.incident_id, delivery.recipient, attempts, outcome)
    NotificationDelivery.objects.filter(pk=delivery.pk, attempts=attempts).update(
        ok=ok, response_excerpt=outcome, attempted_at=done, next_attempt_at=next_at)
    return ok


def remind_council(incident: Incident):
    subject = f"[{incident.severity}] Reminder: please acknowledge INC-{incident.pk}"
    body = (f"Nobody on the Governance Council has acknowledged incident INC-{incident.pk} "
            f"({incident.title}) yet.\n\nAcknowledge: "
            f"{_incident_link(incident, 'incidents:acknowledge')}\n")
    deliveries = _email(incident, NotificationDelivery.REMINDER,
                        [m.email for m in council_members()], subject, body)
    eventlog.append(incident, "council_reminded", note=f"{count(len(deliveries), 'reminder')} sent")


# The post-mortem draft.

POSTMORTEM_TEMPLATE = """# Post-mortem: {title}

*Draft for INC-{pk} ({severity}). The people, nodes and evidence files are in the internal notes,
never in this text: the public text names roles, not people.*

## Summary

{summary}

## Impact

_Who and what was affected, for how long ({node_count} affected)._

## Detection

Detected at {detected} UTC; {declared_by} declared it at {declared} UTC.

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

# What the public timeline says for each event: roles and times only, never its
# note (which names nodes, hosts, people and evidence files). {step} is the
# runbook's label for the step, {severity} the incident's.
PUBLIC_EVENTS = {
    "detected": "the problem was detected",
    "declared": "declared {severity}",
    "responding": "the response runbook started",
    "step_started": "started “{step}”",
    "step_succeeded": "completed “{step}”",
    "step_retry_scheduled": "scheduled a retry of “{step}”",
    "step_needs_human": "“{step}” needed a responder’s decision",
    "step_retried": "retried “{step}”",
    "step_skipped": "skipped “{step}”",
    "step_partly_done": "“{step}” done on some affected nodes; the response went on while the rest were held",
    "step_reopened": "“{step}” taken up again for a node no longer held",
    "node_frozen": "an affected node frozen (stopped)",
    "evidence_collected": "evidence collected",
    "manifest": "evidence manifest sealed",
    "governance_notified": "the Governance Council notified",
    "council_reminded": "the Governance Council reminded",
    "acknowledged": "acknowledged the incident",
    "contained": "the incident contained",
    "resolved": "resolved the incident",
    "unfreeze_confirmed": "confirmed an affected node may run again",
    "node_unfrozen": "an affected node started again",
    "unfreeze_failed": "starting an affected node again failed",
    "notice_published": "posted a public status update",
}
# Bookkeeping that says nothing to the public: drafts of notices that were never
# published (the public never saw them) among it.
INTERNAL_ONLY_EVENTS = {"step_lease_expired", "postmortem_drafted", "notice_drafted", "notice_discarded"}


def public_role(user_id, incident: Incident, people: dict) -> str:
    """How the public text names whoever did something: by role, never by name."""
    if user_id is None:
        return "the response runbook"
    if user_id == incident.commander_id:
        return "the incident commander"
    held = roles.roles_of(people[user_id]) if user_id in people else frozenset()
    for role, name in ((roles.COUNCIL, "a Governance Council member"),
                       (roles.RESPONDERS, "an incident responder"), (roles.CORE_OPS, "a Core Ops member")):
        if role in held:
            return name
    return "a team member"


def postmortem_texts(incident: Incident) -> tuple[str, str]:
    """The draft's public body and its internal notes.

    The public timeline is roles and times; the internal notes keep the full record
    (who, which node, which evidence file) for the authors.
    """
    events = list(Event.objects.for_subject(incident))
    people = User.objects.in_bulk({e.actor_id for e in events if e.actor_id}
                                  | {incident.declared_by_id, incident.commander_id})
    public, internal = [], []
    for e in events:
        internal.append(f"- {e.occurred_at:%Y-%m-%d %H:%M:%S} — {e.actor_name}: {e.kind.replace('_', ' ')}"
                        + (f" — {e.note}" if e.note else ""))
        if e.kind in INTERNAL_ONLY_EVENTS:
            continue
        what = PUBLIC_EVENTS.get(e.kind, e.kind.replace("_", " ")).format(
            severity=incident.severity, step=runbook.STEP_LABELS.get((e.data or {}).get("step"), "a step"))
        who = public_role(e.actor_id, incident, people)
        public.append(f"- {e.occurred_at:%Y-%m-%d %H:%M} UTC — {who}: {what}")
    body = POSTMORTEM_TEMPLATE.format(
        title=incident.title, pk=incident.pk, severity=incident.severity,
        summary=incident.summary or "_One paragraph._", node_count=count(incident.nodes.count(), "node"),
        detected=f"{incident.detected_at:%Y-%m-%d %H:%M}",
        declared=f"{incident.declared_at:%Y-%m-%d %H:%M}",
        declared_by=public_role(incident.declared_by_id, incident, people),
        resolved=f"{incident.resolved_at:%Y-%m-%d %H:%M}" if incident.resolved_at else "?",
        resolution=incident.resolution, timeline="\n".join(public),
    )
    notes = (
        f"INC-{incident.pk} ({incident.severity}), runbook {incident.runbook_version}.\n"
        f"Commander: {people.get(incident.commander_id)}; "
        f"declared by {people.get(incident.declared_by_id)}.\n"
        f"Nodes: {', '.join(n.name for n in incident.nodes.all()) or 'none'}.\n\n"
        "Full timeline (names, nodes and evidence files; not for publication):\n" + "\n".join(internal)
    )
    return body, notes


def postmortem_body(incident: Incident) -> str:
    return postmortem_texts(incident)[0]


def draft_postmortem(step, task_id):
    record = StepAttempt.objects.create(step=step, attempt=step.attempts,
                                        status=ResponseStep.RUNNING, task_id=task_id)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=step.incident_id)
        body, notes = postmortem_texts(incident)
        draft, created = Postmortem.objects.get_or_create(
            incident=incident,
            defaults={"assignee": incident.commander, "title": incident.title,
                      "body": body, "internal_notes": notes},
        )
        if incident.state == Incident.RESOLVED:
            incident.draft_postmortem()
            incident.save()
            eventlog.append(incident, "postmortem_drafted", from_state=Incident.RESOLVED,
                            to_state=incident.state, note=f"assigned to {draft.assignee}")
    _finish(record, ResponseStep.SUCCEEDED, None, "", "draft created" if created else "draft kept")
    return f"draft assigned to {draft.assignee}", []
