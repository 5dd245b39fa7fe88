"""What the fleet page shows for each node, one small function per concern.

Each function takes node ids and answers for all of them in a fixed number of
queries, so the page costs the same at 1 node as at 500. A new concern (open
alerts, for one) is one more function and one more field on NodeRow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from . import checks, uptime
from .models import Alert, Node, NodeCheck


@dataclass
class NodeRow:
    node: Node
    checks: list[tuple[str, NodeCheck | None]] = field(default_factory=list)  # in KINDS order
    uptime: uptime.Uptime | None = None
    open_incidents: int = 0
    open_alerts: int = 0

    @property
    def chart(self) -> list[dict]:
        return uptime.chart(self.uptime) if self.uptime else []


def latest_checks(node_ids: list[int]) -> dict[int, dict[str, NodeCheck]]:
    """Each node's most recent check of each kind (two queries)."""
    latest_ids = (NodeCheck.objects.filter(node_id__in=node_ids).values("node_id", "kind")
                  .annotate(last=Max("id")).values_list("last", flat=True))
    found: dict[int, dict[str, NodeCheck]] = {}
    for check in NodeCheck.objects.filter(id__in=list(latest_ids)):
        found.setdefault(check.node_id, {})[check.kind] = check
    return found


def open_alerts(node_ids: list[int]) -> dict[int, int]:
    """How many alerts fire now on each node (one query)."""
    return dict(Alert.objects.filter(node_id__in=node_ids, status=Alert.FIRING)
                .values("node_id").annotate(n=Count("id")).values_list("node_id", "n"))


def with_open_incidents(nodes: QuerySet[Node]) -> QuerySet[Node]:
    """Annotate `open_incidents`: incidents on the node not yet resolved.

    Through the reverse relation that incidents declare on Node, so fleet needs
    nothing from the incidents app (tests/test_fleet_layering.py).
    """
    return nodes.annotate(open_incidents=Count(
        "incidents", filter=Q(incidents__resolved_at__isnull=True), distinct=True))


def fleet_rows(nodes: QuerySet[Node], now: datetime) -> list[NodeRow]:
    nodes = list(with_open_incidents(nodes))
    ids = [n.id for n in nodes]
    latest = latest_checks(ids)
    uptimes = uptime.for_nodes(ids, now)
    alerts = open_alerts(ids)
    return [
        NodeRow(node=n, checks=[(kind, latest.get(n.id, {}).get(kind)) for kind in checks.KINDS],
                uptime=uptimes[n.id], open_incidents=n.open_incidents,
                open_alerts=alerts.get(n.id, 0))
        for n in nodes
    ]
