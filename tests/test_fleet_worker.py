"""A check run through the configured broker and a real Celery worker process, on the demo node."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from fleet import tasks
from fleet.models import CheckRun, NodeCheck
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_worker_takes_the_first_readings_and_leaves_the_run_waiting_for_the_second(
        celery_worker, make_demo_node):
    node = make_demo_node()
    run = tasks.start_run([node], CheckRun.DEMAND)  # committed: the message goes out
    wait_for(lambda: CheckRun.objects.filter(id=run.id, stage=CheckRun.SECOND_READINGS).exists(),
             timeout=60, message="the worker to take the first readings")
    run.refresh_from_db()
    assert run.status == CheckRun.QUEUED and run.due_at > timezone.now()
    found = {c.kind: c for c in NodeCheck.objects.filter(run=run)}
    assert found["service"].status == NodeCheck.PASS and "first" in found["height"].reading
    # The second stage is a row with a due time, not a worker waiting: take it here, once due.
    height_file = Path(node.data_dir) / "height"
    wait_for(lambda: int(height_file.read_text()) > found["height"].reading["first"],
             message="the demo node to import a block")
    with time_machine.travel(run.due_at + timedelta(seconds=1), tick=False):
        tasks.run_checks(run.id)
    run.refresh_from_db()
    assert run.status == CheckRun.DONE
    assert NodeCheck.objects.get(run=run, kind="height").status == NodeCheck.PASS
