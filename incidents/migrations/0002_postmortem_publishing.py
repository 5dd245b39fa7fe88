"""The post-mortem draft becomes a reviewed, publishable post-mortem with amendments."""

import django.db.models.deletion
import django.utils.timezone
import django_fsm
from django.conf import settings
from django.db import migrations, models


def titles_from_incidents(apps, schema_editor):
    Postmortem = apps.get_model("incidents", "Postmortem")
    for pm in Postmortem.objects.select_related("incident").filter(title=""):
        Postmortem.objects.filter(pk=pm.pk).update(title=pm.incident.title[:200])


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel("PostmortemDraft", "Postmortem"),
        migrations.AddField("postmortem", "title", models.CharField(
            default="", help_text="Public title.", max_length=200), preserve_default=False),
        migrations.RunPython(titles_from_incidents, migrations.RunPython.noop),
    ]
