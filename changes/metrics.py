"""Change-control metrics for /metrics, derived from the records at scrape time (see qpgov/metrics.py)."""

from collections.abc import Iterable

from django.db.models import Case, CharField, Count, F, Value, When
from prometheus_client.core import Metric

from changes import policy
from changes.models import Proposal, State
from qpgov.metrics import duration_histogram, gauge_by_label

CATEGORIES = [value for value, _ in policy.CATEGORY_CHOICES]
# Review windows run from hours to a couple of weeks.
DECISION_BUCKETS = tuple(hours * 3600 for hours in (1, 6, 12, 24, 48, 72, 120, 168, 336, 720))
# Every state a proposal reaches through a council decision or the deadline;
# implemented, rolled back and lapsed proposals were approved first.
APPROVED_LATER = (State.APPROVED, State.IMPLEMENTED, State.ROLLED_BACK, State.LAPSED)
DECIDED = (*APPROVED_LATER, State.REJECTED, State.EXPIRED)


class ChangesCollector:
    """Proposals in review by category, and how long review took until the decision."""

    def collect(self) -> Iterable[Metric]:
        counts = dict(Proposal.objects.filter(state=State.IN_REVIEW).order_by()
                      .values_list("category").annotate(n=Count("pk")))
        yield gauge_by_label("qpgov_proposals_in_review",
                             "Proposals submitted and waiting for a decision, by category.",
                             "category", counts, known=CATEGORIES)
        decided = Proposal.objects.filter(
            state__in=DECIDED, submitted_at__isnull=False, decided_at__isnull=False
        ).annotate(decision=Case(
            When(state__in=APPROVED_LATER, then=Value("approved")),
            default=F("state"), output_field=CharField(),
        ))
        yield duration_histogram(
            "qpgov_proposal_time_to_decision_seconds",
            "From a proposal's submission to its decision (approved, rejected or expired), "
            "by category.",
            decided, F("decided_at") - F("submitted_at"),
            labels=["category", "decision"], buckets=DECISION_BUCKETS,
        )
