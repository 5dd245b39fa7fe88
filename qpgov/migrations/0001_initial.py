from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion
import django.utils.timezone

ROLE_NAMES = ("Proposers", "Core Ops", "Governance Council", "Incident Responders")


def create_roles_and_chain_head(apps, schema_editor):
    # The groups carry no Django model permissions: what each role may do is
    # decided in qpgov/roles.py, and the admin is for staff only.
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.get_or_create(name=name)
    ChainHead = apps.get_model("qpgov", "ChainHead")
    ChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(default="0000000000000000000000000000000000000000000000000000000000000000", max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="HealthPing",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                ("answered_by", models.CharField(blank=True, max_length=200)),
            ],
        ),
        migrations.CreateModel(
            name="Event",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(editable=False, unique=True)),
                ("subject_type", models.CharField(max_length=60)),
                ("subject_id", models.BigIntegerField()),
                ("kind", models.CharField(max_length=40)),
                ("actor_name", models.CharField(max_length=150)),
                ("from_state", models.CharField(blank=True, max_length=30)),
                ("to_state", models.CharField(blank=True, max_length=30)),
                ("note", models.TextField(blank=True)),
                ("revision_hash", models.CharField(blank=True, max_length=64)),
                ("data", models.JSONField(blank=True, default=dict)),
                ("occurred_at", models.DateTimeField()),
                ("recorded_at", models.DateTimeField()),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
                ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "indexes": [models.Index(fields=["subject_type", "subject_id", "seq"], name="qpgov_event_subject_b78f19_idx")],
            },
        ),
        migrations.RunPython(create_roles_and_chain_head, migrations.RunPython.noop),
    ]
