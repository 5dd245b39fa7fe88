"""Fleet work waiting for a person, for their home page (qpgov/inbox.py)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.urls import reverse

from qpgov import roles
from qpgov.inbox import Item, Section, first

from .models import Alert, AlertGroup, MonitoringSilence


def sections(user, now) -> list[Section]:
    if not roles.can(user, "view_alerts"):
        return []
    # Firing and not yet tied to any incident: someone has to look. (The relation is
    # the incidents app's, read by name only: fleet does not import incidents.)
    # The Watchdog fires all the time by design (it proves monitoring is alive):
    # a group in which nothing else fires is no one's work and is left out.
    firing = Alert.objects.filter(group=OuterRef("pk"), status=Alert.FIRING)
    watchdog = settings.QPGOV_ALERT_WATCHDOG_NAME
    groups = (AlertGroup.objects.filter(status=AlertGroup.FIRING, incidents__isnull=True)
              .exclude(Exists(firing.filter(alertname=watchdog))
                       & ~Exists(firing.exclude(alertname=watchdog)))
              .order_by("-awaiting_confirmation", "-last_received_at", "-id"))
    rows, total = first(groups)
    items = [Item(g.title, g.get_absolute_url(),
                  (f"awaiting confirmation: {g.confirmation_note} · " if g.awaiting_confirmation
                   else "") + f"last heard {g.last_received_at:%Y-%m-%d %H:%M} UTC",
                  urgent=g.awaiting_confirmation) for g in rows]
    # While the watchdog is unheard, "nothing firing" may only mean nothing arrives:
    # say so first, in the same list, so an empty list is never read as all clear.
    silence = MonitoringSilence.objects.filter(ended_at__isnull=True).first()
    if silence is not None:
        items.insert(0, Item(
            "Monitoring silent: alerts may not be reaching qpgov", reverse("alerts:list"),
            f"the watchdog alert has not been heard since {silence.started_at:%Y-%m-%d %H:%M} UTC",
            urgent=True))
        total += 1
    return [Section("Firing alerts without an incident", items, total, reverse("alerts:list"),
                    "No alert is firing without an incident.")]
