"""Moving Node from incidents to fleet keeps every row, id and foreign key."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from fleet.models import Node
from incidents.models import Evidence, Incident, StepAttempt

BEFORE = [("incidents", "0003_postmortem_review")]
AFTER = [("incidents", "0005_node_moved_to_fleet")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def referenced_table(table, column):
    with connection.cursor() as cursor:
        return connection.introspection.get_relations(cursor, table)[column][1]


@pytest.fixture
def at_the_old_state():
    """Roll incidents back to before the move; put every app back on its latest migration after."""
    old_apps = migrate(BEFORE)
    yield old_apps
    migrate(latest())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_move_keeps_every_node_and_every_reference_to_it(at_the_old_state):
    old = at_the_old_state
    OldNode = old.get_model("incidents", "Node")
    user = old.get_model("auth", "User").objects.create(username="rita")
    ContentType.objects.filter(app_label="fleet", model="node").delete()
    ct = ContentType.objects.get_or_create(app_label="incidents", model="node")[0]
    first = OldNode.objects.create(name="validator-1", target="ops@v1.internal", data_dir="/srv/v1",
                                   frozen=True, frozen_at=timezone.now())
    second = OldNode.objects.create(name="validator-2", unit="qp-full", environment="testnet")
    incident = old.get_model("incidents", "Incident").objects.create(
        title="Fork", severity="SEV1", declared_by=user, commander=user, runbook_version="1")
    incident.nodes.set([first, second])
    step = old.get_model("incidents", "ResponseStep").objects.create(
        incident=incident, kind="freeze", position=1)
    old.get_model("incidents", "StepAttempt").objects.create(step=step, node=second, attempt=1,
                                                             status="succeeded")
    old.get_model("incidents", "Evidence").objects.create(
        incident=incident, node=first, kind="logs", storage_name="x/logs", size=1, sha256="0" * 64)

    migrate(AFTER)

    assert list(Node.objects.order_by("id").values_list("id", "name", "target", "data_dir", "frozen",
                                                        "unit", "environment")) == [
        (first.id, "validator-1", "ops@v1.internal", "/srv/v1", True, "quantumpay-node", "mainnet"),
        (second.id, "validator-2", "", "/var/lib/quantumpay", False, "qp-full", "testnet"),
    ]
    moved = Incident.objects.get(id=incident.id)
    assert sorted(moved.nodes.values_list("id", flat=True)) == [first.id, second.id]
    assert Evidence.objects.get().node == Node.objects.get(id=first.id)
    assert StepAttempt.objects.get().node_id == second.id
    # The database itself points every reference at the moved table ...
    assert referenced_table("incidents_evidence", "node_id") == "fleet_node"
    assert referenced_table("incidents_stepattempt", "node_id") == "fleet_node"
    assert referenced_table("incidents_incident_nodes", "node_id") == "fleet_node"
    # ... and still enforces them.
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM fleet_node WHERE id = %s", [first.id])
            connection.check_constraints()  # SQLite checks deferred keys only at commit
    ct.refresh_from_db()
    assert (ct.app_label, ct.model) == ("fleet", "node")

    # And back again, rows intact.
    back = migrate(BEFORE)
    assert back.get_model("incidents", "Node").objects.count() == 2
    assert referenced_table("incidents_evidence", "node_id") == "incidents_node"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_incidents_already_declared_get_their_copy_and_keep_a_pending_unfreeze(at_the_old_state):
    old = migrate([("incidents", "0005_node_moved_to_fleet")])
    OldNode = old.get_model("fleet", "Node")
    Incident = old.get_model("incidents", "Incident")
    user = old.get_model("auth", "User").objects.create(username="rita")
    node = OldNode.objects.create(name="validator-1", target="ops@v1.internal", data_dir="/srv/v1",
                                  unit="qp", frozen=True, unfreeze_requested_at=timezone.now())
    other = OldNode.objects.create(name="validator-2")
    earlier, later = (Incident.objects.create(title=title, severity="SEV1", declared_by=user,
                                              commander=user, runbook_version="1",
                                              declared_at=timezone.now() + timezone.timedelta(minutes=i))
                      for i, title in enumerate(["A", "B"]))
    earlier.nodes.set([node, other])
    later.nodes.set([node])

    migrate(latest())

    from incidents.models import IncidentNode
    copies = {(m.incident_id, m.node_id): m for m in IncidentNode.objects.all()}
    assert set(copies) == {(earlier.id, node.id), (earlier.id, other.id), (later.id, node.id)}
    first = copies[(earlier.id, node.id)]
    assert (first.name, first.target, first.unit, first.data_dir) == (
        "validator-1", "ops@v1.internal", "qp", "/srv/v1")
    assert copies[(earlier.id, other.id)].data_dir == "/var/lib/quantumpay"
    # The pending request goes where the old task would have recorded it: the latest incident.
    assert [k for k, m in copies.items() if m.unfreeze_requested_at] == [(later.id, node.id)]
    assert not hasattr(Node.objects.get(pk=node.pk), "unfreeze_requested_at")
