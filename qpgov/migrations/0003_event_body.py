from django.db import migrations, models

from qpgov.models import HASHED_FIELDS, canonical_bytes

BATCH = 5000


def fill_bodies(apps, schema_editor):
    """Write each existing event's canonical text from its columns, in batches by id.

    This reuses the live canonical_bytes on purpose: it must produce exactly the
    bytes the stored hashes were computed over, and it never changes. A row whose
    columns were altered gets a body that does not match its hash, so verify_log
    still reports it.
    """
    Event = apps.get_model("qpgov", "Event")
    connection = schema_editor.connection
    table = connection.ops.quote_name(Event._meta.db_table)
    last_id = 0
    while True:
        rows = list(Event.objects.filter(id__gt=last_id).order_by("id")
                    .values_list("id", *HASHED_FIELDS)[:BATCH])
        if not rows:
            return
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET body = %s WHERE id = %s",  # noqa: S608 - quoted name
                               [(canonical_bytes(tuple(values)).decode("ascii"), pk) for pk, *values in rows])
        last_id = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("qpgov", "0002_signinfailure"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="body",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(fill_bodies, migrations.RunPython.noop),
    ]
