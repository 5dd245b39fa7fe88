"""Fleet work waiting for a person, for their home page (qpgov/inbox.py)."""

from __future__ import annotations

from django.urls import reverse

from qpgov import roles
from qpgov.inbox import Item, Section, first

from .models import AlertGroup


def sections(user, now) -> list[Section]:
    if not roles.can(user, "view_alerts"):
        return []
    # Firing and not yet tied to any incident: someone has to look. (The relation is
    # the incidents app's, read by name only: fleet does not import incidents.)
    groups = (AlertGroup.objects.filter(status=AlertGroup.FIRING, incidents__isnull=True)
              .order_by("-awaiting_confirmation", "-last_received_at", "-id"))
    rows, total = first(groups)
    return [Section(
        "Firing alerts without an incident",
        [Item(g.title, g.get_absolute_url(),
              (f"awaiting confirmation: {g.confirmation_note} · " if g.awaiting_confirmation
               else "") + f"last heard {g.last_received_at:%Y-%m-%d %H:%M} UTC",
              urgent=g.awaiting_confirmation) for g in rows],
        total, reverse("alerts:list"), "No alert is firing without an incident.")]
