from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Fleet"

    def ready(self):
        from qpgov import metrics

        from .metrics import AlertsCollector

        metrics.register("alerts", AlertsCollector())
