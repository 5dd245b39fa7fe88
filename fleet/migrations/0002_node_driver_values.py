# Issue 12: a port in the SSH target is refused (ssh would read "host:2222" as
# the host name), and the unfreeze request moved to the incident that asks
# (incidents/0006 copied pending requests there first).

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("fleet", "0001_initial"),
        ("incidents", "0006_incident_node_copy"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="node",
            name="unfreeze_requested_at",
        ),
        migrations.AlterField(
            model_name="node",
            name="target",
            field=models.CharField(blank=True, help_text="SSH target (user@host); blank runs the commands on the worker's machine.", max_length=200, validators=[django.core.validators.RegexValidator(":", inverse_match=True, message="No port here: ssh would read host:2222 as the host name. Give the port in the worker's ~/.ssh/config (Host validator-7.internal / Port 2222).",), django.core.validators.RegexValidator("^([A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*$", "An SSH target like ops@validator-1.internal, or blank for this machine.")]),
        ),
        migrations.AlterField(
            model_name="node",
            name="data_dir",
            field=models.CharField(default="/var/lib/quantumpay", help_text="The node's state directory, inside a configured data root (QPGOV_NODE_DATA_ROOTS); the snapshot command tars it.", max_length=300, validators=[django.core.validators.RegexValidator("^/[A-Za-z0-9._/-]*$", "An absolute path of plain characters.")]),
        ),
    ]
