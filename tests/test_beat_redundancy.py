"""Two beat processes: the same sweep running twice at once does everything once.

docs/operations.md runs two beats (on two hosts) so that beat is not a single
point of failure; that is safe only because every sweep claims its work with a
row lock, a conditional update or a unique constraint. The proposal sweep's half
is proven in tests/test_changes_races.py; this file proves the incident sweep's and
the daily node checks'. The two "beats" are two sweep functions in threads, each on
its own database connection, released together on a barrier: that is the race two
`celery beat` processes on two hosts would run, without the minute between ticks.
PostgreSQL only.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from fleet import tasks as fleet_tasks
from fleet.models import CheckRun, Node
from incidents import runbook, services
from incidents.models import NotificationDelivery, ResponseStep
from incidents.tasks import sweep_steps
from qpgov import eventlog, roles
from qpgov.models import Event
from tests.conftest import make_user
from tests.test_changes_races import SQLITE_SERIALISES, run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]

REPETITIONS = 15


def test_two_beats_sweeping_at_once_expire_a_lease_and_remind_the_council_once(
    settings, published, capsys
):
    settings.QPGOV_NODE_COMMAND_SET = "drill"
    rita = make_user("rita", roles.RESPONDERS)
    council = [make_user(name, roles.COUNCIL) for name in ("carol", "chris")]
    for rep in range(REPETITIONS):
        nodes = [Node.objects.create(name=f"validator-{rep}-{i}") for i in range(2)]
        # One incident notified the council, who has not acknowledged: a reminder is due.
        waiting = services.declare(title=f"Unacknowledged {rep}", severity="SEV1",
                                   nodes=nodes[:1], declared_by=rita)
        waiting.steps.exclude(kind=runbook.POSTMORTEM).update(status=ResponseStep.SUCCEEDED)
        # Another's worker died holding its freeze: the lease has run out.
        stranded = services.declare(title=f"Stranded {rep}", severity="SEV1", nodes=nodes[1:],
                                    declared_by=rita)
        freeze = stranded.steps.get(kind=runbook.FREEZE)
        ResponseStep.objects.filter(id=freeze.id).update(
            status=ResponseStep.RUNNING, attempts=1, task_id="dead-worker",
            lease_expires_at=timezone.now() - timedelta(seconds=1))
        published.clear()

        results = run_together(sweep_steps, sweep_steps)

        assert [status for status, _ in results] == ["ok", "ok"], results
        assert sum(counts["expired"] for _, counts in results) == 1
        assert sum(counts["reminded"] for _, counts in results) == 1
        reminders = waiting.deliveries.filter(purpose=NotificationDelivery.REMINDER)
        assert sorted(reminders.values_list("recipient", flat=True)) == sorted(
            u.email for u in council)  # each member once
        assert [e.kind for e in Event.objects.for_subject(waiting)].count("council_reminded") == 1
        assert [e.kind for e in Event.objects.for_subject(stranded)].count("step_lease_expired") == 1
        assert published.count(("incidents.run_step", (freeze.id,), {})) == 1  # one retry, not two
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n  race: {REPETITIONS} repetitions x (two beats sweep at once) on {connection.vendor}")


def test_two_beats_sweeping_at_once_start_the_daily_check_run_once(monkeypatch, capsys):
    # Each run's message is captured: a second run would be a second pass of every
    # check command on every node, and readings (and uptime) recorded twice.
    sent = []

    class Result:
        id = "captured"

    def apply_async(args=(), **options):
        sent.append(args[0])
        return Result()

    monkeypatch.setattr(fleet_tasks.run_checks, "apply_async", apply_async)
    Node.objects.create(name="validator-1")
    for _ in range(REPETITIONS):
        # Every repetition begins where the daily run is due: the last one is now a day
        # old (or, the first time, there has never been one).
        CheckRun.objects.update(created_at=F("created_at") - timedelta(days=1))
        before = CheckRun.objects.count()
        sent.clear()

        results = run_together(fleet_tasks.sweep_checks, fleet_tasks.sweep_checks)

        assert [status for status, _ in results] == ["ok", "ok"], results
        assert sum(counts["started"] for _, counts in results) == 1, results
        assert CheckRun.objects.count() == before + 1
        assert len(sent) == 1  # one run's message, not two
    with capsys.disabled():
        print(f"\n  race: {REPETITIONS} repetitions x (two beats start the daily checks) "
              f"on {connection.vendor}")
