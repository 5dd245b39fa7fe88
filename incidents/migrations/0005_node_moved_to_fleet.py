# Step 3 of moving Node to fleet (see 0004): the foreign keys and the incident's
# node list now name fleet.Node, and incidents.Node leaves the state. No SQL
# runs: the columns already reference the renamed table fleet_node.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0004_node_table_for_fleet"),
        ("fleet", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="incident",
                    name="nodes",
                    field=models.ManyToManyField(related_name="incidents", to="fleet.node"),
                ),
                migrations.AlterField(
                    model_name="stepattempt",
                    name="node",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="fleet.node"),
                ),
                migrations.AlterField(
                    model_name="evidence",
                    name="node",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="fleet.node"),
                ),
                migrations.DeleteModel(name="Node"),
            ],
            database_operations=[],
        ),
    ]
