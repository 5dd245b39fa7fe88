"""A scheduled check run records the scheduled run it follows, unique: two beats start it once.

Runs from before this migration keep an empty value (empty values are never equal
to one another), so nothing has to be filled in; the next scheduled run follows
the latest of them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fleet", "0006_alert_rule_scope")]

    operations = [
        migrations.AddField("checkrun", "follows_scheduled_at",
                            models.DateTimeField(blank=True, null=True)),
        migrations.AddConstraint("checkrun", models.UniqueConstraint(
            condition=models.Q(("trigger", "schedule")), fields=("follows_scheduled_at",),
            name="one_scheduled_check_run_after_each")),
    ]
