from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"

    def ready(self):
        from qpgov import metrics  # noqa: F401 - registers the Celery queue collector and the checks
