"""manage.py declare_incident, verify_evidence and demo_node."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fleet import demo
from fleet.models import Node
from incidents import runbook, services
from incidents.models import Incident
from incidents.tasks import run_step


def test_declare_incident_from_a_shell(rita, demo_node, published, capsys):
    call_command("declare_incident", "Double signing", "--severity", "SEV1",
                 "--node", "validator-1", "--by", "rita", "--summary", "seen at 03:12")
    incident = Incident.objects.get()
    assert f"declared INC-{incident.pk}" in capsys.readouterr().out
    assert incident.declared_by == rita and incident.commander == rita
    assert [n.name for n in incident.nodes.all()] == ["validator-1"]
    assert incident.steps.count() == len(runbook.get().steps)


def test_declare_incident_refuses_unknown_nodes_and_people_without_the_role(
    rita, eve, demo_node, published
):
    with pytest.raises(CommandError, match="unknown node"):
        call_command("declare_incident", "x", "--severity", "SEV2", "--node", "nope",
                     "--by", "rita")
    with pytest.raises(CommandError, match="Only"):
        call_command("declare_incident", "x", "--severity", "SEV2", "--node", "validator-1",
                     "--by", "eve")
    with pytest.raises(CommandError, match="cannot command"):
        call_command("declare_incident", "x", "--severity", "SEV2", "--node", "validator-1",
                     "--by", "rita", "--commander", "eve")
    assert not Incident.objects.exists()


@pytest.fixture
def collected(rita, make_demo_node, evidence_dir, published):
    nodes = [make_demo_node("validator-1"), make_demo_node("validator-2")]
    incident = services.declare(title="Fork", severity="SEV1", nodes=nodes, declared_by=rita)
    for kind in (runbook.FREEZE, runbook.PRESERVE_LOGS, runbook.SNAPSHOT):
        run_step(incident.steps.get(kind=kind).id)
    assert incident.evidence.count() == 4
    return incident


def test_verify_evidence_passes_on_untouched_evidence(collected, capsys):
    call_command("verify_evidence", str(collected.pk))
    out = capsys.readouterr().out
    assert "evidence ok: 4 files" in out


def test_verify_evidence_names_a_tampered_file(collected, evidence_dir):
    snapshot = collected.evidence.get(kind="snapshot", node__name="validator-2")
    path = evidence_dir / snapshot.storage_name
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CommandError, match=f"BAD {snapshot.storage_name}: content does not"):
        call_command("verify_evidence", str(collected.pk))


def test_verify_evidence_notices_a_rewritten_manifest(collected, evidence_dir):
    from incidents.actions import latest_manifest_event

    name = latest_manifest_event(collected).data["name"]
    path = evidence_dir / name
    path.write_text(path.read_text().replace('"size"', '"size" ', 1))
    with pytest.raises(CommandError, match="does not match the hash on the timeline"):
        call_command("verify_evidence", str(collected.pk))


def test_verify_evidence_notices_a_missing_file(collected, evidence_dir):
    logs = collected.evidence.filter(kind="logs").first()
    (evidence_dir / logs.storage_name).unlink()
    with pytest.raises(CommandError, match="missing from storage"):
        call_command("verify_evidence", str(collected.pk))


def test_demo_node_setup_registers_and_starts_a_local_node(settings, tmp_path, db):
    settings.QPGOV_DEMO_NODE_DIR = tmp_path
    call_command("demo_node", "--setup")
    node = Node.objects.get(name="demo-validator")
    try:
        assert node.target == "" and demo.is_running(node.data_dir)
        call_command("demo_node", "--setup")  # twice is fine
        assert Node.objects.count() == 1
    finally:
        call_command("demo_node", "--stop")
    assert not demo.is_running(node.data_dir)
