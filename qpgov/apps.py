from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
