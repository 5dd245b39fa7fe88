# Issue 12: an incident drives its response from the node values copied when it
# was declared, and a commander's unfreeze request names the incident that asked.
# The incident's node list keeps its table (incidents_incident_nodes) and rows;
# it becomes the explicit IncidentNode model, gains the copied columns (filled
# from the registry for incidents already declared) and the unfreeze request
# (moved from the node: a pending one goes to the node's latest incident, the
# one the old unfreeze task recorded on). fleet/0002 then drops the node's column.

import django.db.models.deletion
from django.db import migrations, models

FIELDS = ("name", "target", "unit", "data_dir")


def copy_from_registry(apps, schema_editor):
    IncidentNode = apps.get_model("incidents", "IncidentNode")
    Node = apps.get_model("fleet", "Node")
    for member in IncidentNode.objects.select_related("node").iterator():
        for field in FIELDS:
            setattr(member, field, getattr(member.node, field))
        member.save(update_fields=list(FIELDS))
    for node in Node.objects.filter(unfreeze_requested_at__isnull=False, frozen=True):
        latest = (IncidentNode.objects.filter(node=node)
                  .order_by("-incident__declared_at", "-incident_id").first())
        if latest is not None:
            latest.unfreeze_requested_at = node.unfreeze_requested_at
            latest.save(update_fields=["unfreeze_requested_at"])


def requests_back_to_nodes(apps, schema_editor):
    IncidentNode = apps.get_model("incidents", "IncidentNode")
    Node = apps.get_model("fleet", "Node")
    for member in IncidentNode.objects.filter(unfreeze_requested_at__isnull=False):
        Node.objects.filter(id=member.node_id).update(
            unfreeze_requested_at=member.unfreeze_requested_at)


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0005_node_moved_to_fleet"),
        ("fleet", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IncidentNode",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("incident", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="members", to="incidents.incident")),
                        ("node", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="fleet.node")),
                    ],
                    options={
                        "db_table": "incidents_incident_nodes",
                        "unique_together": {("incident", "node")},
                    },
                ),
                migrations.AlterField(
                    model_name="incident",
                    name="nodes",
                    field=models.ManyToManyField(related_name="incidents", through="incidents.IncidentNode", to="fleet.node"),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="incidentnode",
            name="name",
            field=models.CharField(default="", max_length=63),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="incidentnode",
            name="target",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="incidentnode",
            name="unit",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="incidentnode",
            name="data_dir",
            field=models.CharField(default="", max_length=300),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="incidentnode",
            name="unfreeze_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(copy_from_registry, requests_back_to_nodes),
    ]
