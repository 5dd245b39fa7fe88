"""Failures: backoff and retry, then a human, then a resumed response; and the sweep."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from fleet import demo
from incidents import runbook, services
from incidents.models import Incident, ResponseStep
from incidents.tasks import _claim, run_step, sweep_steps
from qpgov.http import Conflict
from qpgov.models import Event

BROKEN_FREEZE = "sh -c 'echo systemctl: unit is masked >&2; exit 1'"


def declare(rita, nodes):
    return services.declare(title="Stalled blocks", severity="SEV2", nodes=nodes,
                            declared_by=rita)


def freeze_step(incident) -> ResponseStep:
    return incident.steps.get(kind=runbook.FREEZE)


def kinds(incident):
    return [e.kind for e in Event.objects.for_subject(incident)]


def test_a_failing_node_command_retries_then_needs_a_human_and_resumes_after_retry(
    settings, rita, olga, demo_node, published, django_capture_on_commit_callbacks
):
    settings.QPGOV_NODE_COMMANDS = {"freeze": BROKEN_FREEZE}
    policy = runbook.get().policy(runbook.FREEZE)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        incident = declare(rita, [demo_node])
        step = freeze_step(incident)

        with django_capture_on_commit_callbacks(execute=True):
            run_step(step.id)
        step.refresh_from_db()
        assert step.status == ResponseStep.PENDING and step.attempts == 1
        assert step.next_attempt_at == timezone.now() + policy.delay_after(1)
        assert "unit is masked" in step.tries.get().output_excerpt
        assert published[-1] == ("incidents.run_step", (step.id,),
                                 {"countdown": policy.delay_after(1).total_seconds()})

        run_step(step.id)  # an early message: not due yet, nothing happens
        step.refresh_from_db()
        assert step.attempts == 1

        clock.shift(policy.delay_after(1))
        run_step(step.id)
        step.refresh_from_db()
        assert step.attempts == 2 and step.status == ResponseStep.PENDING
        assert step.next_attempt_at == timezone.now() + policy.delay_after(2)
        assert policy.delay_after(2) == 2 * policy.delay_after(1)

        clock.shift(policy.delay_after(2))
        run_step(step.id)
        step.refresh_from_db()
        assert step.status == ResponseStep.NEEDS_HUMAN and step.attempts == policy.attempts
        incident.refresh_from_db()
        assert incident.needs_attention
        assert list(Incident.objects.needing_attention()) == [incident]
        # Responders (and the commander) are told by email.
        assert [m.to for m in mail.outbox] == [["rita@example.invalid"]]
        assert "needs attention" in mail.outbox[0].subject
        assert demo.is_running(demo_node.data_dir)

        # The next step never started.
        assert incident.steps.get(kind=runbook.PRESERVE_LOGS).attempts == 0

        # The responder fixes the cause and presses "retry step".
        settings.QPGOV_NODE_COMMANDS = {}
        services.retry_step(incident, step.id, rita)
        step.refresh_from_db()
        assert step.status == ResponseStep.PENDING and step.next_attempt_at == timezone.now()
        run_step(step.id)
        step.refresh_from_db()
        assert step.status == ResponseStep.SUCCEEDED and step.attempts == policy.attempts + 1
        assert not demo.is_running(demo_node.data_dir)
        assert incident.steps.get(kind=runbook.PRESERVE_LOGS).next_attempt_at is not None

    assert kinds(incident)[:9] == [
        "detected", "declared", "responding", "step_started", "step_retry_scheduled",
        "step_started", "step_retry_scheduled", "step_started", "step_needs_human",
    ]
    assert kinds(incident)[9:] == ["step_retried", "step_started", "node_frozen",
                                   "step_succeeded"]
    assert step.tries.filter(status="failed").count() == policy.attempts


def test_a_retry_only_acts_on_the_nodes_that_failed(
    settings, rita, make_demo_node, published
):
    good, bad = make_demo_node("good-1"), make_demo_node("bad-1")
    settings.QPGOV_NODE_COMMANDS = {
        "freeze": "sh -c 'case {name} in bad-*) exit 1;; esac; sh {demo_dir}/node.sh stop "
                  "{data_dir}'"
    }
    with time_machine.travel(timezone.now(), tick=False) as clock:
        incident = declare(rita, [good, bad])
        step = freeze_step(incident)
        run_step(step.id)
        assert not demo.is_running(good.data_dir) and demo.is_running(bad.data_dir)
        settings.QPGOV_NODE_COMMANDS = {}
        clock.shift(timedelta(minutes=5))
        run_step(step.id)
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED
    assert [(t.attempt, t.node.name, t.status) for t in step.tries.all()] == [
        (1, "bad-1", "failed"), (1, "good-1", "succeeded"), (2, "bad-1", "succeeded"),
    ]


def test_an_unexpected_error_goes_straight_to_a_human(settings, rita, demo_node, published):
    settings.QPGOV_NODE_DRIVER = "incidents.no_such.Driver"
    incident = declare(rita, [demo_node])
    run_step(freeze_step(incident).id)
    step = freeze_step(incident)
    assert step.status == ResponseStep.NEEDS_HUMAN and step.attempts == 1
    assert "ModuleNotFoundError" in Event.objects.for_subject(incident).last().note


def test_retry_and_skip_refuse_steps_in_the_wrong_state(rita, demo_node, published):
    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    with pytest.raises(Conflict):
        services.retry_step(incident, step.id, rita)  # pending, not waiting for a human
    run_step(step.id)
    with pytest.raises(Conflict):
        services.skip_step(incident, step.id, rita, "too late")  # already succeeded
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED and step.skip_reason == ""


def test_a_skipped_step_goes_on_the_timeline_and_the_response_moves_on(
    rita, demo_node, published, django_capture_on_commit_callbacks
):
    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    with django_capture_on_commit_callbacks(execute=True):
        services.skip_step(incident, step.id, rita, "Node already powered off by the host.")
    step.refresh_from_db()
    assert step.status == ResponseStep.SKIPPED
    last = Event.objects.for_subject(incident).last()
    assert last.kind == "step_skipped" and last.actor == rita
    assert "powered off by the host" in last.note
    assert incident.steps.get(kind=runbook.PRESERVE_LOGS).next_attempt_at is not None
    assert published[-1][1] == (incident.steps.get(kind=runbook.PRESERVE_LOGS).id,)


def test_the_sweep_rescues_a_step_whose_message_was_lost(rita, demo_node, published):
    # Declared with the broker down: the step is saved, no message went out.
    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    assert published == []
    assert sweep_steps()["redispatched"] == 0  # just declared: give the message a chance

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert sweep_steps()["redispatched"] == 1
        assert published == [("incidents.run_step", (step.id,), {})]
        run_step(step.id)
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED


def test_the_sweep_takes_a_step_back_from_a_dead_worker(rita, demo_node, published):
    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    claimed = _claim(step.id, "task-on-a-dead-worker")
    step.tries.create(attempt=1, node=demo_node, status=ResponseStep.RUNNING)

    assert sweep_steps()["expired"] == 0  # the lease is still live
    with time_machine.travel(claimed.lease_expires_at + timedelta(seconds=1)):
        assert sweep_steps()["expired"] == 1
        step.refresh_from_db()
        assert step.status == ResponseStep.PENDING and step.task_id == ""
        assert step.tries.get().error_class == "LeaseExpired"
        run_step(step.id)
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED and step.attempts == 2
    assert "step_lease_expired" in kinds(incident)


def test_a_task_that_outlived_its_lease_cannot_overwrite_the_new_owner(
    rita, demo_node, published
):
    from incidents.tasks import _succeed

    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    stale = _claim(step.id, "old-task")
    with time_machine.travel(stale.lease_expires_at + timedelta(seconds=1)):
        sweep_steps()
        _claim(step.id, "new-task")
    from qpgov import eventlog

    _succeed(stale, "old-task", "late result",
             [eventlog.entry(incident, "manifest", note="written by the late task")])
    step.refresh_from_db()
    assert step.status == ResponseStep.RUNNING and step.task_id == "new-task"
    # What the late try did still goes on the record; its success does not.
    assert kinds(incident)[-1] == "manifest"
    assert "step_succeeded" not in kinds(incident)


def test_the_council_is_reminded_until_someone_acknowledges(
    rita, carol, demo_node, published
):
    incident = declare(rita, [demo_node])
    for kind in runbook.get().steps[:4]:
        run_step(incident.steps.get(kind=kind).id)
    assert len(mail.outbox) == 1
    interval = incident.runbook.reminder_interval["SEV2"]
    with time_machine.travel(timezone.now() + interval + timedelta(seconds=1)):
        assert sweep_steps()["reminded"] == 1
        assert sweep_steps()["reminded"] == 0  # not again until the next interval
        services.acknowledge(incident, carol)
    with time_machine.travel(timezone.now() + 3 * interval):
        assert sweep_steps()["reminded"] == 0
    assert "Reminder" in mail.outbox[1].subject


def test_declaring_succeeds_while_the_broker_is_down(
    rita, demo_node, monkeypatch, django_capture_on_commit_callbacks, settings
):
    from incidents import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(tasks.run_step, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    assert step.status == ResponseStep.PENDING and step.next_attempt_at is not None
    # ... and once the grace period has passed, the incident page says the step is
    # waiting for a worker (before it, the step is just queued).
    grace = timedelta(seconds=settings.QPGOV_WORKER_GRACE_SECONDS)
    assert not step.is_waiting_for_worker(step.next_attempt_at)
    assert step.is_waiting_for_worker(step.next_attempt_at + grace)


def test_the_sweep_runs_every_minute_and_step_tasks_ack_late(settings):
    from incidents import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["incidents-sweep-steps"]
    assert entry["task"] == tasks.sweep_steps.name
    assert entry["schedule"] == timedelta(seconds=60)
    assert tasks.run_step.acks_late and tasks.unfreeze_node.acks_late


def test_a_step_whose_last_lease_expires_mails_the_responders(rita, demo_node, published):
    # The worker running the last allowed try died: the step needs a human, and a
    # human only comes if told, as when the last try fails with an error.
    incident = declare(rita, [demo_node])
    step = freeze_step(incident)
    claimed = _claim(step.id, "task-on-a-dead-worker")
    ResponseStep.objects.filter(id=step.id).update(attempts=step.policy.attempts)
    mail.outbox.clear()
    with time_machine.travel(claimed.lease_expires_at + timedelta(seconds=1)):
        counts = sweep_steps()
    step.refresh_from_db()
    assert counts["expired"] == 1 and step.status == ResponseStep.NEEDS_HUMAN
    assert [m.to for m in mail.outbox] == [["rita@example.invalid"]]
    assert "needs attention" in mail.outbox[0].subject and "lease expired" in mail.outbox[0].body
    assert counts["responders_mailed"] == 1
    assert incident.deliveries.filter(purpose="responders", ok=True).count() == 1
