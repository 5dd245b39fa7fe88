"""Checkpoints, and PostgreSQL triggers that keep the log append-only below the ORM.

The ORM already refuses to change or delete an event; these triggers refuse it to
raw SQL too (UPDATE, DELETE and TRUNCATE on the events and the checkpoints), and
refuse to move the chain head back. A role that owns the tables can still drop
them: the signed checkpoints are what catch that (docs/security.md). SQLite keeps
the ORM guard only.
"""

from django.db import migrations, models

_CREATE = """
CREATE FUNCTION qpgov_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'qpgov: % on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION qpgov_chainhead_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id
       AND (NEW.seq > OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash = OLD.hash)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'qpgov: % on qpgov_chainhead refused: the chain head only moves forward', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER qpgov_event_append_only BEFORE UPDATE OR DELETE ON qpgov_event
    FOR EACH ROW EXECUTE FUNCTION qpgov_refuse_rewrite();
CREATE TRIGGER qpgov_event_no_truncate BEFORE TRUNCATE ON qpgov_event
    FOR EACH STATEMENT EXECUTE FUNCTION qpgov_refuse_rewrite();
CREATE TRIGGER qpgov_checkpoint_append_only BEFORE UPDATE OR DELETE ON qpgov_checkpoint
    FOR EACH ROW EXECUTE FUNCTION qpgov_refuse_rewrite();
CREATE TRIGGER qpgov_checkpoint_no_truncate BEFORE TRUNCATE ON qpgov_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION qpgov_refuse_rewrite();
CREATE TRIGGER qpgov_chainhead_forward_only BEFORE UPDATE OR DELETE ON qpgov_chainhead
    FOR EACH ROW EXECUTE FUNCTION qpgov_chainhead_forward_only();
CREATE TRIGGER qpgov_chainhead_no_truncate BEFORE TRUNCATE ON qpgov_chainhead
    FOR EACH STATEMENT EXECUTE FUNCTION qpgov_refuse_rewrite();
"""

_DROP = """
DROP TRIGGER qpgov_chainhead_no_truncate ON qpgov_chainhead;
DROP TRIGGER qpgov_chainhead_forward_only ON qpgov_chainhead;
DROP TRIGGER qpgov_checkpoint_no_truncate ON qpgov_checkpoint;
DROP TRIGGER qpgov_checkpoint_append_only ON qpgov_checkpoint;
DROP TRIGGER qpgov_event_no_truncate ON qpgov_event;
DROP TRIGGER qpgov_event_append_only ON qpgov_event;
DROP FUNCTION qpgov_chainhead_forward_only();
DROP FUNCTION qpgov_refuse_rewrite();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('qpgov', '0003_event_body'),
    ]

    operations = [
        migrations.CreateModel(
            name='Checkpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField(unique=True)),
                ('size', models.BigIntegerField(unique=True)),
                ('head_hash', models.CharField(max_length=64)),
                ('note', models.TextField()),
                ('signed_at', models.DateTimeField()),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
