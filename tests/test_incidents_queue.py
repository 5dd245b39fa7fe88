"""Incident steps have their own queue: a backlog in the default queue never delays a freeze."""

import contextlib
import json
import os
import shlex
import signal
from pathlib import Path

import pytest
from django.conf import settings

from fleet import tasks as check_tasks
from fleet.models import CheckRun, Node
from incidents import runbook, services
from incidents.models import ResponseStep
from qpgov.celery import app
from tests.conftest import ROOT, WorkerProcess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BACKLOG = 10_000


def waiting_in(queue: str) -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count


def test_a_freeze_is_claimed_while_the_default_queue_holds_ten_thousand_messages(
    celery_worker, rita, capsys
):
    assert app.amqp.router.route({}, "incidents.run_step")["queue"].name == settings.INCIDENT_STEPS_QUEUE
    # Ten thousand cheap messages (Celery's own no-op task) in the default queue,
    # then the declaration's freeze, all waiting before the worker starts again.
    celery_worker.stop()
    try:
        # Start from an empty default queue: an earlier test may have left a
        # message there (the database, not the queue, is the truth for it).
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("celery")
        with app.producer_or_acquire() as producer:
            for i in range(BACKLOG):
                app.send_task("celery.accumulate", args=(i,), producer=producer)
        assert waiting_in("celery") == BACKLOG
        node = Node.objects.create(name="validator-1")
        incident = services.declare(title="Double-signing", severity="SEV1", nodes=[node],
                                    declared_by=rita)
        step = incident.steps.get(kind=runbook.FREEZE)
        celery_worker.start()
        wait_for(lambda: ResponseStep.objects.get(id=step.id).status == ResponseStep.SUCCEEDED,
                 timeout=60, message="the worker to claim and run the freeze")
        left = waiting_in("celery")
        # Had the step waited its turn behind the backlog, none would be left.
        assert left > BACKLOG // 2
        with capsys.disabled():
            print(f"\n  freeze done with {left:,} of {BACKLOG:,} default-queue messages still waiting")
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("celery")
        if celery_worker.proc.poll() is not None:
            celery_worker.start()


# The shipped layout: a worker that takes nothing but incident steps.

def shipped_workers(path: Path) -> dict[str, set[str]]:
    """The Celery workers a Procfile or a systemd unit starts: {name: queues consumed}."""
    workers = {}
    for line in path.read_text().splitlines():
        if path.suffix == ".service":
            name, _, command = path.stem, *line.partition("ExecStart=")[1:]
        else:
            name, _, command = line.partition(":")
        words = shlex.split(command) if command.strip() else []
        if "celery" in " ".join(words[:1]) and "worker" in words:
            workers[name] = set(words[words.index("-Q") + 1].split(","))
    return workers


def test_the_procfile_and_the_units_ship_a_worker_for_incident_steps_only():
    # Each queue has exactly one worker: the file-system broker (make run, or an
    # install without CELERY_BROKER_URL) lets two workers polling one queue read a
    # message file as the other moves it, and the worker crashes on the empty read.
    units = {}
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        units.update(shipped_workers(unit))
    assert units == {"qpgov-worker": {"celery"}, "qpgov-steps": {settings.INCIDENT_STEPS_QUEUE}}
    assert sorted(shipped_workers(ROOT / "Procfile.dev").values(), key=sorted) == [
        {"celery"}, {settings.INCIDENT_STEPS_QUEUE}]


def test_a_freeze_runs_while_a_long_task_holds_the_default_queue_worker(
    celery_worker, process_env, tmp_path, rita, capsys
):
    # The workers of Procfile.dev, one process each: a long check run (its first
    # command hangs) holds the default-queue worker, as a run over many slow nodes
    # would. With one worker for both queues the freeze would wait for it.
    hung = tmp_path / "check.pid"
    env = dict(process_env, QPGOV_NODE_COMMAND_SET="drill", QPGOV_NODE_CHECK_TIMEOUT="120",
               QPGOV_NODE_COMMANDS=json.dumps(
                   {"check_service": f"sh -c 'echo $$ > {hung}; exec sleep 60'"}))
    celery_worker.stop()  # the session's worker consumes both queues: out of the way
    # Start from empty queues: what earlier tests left (a backlog, their later steps)
    # would keep the workers busy; the database, not the queue, is the truth for it.
    with app.connection_for_write() as connection:
        for queue in ("celery", settings.INCIDENT_STEPS_QUEUE):
            connection.default_channel.queue_purge(queue)
    workers = [WorkerProcess(env, tmp_path / f"{name}.log", queues=",".join(sorted(queues)),
                             name=name)
               for name, queues in shipped_workers(ROOT / "Procfile.dev").items()]
    try:
        for worker in workers:
            worker.start()
        node = Node.objects.create(name="validator-1")
        run = check_tasks.start_run([node], CheckRun.DEMAND)
        wait_for(hung.exists, timeout=30, message="the check run's hung command to start")
        incident = services.declare(title="Double-signing", severity="SEV1", nodes=[node],
                                    declared_by=rita)
        step = incident.steps.get(kind=runbook.FREEZE)
        wait_for(lambda: ResponseStep.objects.get(id=step.id).status == ResponseStep.SUCCEEDED,
                 timeout=20, message="the freeze, while the check run holds the default worker")
        assert CheckRun.objects.get(id=run.id).status == CheckRun.RUNNING  # still held
        with capsys.disabled():
            print(f"\n  freeze done while a check run held the default-queue worker "
                  f"({len(workers)} shipped workers)")
    finally:
        if hung.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(hung.read_text()), signal.SIGKILL)
        for worker in workers:
            worker.stop()
        celery_worker.start()
