# Sign-in failures are counted by django-axes now (qpgov/signin.py).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("qpgov", "0004_checkpoints_and_event_triggers"),
    ]

    operations = [
        migrations.DeleteModel(name="SignInFailure"),
    ]
