"""Which change freezes are in force, derived every time from the records.

Two sources, one shape (`FreezeWindow`):
- manual `Freeze` rows, declared by Core Ops or the Council (blackout windows);
- open incidents at or above `QPGOV_FREEZE_SEVERITY` on a mainnet node: a freeze
  from the incident's declaration until it is resolved. It is never copied into
  a second record, so it can never disagree with the incident.

Every window is half-open: in force from its start (inclusive) to its end
(exclusive). A freeze ending at 12:00 no longer holds a decision at 12:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from fleet.models import Node
from incidents.models import Incident

from . import policy
from .models import Environment, Freeze

MANUAL, INCIDENT = "manual", "incident"
ALL_CATEGORIES = (policy.OPS, policy.GOVERNANCE)
SEVERITIES = ("SEV1", "SEV2", "SEV3")
# A moment, as a window for the overlap queries.
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class FreezeWindow:
    kind: str  # MANUAL or INCIDENT
    pk: int
    title: str
    reason: str
    starts_at: datetime
    ends_at: datetime | None  # None: until lifted, or until the incident is resolved
    categories: tuple[str, ...]
    node_ids: frozenset[int]  # empty: every node
    node_names: tuple[str, ...]
    url: str

    @property
    def name(self) -> str:
        """How pages and refusals name it."""
        return self.title

    @property
    def until(self) -> str:
        """When it ends, in words: a time, or what ends it."""
        if self.ends_at is not None:
            return f"until {self.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if self.kind == INCIDENT:
            return f"until INC-{self.pk} is resolved"
        return "until it is lifted"

    def in_force(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True if it is in force at some moment of [start, end)."""
        return self.starts_at < end and (self.ends_at is None or start < self.ends_at)

    def covers(self, proposal, node_ids: set[int] | None = None) -> bool:
        """True if the freeze applies to `proposal` (its category, environment and nodes)."""
        if proposal.category not in self.categories:
            return False
        # An incident freeze protects mainnet; a testnet-only change goes ahead.
        if self.kind == INCIDENT and proposal.environments == Environment.TESTNET:
            return False
        if self.node_ids:
            if node_ids is None:
                node_ids = set(proposal.nodes.values_list("pk", flat=True)) if proposal.pk else set()
            # A change that names none of its nodes cannot be shown to be outside it.
            if node_ids and not (node_ids & self.node_ids):
                return False
        return True


def freezing_severities() -> tuple[str, ...]:
    """SEV1 freezes by default; a threshold of SEV2 makes SEV1 and SEV2 freeze."""
    return tuple(s for s in SEVERITIES if s <= settings.QPGOV_FREEZE_SEVERITY)


def _manual(freeze: Freeze) -> FreezeWindow:
    nodes = list(freeze.nodes.all())
    return FreezeWindow(
        kind=MANUAL, pk=freeze.pk, title=f"Freeze #{freeze.pk}: {freeze.title}",
        reason=freeze.reason, starts_at=freeze.starts_at, ends_at=freeze.effective_end,
        categories=tuple(freeze.categories), node_ids=frozenset(n.pk for n in nodes),
        node_names=tuple(n.name for n in nodes), url=reverse("changes:freezes") + f"#freeze-{freeze.pk}",
    )


def _incident(incident: Incident) -> FreezeWindow:
    return FreezeWindow(
        kind=INCIDENT, pk=incident.pk,
        title=f"Incident freeze: INC-{incident.pk} ({incident.severity}) {incident.title}",
        reason=f"{incident.severity} incident open on mainnet: changes to mainnet wait until it "
               "is resolved.",
        starts_at=incident.declared_at, ends_at=incident.resolved_at,
        categories=ALL_CATEGORIES, node_ids=frozenset(), node_names=(),
        url=reverse("incidents:detail", args=[incident.pk]),
    )


def windows(start: datetime | None = None, end: datetime | None = None) -> list[FreezeWindow]:
    """Every freeze in force at some moment of [start, end), by start time.

    Without `end`, every freeze that has not ended by `start`; without either, all.
    """
    manual = Freeze.objects.prefetch_related("nodes")
    incidents = Incident.objects.filter(
        severity__in=freezing_severities(), nodes__environment=Node.MAINNET
    ).distinct()
    if end is not None:
        manual = manual.filter(starts_at__lt=end)
        incidents = incidents.filter(declared_at__lt=end)
    if start is not None:
        manual = manual.filter(Q(ends_at=None) | Q(ends_at__gt=start),
                               Q(lifted_at=None) | Q(lifted_at__gt=start))
        incidents = incidents.filter(Q(resolved_at=None) | Q(resolved_at__gt=start))
    found = [_manual(f) for f in manual] + [_incident(i) for i in incidents]
    # A freeze lifted before it began was never in force.
    found = [w for w in found if w.ends_at is None or w.starts_at < w.ends_at]
    return sorted(found, key=lambda w: (w.starts_at, w.kind, w.pk))


def in_force(at: datetime) -> list[FreezeWindow]:
    return [w for w in windows(at, at + _INSTANT) if w.in_force(at)]


def holding(proposal, at: datetime, active: list[FreezeWindow] | None = None) -> list[FreezeWindow]:
    """The freezes in force at `at` that hold `proposal`'s decision and implementation.

    `active` is `in_force(at)` when the caller has read it already (the sweep
    reads it once per batch). An emergency change is what an incident freeze
    makes room for: only manual freezes hold it.
    """
    active = in_force(at) if active is None else active
    candidates = [w for w in active if not (proposal.emergency and w.kind == INCIDENT)]
    if not candidates:
        return []
    node_ids = None
    if any(w.node_ids for w in candidates):
        node_ids = set(proposal.nodes.values_list("pk", flat=True))
    return [w for w in candidates if w.covers(proposal, node_ids if node_ids is not None else set())]


def names(found: list[FreezeWindow]) -> str:
    return "; ".join(w.name for w in found)
