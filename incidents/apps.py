from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incident response"

    def ready(self):
        from incidents.metrics import IncidentsCollector
        from qpgov import metrics

        metrics.register("incidents", IncidentsCollector())

        # Alerts are stored by fleet, which must not import incidents; incidents
        # says here that it wants to hear about them (docs/architecture.md).
        from fleet import alerts as fleet_alerts

        from . import alerts

        if alerts.on_alert_changes not in fleet_alerts.listeners:
            fleet_alerts.listeners.append(alerts.on_alert_changes)
