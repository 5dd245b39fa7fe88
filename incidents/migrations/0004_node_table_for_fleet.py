# The Node model moves to the fleet app (nodes are used by incidents, not owned
# by them). Step 1 of 3: give the table the name the fleet app will use. The
# rows, their ids and every foreign key into the table stay as they are; the
# database renames the table in place and keeps the references pointing at it.
# Step 2 is fleet/0001_initial (the model in fleet's state, no SQL), step 3 is
# incidents/0005_node_moved_to_fleet (foreign keys re-pointed in state, no SQL).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0003_postmortem_review"),
    ]

    operations = [
        migrations.AlterModelTable(name="node", table="fleet_node"),
    ]
