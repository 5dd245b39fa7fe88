"""Issue 12 item 5: unfreezing a node that several incidents froze.

A node is started again only if no other unresolved incident holds it; the
request names the incident that asked, the final update is conditional on that
same request, and every event lands on the incident that asked.
"""

import pytest
from django.core.management import call_command
from django.utils import timezone

from fleet import demo
from fleet.drivers import CommandDriver
from fleet.models import Node
from incidents import runbook, services, tasks
from incidents.models import Incident, IncidentNode
from incidents.tasks import run_step, unfreeze_node
from qpgov.http import Conflict
from qpgov.models import Event


def declare(rita, node, title="Fork"):
    return services.declare(title=title, severity="SEV1", nodes=[node], declared_by=rita)


def contain(incident):
    for kind in runbook.get().steps[:4]:
        step = incident.steps.get(kind=kind)
        if step.status == "pending":
            run_step(step.id)
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED


def kinds(incident):
    return [e.kind for e in Event.objects.for_subject(incident)]


@pytest.fixture
def two_incidents(rita, carol, demo_node, evidence_dir, published):
    """A and B both froze the demo node; both are contained."""
    first, second = declare(rita, demo_node, "A"), declare(rita, demo_node, "B")
    contain(first)
    contain(second)
    assert not demo.is_running(demo_node.data_dir)
    return first, second


def test_it_refuses_to_unfreeze_a_node_another_unresolved_incident_holds(
    rita, demo_node, two_incidents
):
    first, second = two_incidents
    with pytest.raises(Conflict, match=f"INC-{second.pk}"):
        services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    first.refresh_from_db()
    assert first.state == Incident.CONTAINED  # nothing changed
    assert not IncidentNode.objects.filter(unfreeze_requested_at__isnull=False).exists()
    # Without the unfreeze, A may resolve; B still holds the node stopped.
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[])
    assert not demo.is_running(demo_node.data_dir)


def test_the_unfreeze_is_recorded_on_the_incident_that_asked(rita, demo_node, two_incidents):
    first, second = two_incidents
    services.resolve(second, rita, resolution="Not ours.", unfreeze=[])
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    unfreeze_node(demo_node.id, first.id)
    assert demo.is_running(demo_node.data_dir)
    assert "node_unfrozen" in kinds(first)
    assert "node_unfrozen" not in kinds(second)


def test_a_request_that_a_newer_incident_overtook_does_not_start_the_node(
    rita, carol, demo_node, evidence_dir, published
):
    first = declare(rita, demo_node, "A")
    contain(first)
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    # B is declared on the node before the unfreeze task runs.
    second = declare(rita, demo_node, "B")
    unfreeze_node(demo_node.id, first.id)
    assert not demo.is_running(demo_node.data_dir)
    assert Node.objects.get(pk=demo_node.pk).frozen
    withdrawn = Event.objects.for_subject(first).get(kind="unfreeze_withdrawn")
    assert f"INC-{second.pk}" in withdrawn.note
    assert not [k for k in kinds(second) if k.startswith("unfreeze") or k == "node_unfrozen"]

    # A request standing while another incident holds the node (one written before
    # these rules, say) is refused by the task itself, on the incident that asked.
    IncidentNode.objects.filter(incident=first).update(unfreeze_requested_at=timezone.now())
    unfreeze_node(demo_node.id, first.id)
    assert not demo.is_running(demo_node.data_dir)
    refused = Event.objects.for_subject(first).get(kind="unfreeze_refused")
    assert f"INC-{second.pk}" in refused.note
    assert IncidentNode.objects.get(incident=first).unfreeze_requested_at is None


def test_the_final_update_is_conditional_on_the_same_request(
    rita, carol, demo_node, evidence_dir, published, monkeypatch
):
    """The node is frozen again (a new request supersedes this one) while the start command runs."""
    first = declare(rita, demo_node, "A")
    contain(first)
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    real_unfreeze = CommandDriver.unfreeze

    def unfreeze_while_the_request_changes(driver, node):
        result = real_unfreeze(driver, node)
        IncidentNode.objects.filter(incident=first).update(unfreeze_requested_at=timezone.now())
        return result

    monkeypatch.setattr(CommandDriver, "unfreeze", unfreeze_while_the_request_changes)
    unfreeze_node(demo_node.id, first.id)
    assert Node.objects.get(pk=demo_node.pk).frozen, "a superseded request must not mark it running"
    assert "node_unfrozen" not in kinds(first)


def test_a_message_from_before_the_fix_still_finds_its_incident(rita, demo_node, two_incidents):
    first, second = two_incidents
    services.resolve(second, rita, resolution="Not ours.", unfreeze=[])
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    unfreeze_node(demo_node.id)  # an old message: the node id only
    assert demo.is_running(demo_node.data_dir) and "node_unfrozen" in kinds(first)


def test_the_sweep_resends_a_confirmed_unfreeze_with_its_incident(
    rita, carol, demo_node, evidence_dir, published, time_machine
):
    first = declare(rita, demo_node, "A")
    contain(first)
    services.resolve(first, rita, resolution="Fixed.", unfreeze=[demo_node])
    published.clear()
    time_machine.move_to(timezone.now() + tasks.SWEEP_GRACE * 2)
    tasks.sweep_steps()
    assert ("incidents.unfreeze_node", (demo_node.id, first.id), {}) in published


def test_demo_node_setup_does_not_restart_a_frozen_demo_node(settings, tmp_path, db):
    settings.QPGOV_DEMO_NODE_DIR = tmp_path
    call_command("demo_node", "--setup")
    node = Node.objects.get(name="demo-validator")
    try:
        demo.stop(node.data_dir)  # what an incident's freeze step does ...
        Node.objects.filter(pk=node.pk).update(frozen=True, frozen_at=timezone.now())  # ... and records
        call_command("demo_node", "--setup")  # `make run` again
        assert not demo.is_running(node.data_dir)
        assert Node.objects.get(pk=node.pk).frozen
    finally:
        call_command("demo_node", "--stop")
