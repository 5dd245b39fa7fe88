from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"

    def ready(self):
        # Imported for what they register: the system checks, and the Celery
        # queue collector with the /metrics checks.
        from . import checks, metrics  # noqa: F401
