# Step 2 of moving Node from incidents to fleet (see incidents/0004): the model
# enters fleet's state over the table incidents/0004 already renamed to
# fleet_node. No SQL runs; the content type moves too, so permissions and admin
# log entries that name it keep working.

import django.core.validators
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="incidents", new="fleet"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=new, model="node").exists():
        ContentType.objects.filter(app_label=old, model="node").update(app_label=new)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="fleet", new="incidents")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("incidents", "0004_node_table_for_fleet"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Node',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=63, unique=True, validators=[django.core.validators.RegexValidator('^[a-z0-9][a-z0-9.-]{0,62}$', 'Lowercase letters, digits, dots, dashes.')])),
                        ('environment', models.CharField(choices=[('mainnet', 'mainnet'), ('testnet', 'testnet')], default='mainnet', max_length=10)),
                        ('role', models.CharField(choices=[('validator', 'validator'), ('full', 'full node'), ('rpc', 'RPC node')], default='validator', max_length=10)),
                        ('target', models.CharField(blank=True, help_text="SSH target (user@host); blank runs the commands on the worker's machine.", max_length=200, validators=[django.core.validators.RegexValidator('^([A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$', 'An SSH target like ops@validator-1.internal, or blank for this machine.')])),
                        ('unit', models.CharField(default='quantumpay-node', max_length=100, validators=[django.core.validators.RegexValidator('^[A-Za-z0-9][A-Za-z0-9@._-]{0,99}$', 'A systemd unit name.')])),
                        ('data_dir', models.CharField(default='/var/lib/quantumpay', help_text="The node's state directory; the default snapshot command tars it.", max_length=300, validators=[django.core.validators.RegexValidator('^/[A-Za-z0-9._/-]*$', 'An absolute path of plain characters.')])),
                        ('frozen', models.BooleanField(default=False)),
                        ('frozen_at', models.DateTimeField(blank=True, null=True)),
                        ('unfreeze_requested_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'ordering': ['environment', 'name'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
