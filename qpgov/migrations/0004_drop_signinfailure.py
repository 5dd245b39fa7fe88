# Sign-in failures are counted by django-axes now (qpgov/signin.py).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("qpgov", "0003_event_body"),
    ]

    operations = [
        migrations.DeleteModel(name="SignInFailure"),
    ]
