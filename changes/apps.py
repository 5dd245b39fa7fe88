from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Change control"

    def ready(self):
        from changes import checks  # noqa: F401 - imported for the system checks it registers
        from changes.metrics import ChangesCollector
        from qpgov import metrics

        metrics.register("changes", ChangesCollector())
