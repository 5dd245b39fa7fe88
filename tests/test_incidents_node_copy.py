"""Issue 12 item 4: a response is driven from the node values copied when it was declared.

Editing the registry mid-incident (a new data_dir, a new target) must not move
what the remaining steps act on; the incident page says the registry changed.
"""

import tarfile

from django.urls import reverse

from fleet import registry
from fleet.models import Node
from incidents import runbook, services
from incidents.models import Evidence, IncidentNode
from incidents.tasks import run_step


def test_declaring_copies_what_the_driver_uses(rita, demo_node, published):
    incident = services.declare(title="Fork", severity="SEV1", nodes=[demo_node], declared_by=rita)
    copy = IncidentNode.objects.get(incident=incident)
    assert (copy.node_id, copy.name, copy.target, copy.unit, copy.data_dir) == (
        demo_node.id, demo_node.name, "", demo_node.unit, demo_node.data_dir)


def test_a_registry_edit_mid_incident_does_not_move_the_response(
    rita, olga, demo_node, evidence_dir, tmp_path, published, client
):
    incident = services.declare(title="Fork", severity="SEV1", nodes=[demo_node], declared_by=rita)
    run_step(incident.steps.get(kind=runbook.FREEZE).id)
    # Core Ops point the node somewhere else while the response is under way.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.txt").write_text("not this node's state\n")
    node = Node.objects.get(pk=demo_node.pk)
    node.data_dir = str(elsewhere)
    registry.save_node(node, actor=olga)

    run_step(incident.steps.get(kind=runbook.PRESERVE_LOGS).id)
    run_step(incident.steps.get(kind=runbook.SNAPSHOT).id)
    snapshot = Evidence.objects.get(incident=incident, kind=Evidence.SNAPSHOT)
    with tarfile.open(evidence_dir / snapshot.storage_name) as tar:
        assert "./state.db" in tar.getnames() and "./other.txt" not in tar.getnames()

    client.force_login(rita)
    page = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "registry changed since declaration" in page
    assert str(elsewhere) in page and demo_node.data_dir in page


def test_declaring_on_a_node_removed_meanwhile_saves_nothing(rita, demo_node, published):
    import pytest
    from django.core.exceptions import ValidationError

    from incidents.models import Incident

    gone = Node.objects.create(name="validator-9")
    Node.objects.filter(pk=gone.pk).delete()  # deleted after the form read it
    with pytest.raises(ValidationError, match="removed from the registry"):
        services.declare(title="Fork", severity="SEV1", nodes=[demo_node, gone], declared_by=rita)
    assert not Incident.objects.exists() and not IncidentNode.objects.exists()
