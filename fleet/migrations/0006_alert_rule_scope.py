# Alert rules scoped to a node environment and/or role (review 14, G2): "a stall on a
# mainnet validator declares SEV1" while the same alert elsewhere only asks a person.
# Existing rules get blank scopes, which mean any node: they act as before.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fleet', '0005_alert_body_retention'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='alertrule',
            options={'ordering': ['alertname', 'environment', 'node_role']},
        ),
        migrations.AddField(
            model_name='alertrule',
            name='environment',
            field=models.CharField(blank=True, choices=[('mainnet', 'mainnet'), ('testnet', 'testnet')], help_text='Only alerts on nodes of this environment. Blank: any node, and alerts that name no registered node.', max_length=10),
        ),
        migrations.AddField(
            model_name='alertrule',
            name='node_role',
            field=models.CharField(blank=True, choices=[('validator', 'validator'), ('full', 'full node'), ('rpc', 'RPC node')], help_text='Only alerts on nodes with this role. Blank: any node, and alerts that name no registered node.', max_length=10),
        ),
        migrations.AlterField(
            model_name='alertrule',
            name='alertname',
            field=models.CharField(max_length=200),
        ),
        migrations.AddConstraint(
            model_name='alertrule',
            constraint=models.UniqueConstraint(fields=('alertname', 'environment', 'node_role'), name='one_alert_rule_per_scope'),
        ),
    ]
