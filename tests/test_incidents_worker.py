"""The whole response through the configured broker and a real Celery worker process."""

import pytest
from django.core.management import call_command

from fleet import demo
from fleet.models import Node
from incidents import runbook, services
from incidents.models import Incident, ResponseStep
from qpgov.models import Event
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def state_of(incident):
    return Incident.objects.get(pk=incident.pk).state


def test_the_response_runs_in_order_through_a_real_worker(
    celery_worker, rita, carol, demo_node, capsys
):
    incident = services.declare(title="Validator double-signing", severity="SEV1",
                                nodes=[demo_node], declared_by=rita)
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=60,
             message="the worker to freeze, preserve, snapshot and notify")

    assert not demo.is_running(demo_node.data_dir)
    steps = list(incident.steps.order_by("position"))
    automatic = steps[:4]
    assert all(s.status == ResponseStep.SUCCEEDED and s.attempts == 1 for s in automatic)
    # Strictly one after the other: each started only after the one before finished.
    for before, after in zip(automatic, automatic[1:], strict=False):
        assert before.finished_at <= after.started_at
    # Run by the worker (a Celery task id), not called in-process.
    assert all(not s.task_id.startswith("direct-") for s in automatic)
    assert steps[4].status == ResponseStep.PENDING  # the post-mortem waits for the commander

    call_command("verify_evidence", str(incident.pk))
    assert "evidence ok: 2 files" in capsys.readouterr().out

    services.resolve(incident, rita, resolution="Key rotated; node rebuilt.",
                     unfreeze=[demo_node])
    wait_for(lambda: state_of(incident) == Incident.POSTMORTEM_DRAFTED, timeout=30,
             message="the post-mortem draft")
    wait_for(lambda: not Node.objects.get(id=demo_node.id).frozen, timeout=30,
             message="the confirmed node to be started again")
    assert demo.is_running(demo_node.data_dir)
    kinds = [e.kind for e in Event.objects.for_subject(incident)]
    assert kinds.count("step_succeeded") == len(runbook.get().steps)
    assert kinds[-1] in ("node_unfrozen", "step_succeeded")
