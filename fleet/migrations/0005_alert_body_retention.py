"""Alert delivery bodies get a hash and a size, kept when the body is pruned."""

import hashlib

from django.db import migrations, models


def hash_existing_bodies(apps, schema_editor):
    AlertDelivery = apps.get_model("fleet", "AlertDelivery")
    for delivery in AlertDelivery.objects.only("id", "body").iterator(chunk_size=200):
        raw = delivery.body.encode("utf-8")
        AlertDelivery.objects.filter(id=delivery.id).update(
            body_sha256=hashlib.sha256(raw).hexdigest(), body_bytes=len(raw))


class Migration(migrations.Migration):
    dependencies = [("fleet", "0004_node_checks")]

    operations = [
        migrations.AddField("alertdelivery", "body_sha256", models.CharField(blank=True, max_length=64)),
        migrations.AddField("alertdelivery", "body_bytes", models.PositiveIntegerField(blank=True, null=True)),
        migrations.AddField("alertdelivery", "body_pruned_at", models.DateTimeField(blank=True, null=True)),
        migrations.AlterField(
            "alertdelivery", "body",
            models.TextField(help_text="The request body exactly as Alertmanager sent it; emptied "
                                       "QPGOV_ALERT_BODY_RETENTION_DAYS after it was processed.")),
        migrations.RunPython(hash_existing_bodies, migrations.RunPython.noop),
    ]
