"""`manage.py demo_alert`: a newcomer posts a sample alert to the running server and sees an incident."""

import io

import pytest
from django.core.management import CommandError, call_command

from fleet import tasks
from fleet.models import Alert, AlertDelivery, Node
from incidents.models import Incident
from qpgov.models import Event

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_demo_alert_becomes_an_incident_and_its_resolve_is_noted(live_server, monkeypatch,
                                                                       published):
    queued = []
    monkeypatch.setattr(tasks.process_alert_delivery, "apply_async",
                        lambda args=(), **kw: queued.append(args[0]) or type("R", (), {"id": "x"}))
    node = Node.objects.create(name="demo-validator", environment="testnet")
    call_command("demo_alert", "--setup", stdout=io.StringIO())
    call_command("demo_alert", "--setup", stdout=io.StringIO())  # twice is harmless
    out = io.StringIO()
    call_command("demo_alert", "--url", live_server.url, stdout=out)
    assert "posted a firing BlockProductionStalled on demo-validator" in out.getvalue()
    assert len(queued) == 1
    tasks.process_alert_delivery(queued[0])  # what the worker does
    incident = Incident.objects.get()
    assert incident.severity == "SEV2" and list(incident.nodes.all()) == [node]
    assert incident.declared_by.username == "alertmanager"
    call_command("demo_alert", "--resolve", "--url", live_server.url, stdout=io.StringIO())
    tasks.process_alert_delivery(queued[1])
    assert Alert.objects.get().status == "resolved"
    assert Event.objects.for_subject(incident).filter(kind="alert_cleared").exists()
    assert AlertDelivery.objects.filter(status="processed").count() == 2


def test_the_demo_alert_says_when_the_server_is_not_running(db):
    call_command("demo_alert", "--setup", stdout=io.StringIO())
    with pytest.raises(CommandError, match="is `make run` running"):
        call_command("demo_alert", "--url", "http://127.0.0.1:9", stdout=io.StringIO())
