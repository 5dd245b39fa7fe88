"""What a proposal collides with: listed at submission and before implementation.

A conflict is another approved or in-review change on the same node or
component whose planned window overlaps, a freeze in scope during the planned
window, or an open incident on the proposal's nodes. Conflicts do not block;
implementing over one needs a written reason, which goes on the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from incidents.models import Incident

from . import freezes
from .models import Proposal, State

CHANGE, FREEZE, INCIDENT = "change", "freeze", "incident"
OPEN_INCIDENT_STATES = (Incident.DECLARED, Incident.RESPONDING, Incident.CONTAINED)


@dataclass(frozen=True)
class Clash:
    kind: str
    text: str
    url: str

    def as_data(self) -> dict:
        return {"kind": self.kind, "text": self.text}


def for_proposal(proposal: Proposal, nodes=None, windows=None) -> list[Clash]:
    """Every conflict of `proposal` as things stand now.

    `nodes` (its nodes) and `windows` (freeze windows covering at least its planned
    window) may be passed when the caller has read them already.
    """
    start, end = proposal.planned_start, proposal.planned_end
    nodes = list(proposal.nodes.all()) if nodes is None else nodes
    node_ids = {n.pk for n in nodes}
    components = proposal.component_set()
    found: list[Clash] = []

    others = (
        Proposal.objects.filter(state__in=(State.IN_REVIEW, State.APPROVED),
                                planned_start__lt=end, planned_end__gt=start)
        .exclude(pk=proposal.pk).prefetch_related("nodes").order_by("planned_start", "pk")
    )
    for other in others:
        shared_nodes = sorted(n.name for n in other.nodes.all() if n.pk in node_ids)
        shared_components = sorted(components & other.component_set())
        if not (shared_nodes or shared_components):
            continue
        touched = ", ".join([*(f"node {n}" for n in shared_nodes),
                             *(f"component {c}" for c in shared_components)])
        found.append(Clash(
            CHANGE,
            f"#{other.pk} “{other.title}” ({other.get_state_display().lower()}) also touches "
            f"{touched}, planned {other.planned_start:%Y-%m-%d %H:%M}–"
            f"{other.planned_end:%Y-%m-%d %H:%M} UTC.",
            other.get_absolute_url(),
        ))

    windows = freezes.windows(start, end) if windows is None else windows
    for window in windows:
        if not window.overlaps(start, end) or not window.covers(proposal, node_ids):
            continue
        if window.kind == freezes.INCIDENT and window.pk == proposal.incident_id:
            continue  # the incident an emergency change responds to
        until = f"{window.ends_at:%Y-%m-%d %H:%M} UTC" if window.ends_at else "further notice"
        found.append(Clash(
            FREEZE,
            f"{window.name}, from {window.starts_at:%Y-%m-%d %H:%M} UTC until {until}, "
            "overlaps the planned window.",
            window.url,
        ))

    if node_ids:
        incidents = (Incident.objects.filter(nodes__in=node_ids, state__in=OPEN_INCIDENT_STATES)
                     .exclude(pk=proposal.incident_id or 0).distinct().order_by("pk"))
        for incident in incidents:
            on = ", ".join(sorted(n.name for n in incident.nodes.all() if n.pk in node_ids))
            found.append(Clash(
                INCIDENT,
                f"INC-{incident.pk} ({incident.severity}) “{incident.title}” is open on {on}.",
                reverse("incidents:detail", args=[incident.pk]),
            ))
    return found
