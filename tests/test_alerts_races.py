"""Two deliveries of one alert group (new, or known) processed at once, each on its own connection.

Threads start together on a barrier (tests.test_changes_races.run_together).
PostgreSQL only, as the other races: SQLite would serialise the threads.
"""

import pytest
from django.test import Client

from fleet import tasks
from fleet.models import Alert, AlertDelivery, AlertGroup, AlertReceiver, AlertRule, Node
from incidents.models import Incident
from qpgov import eventlog, roles
from qpgov.models import Event
from tests.alert_payloads import alert, payload
from tests.conftest import make_user
from tests.test_changes_races import SQLITE_SERIALISES, run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres(reason=SQLITE_SERIALISES)]

REPETITIONS = 10


def test_two_deliveries_of_a_group_at_once_make_one_group_one_alert_set_one_incident(
        monkeypatch, published, capsys):
    monkeypatch.setattr(tasks.process_alert_delivery, "apply_async",
                        lambda args=(), **kw: type("R", (), {"id": "x"}))
    make_user("alertmanager", roles.RESPONDERS)
    receiver = AlertReceiver(name="am")
    token = receiver.issue_token()
    receiver.save()
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    client = Client()
    for rep in range(REPETITIONS):
        Node.objects.create(name=f"validator-{rep}")
        body = payload([alert(instance=f"validator-{rep}:9100"),
                        alert(instance=f"validator-{rep}:9100", chain="b")],
                       group_key=f'{{}}:{{rep="{rep}"}}')
        def post(data):
            return client.post("/api/alerts/alertmanager", data, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}").json()["delivery"]

        if rep % 2:  # odd repetitions: the group exists already (an earlier, resolved alert)
            earlier = post(payload([alert(instance=f"validator-{rep}:9100", status="resolved",
                                          chain="old")], group_key=body["groupKey"]))
            assert tasks.process_alert_delivery(earlier) == "processed"
        ids = [post(body) for _ in range(2)]

        results = run_together(lambda: tasks.process_alert_delivery(ids[0]),
                               lambda: tasks.process_alert_delivery(ids[1]))

        assert results == [("ok", "processed"), ("ok", "processed")], results
        group = AlertGroup.objects.get(group_key=f'{{}}:{{rep="{rep}"}}')
        assert group.alerts.filter(status="firing").count() == 2
        incident = Incident.objects.get(alert_groups=group)
        processed = AlertDelivery.objects.filter(id__in=ids, status="processed")
        # The second is a duplicate of the first: it changed no alert and told the incident nothing.
        assert sorted(processed.values_list("changed_alerts", flat=True)) == [0, 2]
        assert not Event.objects.for_subject(incident).filter(kind="alert_firing").exists()
    assert Alert.objects.filter(status="firing").count() == 2 * REPETITIONS
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n{REPETITIONS} repetitions: one group, two alerts, one incident each time")


def test_a_person_declaring_from_a_group_while_the_worker_declares_it_opens_one_incident(
        monkeypatch, published, capsys):
    from incidents import services
    from qpgov.http import Conflict

    monkeypatch.setattr(tasks.process_alert_delivery, "apply_async",
                        lambda args=(), **kw: type("R", (), {"id": "x"}))
    make_user("alertmanager", roles.RESPONDERS)
    rita = make_user("rita", roles.RESPONDERS)
    receiver = AlertReceiver(name="am")
    token = receiver.issue_token()
    receiver.save()
    AlertRule.objects.create(alertname="DiskAlmostFull", action="confirm", severity="SEV3")
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    client = Client()

    def post(data):
        return client.post("/api/alerts/alertmanager", data, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}").json()["delivery"]

    outcomes = set()
    for rep in range(REPETITIONS):
        node = Node.objects.create(name=f"validator-{rep}")
        key = f'{{}}:{{rep="{rep}"}}'
        # The group waits for a person to confirm a disk alert...
        first = post(payload([alert(alertname="DiskAlmostFull", instance=f"validator-{rep}:9100")],
                             group_key=key))
        assert tasks.process_alert_delivery(first) == "processed"
        group = AlertGroup.objects.get(group_key=key)
        assert group.awaiting_confirmation
        # ...who declares from it just as a stall in the same group makes the worker declare.
        stall = post(payload([alert(alertname="DiskAlmostFull", instance=f"validator-{rep}:9100"),
                              alert(instance=f"validator-{rep}:9100")], group_key=key))

        results = run_together(
            lambda: services.declare(title="Disk almost full", severity="SEV3", nodes=[node],
                                     declared_by=rita, commander=rita, alert_groups=[group]),
            lambda: tasks.process_alert_delivery(stall))

        assert results[1] == ("ok", "processed"), results
        incident = Incident.objects.get(alert_groups=group)
        if results[0][0] == "ok":  # the person came first: the worker added to their incident
            assert incident == results[0][1]
            assert Event.objects.for_subject(incident).filter(kind="alert_firing").exists()
            outcomes.add("person first")
        else:  # the worker came first: the person is refused, with the incident named
            assert isinstance(results[0][1], Conflict), results
            assert f"INC-{incident.pk}" in str(results[0][1])
            outcomes.add("worker first")
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print(f"\n{REPETITIONS} repetitions: one incident per group each time ({sorted(outcomes)})")
