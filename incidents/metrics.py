"""Incident metrics for /metrics, derived from the records at scrape time (see qpgov/metrics.py)."""

from collections.abc import Iterable

from django.db.models import Count, F
from prometheus_client.core import Metric

from incidents import runbook
from incidents.models import Incident, ResponseStep
from qpgov.metrics import duration_histogram, gauge_by_label

OPEN_STATES = (Incident.DECLARED, Incident.RESPONDING, Incident.CONTAINED)
SEVERITIES = [value for value, _ in Incident.SEVERITIES]
# Declared to frozen: a SEV1 target is minutes, so the buckets are fine there.
CONTAINMENT_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
# One run of a step: a freeze takes seconds, a snapshot of a large node an hour.
STEP_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
FINISHED_STEP_STATUSES = (ResponseStep.SUCCEEDED, ResponseStep.FAILED, ResponseStep.NEEDS_HUMAN)


class IncidentsCollector:
    """Open incidents by severity, time to containment, and how long response steps run."""

    def collect(self) -> Iterable[Metric]:
        counts = dict(Incident.objects.filter(state__in=OPEN_STATES).order_by()
                      .values_list("severity").annotate(n=Count("pk")))
        yield gauge_by_label("qpgov_incidents_open",
                             "Incidents declared and not yet resolved, by severity.",
                             "severity", counts, known=SEVERITIES)
        yield duration_histogram(
            "qpgov_incident_time_to_containment_seconds",
            "From an incident's declaration to the success of its freeze step, by severity.",
            ResponseStep.objects.filter(kind=runbook.FREEZE, status=ResponseStep.SUCCEEDED,
                                        finished_at__isnull=False),
            F("finished_at") - F("incident__declared_at"),
            labels=["incident__severity"], buckets=CONTAINMENT_BUCKETS,
            label_names=["severity"],
        )
        yield duration_histogram(
            "qpgov_incident_step_duration_seconds",
            "How long the last run of each finished response step took, by step and outcome.",
            ResponseStep.objects.filter(status__in=FINISHED_STEP_STATUSES,
                                        started_at__isnull=False, finished_at__isnull=False),
            F("finished_at") - F("started_at"),
            labels=["kind", "status"], buckets=STEP_BUCKETS, label_names=["step", "status"],
        )
