# The responders' "needs attention" mail is kept with its text and retried by the sweep.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0009_step_partly_done'),
    ]

    operations = [
        migrations.AddField(
            model_name='notificationdelivery',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='notificationdelivery',
            name='body',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='notificationdelivery',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notificationdelivery',
            name='subject',
            field=models.CharField(blank=True, max_length=300),
        ),
    ]
