"""Incident steps have their own queue: a backlog in the default queue never delays a freeze."""

import pytest
from django.conf import settings

from fleet.models import Node
from incidents import runbook, services
from incidents.models import ResponseStep
from qpgov.celery import app
from tests.conftest import wait_for

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
