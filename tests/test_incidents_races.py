"""The same step delivered twice at once, and two responders pressing "retry" together.

Threads start together on a barrier (tests.test_changes_races.run_together),
each on its own database connection. The node command appends a line to a
file next to the node's data, so "one side effect per step per node" is
counted on disk, not inferred from the rows. PostgreSQL only, as the
proposal races (tests.test_changes_races): SQLite would serialise the threads.
"""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from fleet.models import Node
from incidents import runbook, services
from incidents.models import ResponseStep, StepAttempt
from incidents.tasks import run_step
from qpgov import eventlog, roles
from qpgov.models import Event
from tests.conftest import make_user
from tests.test_changes_races import SQLITE_SERIALISES, run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]

REPETITIONS = 15

COUNTING_FREEZE = {
    "freeze": "sh -c 'echo frozen >> \"$0/freezes\"' {data_dir}",
    "freeze_check": "sh -c 'echo inactive; exit 3'",
}


def make_nodes(tmp_path, rep, count=2):
    nodes = []
    for i in range(count):
        data_dir = tmp_path / f"rep{rep}-node{i}"
        data_dir.mkdir()
        nodes.append(Node.objects.create(name=f"validator-{rep}-{i}", data_dir=str(data_dir)))
    return nodes


def freezes_on(node):
    marker = f"{node.data_dir}/freezes"
    try:
        with open(marker) as f:
            return len(f.readlines())
    except FileNotFoundError:
        return 0


def kinds(incident):
    return [e.kind for e in Event.objects.for_subject(incident)]


def test_a_step_delivered_twice_at_once_acts_once_per_node(settings, tmp_path, published, capsys):
    settings.QPGOV_NODE_COMMANDS = COUNTING_FREEZE
    rita = make_user("rita", roles.RESPONDERS)
    for rep in range(REPETITIONS):
        nodes = make_nodes(tmp_path, rep)
        incident = services.declare(title=f"Duplicate delivery {rep}", severity="SEV2",
                                    nodes=nodes, declared_by=rita)
        step = incident.steps.get(kind=runbook.FREEZE)

        results = run_together(lambda: run_step(step.id), lambda: run_step(step.id))

        assert [status for status, _ in results] == ["ok", "ok"], results
        step.refresh_from_db()
        assert step.status == ResponseStep.SUCCEEDED and step.attempts == 1
        assert [freezes_on(n) for n in nodes] == [1, 1]
        assert StepAttempt.objects.filter(step=step).count() == len(nodes)
        events = kinds(incident)
        assert events.count("step_started") == 1 and events.count("step_succeeded") == 1
        assert events.count("node_frozen") == len(nodes)
        # The winner queued the next step exactly once.
        following = incident.steps.get(kind=runbook.PRESERVE_LOGS).id
        assert [args for name, args, _ in published].count((following,)) == 1
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  race: {REPETITIONS} repetitions x (one step delivered twice at once, "
              f"2 nodes) on {connection.vendor}")


def test_two_responders_pressing_retry_together_retry_once(tmp_path, published, capsys):
    rita = make_user("rita", roles.RESPONDERS)
    rory = make_user("rory", roles.RESPONDERS)
    for rep in range(REPETITIONS):
        incident = services.declare(title=f"Retry race {rep}", severity="SEV2",
                                    nodes=make_nodes(tmp_path, rep, count=1), declared_by=rita)
        step = incident.steps.get(kind=runbook.FREEZE)
        ResponseStep.objects.filter(id=step.id).update(
            status=ResponseStep.NEEDS_HUMAN, attempts=3, last_error="unit is masked")
        published.clear()
        url = reverse("incidents:retry", args=[incident.pk, step.id])

        def press_retry(user):
            client = Client()
            client.force_login(user)
            return lambda: client.post(url).status_code

        results = run_together(press_retry(rita), press_retry(rory))

        assert sorted(value for _, value in results) == [302, 409], results
        step.refresh_from_db()
        assert step.status == ResponseStep.PENDING and step.attempts_before_human_retry == 3
        assert kinds(incident).count("step_retried") == 1
        assert published == [("incidents.run_step", (step.id,), {})]
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  race: {REPETITIONS} repetitions x (2 responders press retry together) "
              f"on {connection.vendor}")
