"""The Celery app. Settings come from Django settings under the CELERY_ prefix."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qpgov.settings")

app = Celery("qpgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(sender=None, **kwargs):
    """Between tasks, treat database connections as Django does between web requests.

    A connection is kept while DB_CONN_MAX_AGE allows and health-checked before
    its next use, so a restarted PostgreSQL costs one reconnect, not a failed
    step; it is closed when too old or broken. Celery's Django fixup would
    close it around every task (see CELERY_DB_REUSE_MAX in settings), which made
    each incident step pay for a new PostgreSQL connection.
    """
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()
