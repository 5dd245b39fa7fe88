from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incident response"

    def ready(self):
        from incidents.metrics import IncidentsCollector
        from qpgov import metrics

        metrics.register("incidents", IncidentsCollector())
