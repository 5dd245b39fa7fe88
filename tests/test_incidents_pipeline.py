"""The response pipeline, step by step, with the task called directly (no broker).

The node actions are real: a demo node process is stopped, its log and data
directory are read and hashed. Only the Celery message is left out; tests call
run_step(step_id) as the worker would.
"""

import hashlib
import tarfile

from django.core import mail
from django.utils import timezone

from fleet import demo
from fleet.models import Node
from incidents import runbook, services
from incidents.models import Evidence, Incident, IncidentNode, ResponseStep
from incidents.tasks import run_step
from qpgov import eventlog
from qpgov.models import Event


def declare(rita, nodes, **extra):
    return services.declare(title="Validator double-signing", severity="SEV1", nodes=nodes,
                            declared_by=rita, summary="Two blocks at height 10.", **extra)


def step(incident, kind) -> ResponseStep:
    return incident.steps.get(kind=kind)


def kinds(incident):
    return [e.kind for e in Event.objects.for_subject(incident)]


def test_declaring_saves_the_incident_its_steps_and_a_timeline_event(
    rita, demo_node, django_capture_on_commit_callbacks, published
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = declare(rita, [demo_node])
    assert incident.state == Incident.DECLARED
    assert incident.runbook_version == runbook.CURRENT_VERSION
    assert [s.kind for s in incident.steps.all()] == list(runbook.get().steps)
    assert all(s.status == ResponseStep.PENDING for s in incident.steps.all())
    assert kinds(incident) == ["detected", "declared"]
    # Only the first step is queued, and only once the transaction committed.
    first = step(incident, runbook.FREEZE)
    assert published == [("incidents.run_step", (first.id,), {})]


def test_it_runs_every_step_in_order_on_a_real_node(
    rita, carol, chris, demo_node, evidence_dir, published
):
    incident = declare(rita, [demo_node])
    assert demo.is_running(demo_node.data_dir)

    run_step(step(incident, runbook.FREEZE).id)
    demo_node.refresh_from_db()
    assert not demo.is_running(demo_node.data_dir), "freeze must really stop the node"
    assert demo_node.frozen and demo_node.frozen_at
    incident.refresh_from_db()
    assert incident.state == Incident.RESPONDING
    attempt = step(incident, runbook.FREEZE).tries.get()
    assert attempt.status == "succeeded" and attempt.exit_code != 0  # status says "inactive"
    assert "stopped" in attempt.output_excerpt and len(attempt.output_sha256) == 64

    run_step(step(incident, runbook.PRESERVE_LOGS).id)
    logs = Evidence.objects.get(incident=incident, kind=Evidence.LOGS)
    stored = (evidence_dir / logs.storage_name).read_bytes()
    assert b"imported block height=" in stored and b"stopped by operator" in stored
    assert hashlib.sha256(stored).hexdigest() == logs.sha256 and logs.size == len(stored)

    run_step(step(incident, runbook.SNAPSHOT).id)
    snap = Evidence.objects.get(incident=incident, kind=Evidence.SNAPSHOT)
    with tarfile.open(evidence_dir / snap.storage_name) as tar:
        assert "./state.db" in tar.getnames()

    run_step(step(incident, runbook.NOTIFY_GOVERNANCE).id)
    assert sorted(m.to[0] for m in mail.outbox) == ["carol@example.invalid",
                                                     "chris@example.invalid"]
    assert f"/incidents/{incident.pk}/acknowledge/" in mail.outbox[0].body
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED

    # The post-mortem waits for the commander; running it early does nothing.
    run_step(step(incident, runbook.POSTMORTEM).id)
    assert step(incident, runbook.POSTMORTEM).status == ResponseStep.PENDING

    services.resolve(incident, rita, resolution="Rotated the key.", unfreeze=[demo_node])
    run_step(step(incident, runbook.POSTMORTEM).id)
    incident.refresh_from_db()
    assert incident.state == Incident.POSTMORTEM_DRAFTED
    draft = incident.postmortem
    assert draft.assignee == rita
    for section in ("## Summary", "## Impact", "## Detection", "## Root cause", "## Trigger",
                    "## Resolution", "## Timeline", "## Action items", "## Lessons learned"):
        assert section in draft.body
    assert "node frozen" in draft.body and "Rotated the key." in draft.body

    assert kinds(incident) == [
        "detected", "declared", "responding", "step_started", "node_frozen", "step_succeeded",
        "step_started", "evidence_collected", "manifest", "step_succeeded",
        "step_started", "evidence_collected", "manifest", "step_succeeded",
        "step_started", "governance_notified", "step_succeeded", "contained",
        "resolved", "unfreeze_confirmed", "step_started", "postmortem_drafted",
        "step_succeeded",
    ]
    assert eventlog.verify()[1] is None


def test_unfreezing_starts_the_node_only_after_the_commander_confirms(
    rita, demo_node, published
):
    from incidents.tasks import unfreeze_node

    incident = declare(rita, [demo_node])
    demo.stop(demo_node.data_dir)
    Node.objects.filter(id=demo_node.id).update(frozen=True)
    unfreeze_node(demo_node.id, incident.pk)  # nobody confirmed it: nothing happens
    assert not demo.is_running(demo_node.data_dir)

    IncidentNode.objects.filter(incident=incident).update(unfreeze_requested_at=timezone.now())
    unfreeze_node(demo_node.id, incident.pk)
    assert demo.is_running(demo_node.data_dir)
    demo_node.refresh_from_db()
    assert not demo_node.frozen
    assert IncidentNode.objects.get(incident=incident).unfreeze_requested_at is None


def test_a_step_does_not_start_before_the_one_before_it_is_done(rita, demo_node, published):
    incident = declare(rita, [demo_node])
    run_step(step(incident, runbook.SNAPSHOT).id)
    snapshot = step(incident, runbook.SNAPSHOT)
    assert snapshot.status == ResponseStep.PENDING and snapshot.attempts == 0
    assert demo.is_running(demo_node.data_dir)


def test_a_duplicate_delivery_does_nothing(rita, demo_node, evidence_dir, published):
    incident = declare(rita, [demo_node])
    freeze = step(incident, runbook.FREEZE)
    run_step(freeze.id)
    events = kinds(incident)
    queued = list(published)

    run_step(freeze.id)  # the broker delivers the same message again

    freeze.refresh_from_db()
    assert freeze.status == ResponseStep.SUCCEEDED and freeze.attempts == 1
    assert freeze.tries.count() == 1
    assert kinds(incident) == events
    assert published == queued


def test_a_delivery_while_the_step_runs_elsewhere_does_nothing(rita, demo_node, published):
    from incidents.tasks import _claim

    incident = declare(rita, [demo_node])
    freeze = step(incident, runbook.FREEZE)
    assert _claim(freeze.id, "task-a") is not None  # worker A owns it now
    run_step(freeze.id)  # worker B gets a duplicate
    freeze.refresh_from_db()
    assert freeze.status == ResponseStep.RUNNING and freeze.task_id == "task-a"
    assert freeze.tries.count() == 0
    assert demo.is_running(demo_node.data_dir)


def test_a_later_runbook_change_does_not_alter_a_running_response(
    rita, demo_node, monkeypatch, published
):
    incident = declare(rita, [demo_node])
    changed = runbook.Runbook(
        version="2099.1", steps=(runbook.NOTIFY_GOVERNANCE,), policies={},
        log_margin=runbook.get().log_margin, reminder_interval={},
    )
    monkeypatch.setitem(runbook.RUNBOOKS, "2099.1", changed)
    monkeypatch.setattr(runbook, "CURRENT_VERSION", "2099.1")
    incident.refresh_from_db()
    assert incident.runbook.version == "2026.1"
    assert step(incident, runbook.FREEZE).policy.attempts == 3
