"""Alert intake metrics for /metrics, derived from the records at scrape time (see qpgov/metrics.py)."""

from collections.abc import Iterable

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from qpgov.metrics import gauge_by_label

from .models import Alert, AlertDelivery, MonitoringSilence


class AlertsCollector:
    """Alerts received and deduplicated, deliveries by status, alerts firing, monitoring silent."""

    def collect(self) -> Iterable[Metric]:
        done = AlertDelivery.objects.filter(status=AlertDelivery.PROCESSED).aggregate(
            received=Coalesce(Sum("alert_count"), 0), skipped=Coalesce(Sum("skipped_alerts"), 0),
            changed=Coalesce(Sum("changed_alerts"), 0))
        yield CounterMetricFamily(
            "qpgov_alerts_received", "Alerts in the Alertmanager webhook bodies processed "
            "(re-sends included).", value=done["received"])
        yield CounterMetricFamily(
            "qpgov_alerts_deduplicated", "Alerts received that changed nothing: a re-send "
            "of what qpgov already held.", value=done["received"] - done["skipped"] - done["changed"])
        yield CounterMetricFamily(
            "qpgov_alerts_skipped", "Alerts received that could not be read (no fingerprint, "
            "a bad date).", value=done["skipped"])
        statuses = dict(AlertDelivery.objects.order_by().values_list("status")
                        .annotate(n=Count("pk")))
        yield gauge_by_label("qpgov_alert_deliveries", "Webhook deliveries held, by status.",
                             "status", statuses, known=[s for s, _ in AlertDelivery.STATUSES])
        alerts = Alert.objects.aggregate(firing=Count("pk", filter=Q(status=Alert.FIRING)))
        yield GaugeMetricFamily("qpgov_alerts_firing", "Alerts firing now, as Alertmanager last said.",
                                value=alerts["firing"])
        silent = MonitoringSilence.objects.filter(open=True).exists()
        yield GaugeMetricFamily("qpgov_monitoring_silent",
                                "1 while the watchdog alert has not been heard for too long.",
                                value=int(silent))
