"""Public incident notices: short status updates while an incident is open (playbook section 7).

Any Incident Responder drafts a notice; the incident's commander publishes it.
Publishing runs the same compliance and sensitive-data checks as a post-mortem,
and a finding blocks it outright: a notice is a few sentences, rewriting one
is quicker and safer than arguing an override. Drills are never announced.
Published notices never change; a correction is a new notice. Every step is an
event on the shared log.

The public side (the status page, its feed and the Statuspage-compatible JSON)
reads only published notices of incidents that are not drills, through
`published()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from qpgov import compliance, eventlog, pagecache, roles, sensitive
from qpgov.http import Conflict
from qpgov.site import absolute_url

from .models import Incident, Notice

PAGE_GROUP = "status"  # the qpgov.pagecache group of every public status page
OPEN_STATES = (Incident.DECLARED, Incident.RESPONDING, Incident.CONTAINED)
# Statuspage's page-wide indicator for the worst impact still unresolved.
INDICATOR_DESCRIPTIONS = {"none": "All Systems Operational", "minor": "Minor Service Outage",
                          "major": "Partial System Outage", "critical": "Major System Outage"}
COMPONENT_STATUS = {"none": "operational", "minor": "degraded_performance",
                    "major": "partial_outage", "critical": "major_outage"}
IMPACT_ORDER = [code for code, _ in Notice.IMPACTS]


def review(notice: Notice) -> list[compliance.Finding]:
    """What stands between a notice and publication: compliance and sensitive-data findings."""
    text = notice.public_text()
    return compliance.check(text) + sensitive.check(text, **sensitive.known_names())


def _last_published(incident: Incident) -> Notice | None:
    return incident.notices.filter(published_at__isnull=False).order_by("-published_at", "-pk").first()


def refusal(incident: Incident, status: str) -> str:
    """Why a notice with `status` cannot go out for `incident` now ("" if it can).

    Notices are for open incidents. Once the incident is resolved inside qpgov,
    one "resolved" notice may still close the public story.
    """
    if incident.drill:
        return "This incident is a drill; drills are never announced publicly."
    if incident.state in OPEN_STATES:
        return ""
    if status != Notice.RESOLVED:
        return "The incident is resolved; the only notice left to publish is a resolved one."
    last = _last_published(incident)
    if last is not None and last.status == Notice.RESOLVED:
        return "The incident is resolved and a resolved notice is already public."
    return ""


def draft(incident: Incident, user, *, status: str, impact: str, title: str, body: str) -> Notice:
    """Save a draft notice; nothing is public until the commander publishes it."""
    roles.require(user, "draft_notice")
    reason = refusal(incident, status)
    if reason:
        raise Conflict(reason)
    with transaction.atomic():
        notice = Notice(incident=incident, author=user, status=status, impact=impact,
                        title=title, body=body)
        notice.full_clean()
        notice.save()
        eventlog.append(notice, "notice_drafted", actor=user, to_state=status,
                        revision_hash=notice.compute_hash(),
                        note=f"draft notice on INC-{incident.pk}: {status}, impact {impact}")
    return notice


def _require_commander(notice: Notice, user):
    roles.require(user, "publish_notice")
    if notice.incident.commander_id != user.pk:
        raise PermissionDenied("Only the incident commander publishes public notices.")


def publish(notice: Notice, user) -> Notice:
    """The commander approves and publishes a draft. Any check finding refuses it."""
    with transaction.atomic():
        notice = Notice.objects.select_for_update().select_related("incident").get(pk=notice.pk)
        _require_commander(notice, user)
        if notice.is_published:
            raise Conflict("This notice is already public; publish a new notice to correct it.")
        reason = refusal(notice.incident, notice.status)
        if reason:
            raise Conflict(reason)
        findings = review(notice)
        if findings:
            raise ValidationError(
                ["The compliance or sensitive-data check found problems; discard this draft "
                 "and write a new one without them:"] + [str(f) for f in findings])
        notice.published_at = timezone.now()
        notice.published_by = user
        notice.content_hash = notice.compute_hash()
        notice.save()
        pagecache.touch(PAGE_GROUP)
        eventlog.append_many([
            eventlog.entry(notice, "notice_published", actor=user, to_state=notice.status,
                           revision_hash=notice.content_hash, note=public_link(notice.incident_id)),
            eventlog.entry(notice.incident, "notice_published", actor=user,
                           revision_hash=notice.content_hash,
                           note=f"public notice {notice.pk}: {notice.status}, impact {notice.impact}"),
        ])
    return notice


def discard(notice: Notice, user) -> None:
    """Drop a draft (a published notice stays: corrections are new notices)."""
    roles.require(user, "draft_notice")
    with transaction.atomic():
        notice = Notice.objects.select_for_update().get(pk=notice.pk)
        if notice.is_published:
            raise Conflict("A published notice stays public; publish a new notice to correct it.")
        eventlog.append(notice.incident, "notice_discarded", actor=user,
                        revision_hash=notice.compute_hash(), note=f"draft notice {notice.pk} discarded")
        notice.delete()


# --- The public side -------------------------------------------------------------

LIMIT = 50  # incidents on the page, the feed and incidents.json, as Statuspage shows


def published():
    """Published notices of real (not drill) incidents: all the public ever sees."""
    return Notice.objects.filter(published_at__isnull=False, incident__drill=False)


def changed_at() -> datetime | None:
    """When the public status last changed: the stamp of the status pages' cache."""
    return published().aggregate(last=Max("published_at"))["last"]


def public_link(incident_id: int) -> str:
    return absolute_url(reverse("status:page") + f"#incident-{incident_id}")


@dataclass
class PublicIncident:
    """An incident as the public sees it: built only from its published notices."""

    id: int
    updates: list[Notice] = field(default_factory=list)  # newest first

    @property
    def latest(self) -> Notice:
        return self.updates[0]

    @property
    def name(self) -> str:
        return self.latest.title

    @property
    def status(self) -> str:
        return self.latest.status

    @property
    def impact(self) -> str:
        return self.latest.impact

    @property
    def resolved(self) -> bool:
        return self.status == Notice.RESOLVED

    @property
    def created_at(self) -> datetime:
        return self.updates[-1].published_at

    @property
    def updated_at(self) -> datetime:
        return self.latest.published_at

    @property
    def resolved_at(self) -> datetime | None:
        return self.latest.published_at if self.resolved else None

    @property
    def monitoring_at(self) -> datetime | None:
        times = [n.published_at for n in self.updates if n.status == Notice.MONITORING]
        return min(times) if times else None

    @property
    def shortlink(self) -> str:
        return public_link(self.id)


def public_incidents(limit: int = LIMIT) -> list[PublicIncident]:
    """The `limit` incidents whose public status changed last, newest first. Two queries."""
    recent = list(published().values("incident_id").annotate(last=Max("published_at"))
                  .order_by("-last", "-incident_id").values_list("incident_id", flat=True)[:limit])
    by_id = {pk: PublicIncident(pk) for pk in recent}
    notices = (published().filter(incident_id__in=recent)
               .only("pk", "incident_id", "status", "impact", "title", "body", "published_at")
               .order_by("-published_at", "-pk"))
    for notice in notices:
        by_id[notice.incident_id].updates.append(notice)
    return [by_id[pk] for pk in recent]


def indicator(incidents: list[PublicIncident]) -> str:
    """The worst impact among unresolved incidents ("none" when all is well)."""
    open_impacts = [i.impact for i in incidents if not i.resolved]
    return max(open_impacts, key=IMPACT_ORDER.index, default="none")


# --- Statuspage-compatible JSON (https://<page>.statuspage.io/api/v2/) -----------------

PAGE_ID = "qpgov"
PAGE_NAME = "Quantumpay mainnet"
COMPONENT_ID = "mainnet"
COMPONENT_NAME = "Mainnet"


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def created_at() -> datetime:
    """When the status page began (settings.QPGOV_STATUS_PAGE_CREATED_AT): fixed, never null."""
    return settings.QPGOV_STATUS_PAGE_CREATED_AT.astimezone(UTC)


def page_json(updated_at: datetime | None) -> dict:
    return {"id": PAGE_ID, "name": PAGE_NAME,
            "url": absolute_url(reverse("status:page")), "time_zone": "Etc/UTC",
            "updated_at": _time(updated_at or created_at())}


def component_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    return {"id": COMPONENT_ID, "name": COMPONENT_NAME,
            "status": COMPONENT_STATUS[indicator(incidents)], "created_at": _time(created_at()),
            "updated_at": _time(updated_at or created_at()), "position": 1,
            "description": "Block production and transaction processing on mainnet.",
            "showcase": True, "start_date": None, "group_id": None, "page_id": PAGE_ID,
            "group": False, "only_show_if_degraded": False}


def incident_json(incident: PublicIncident, component: dict) -> dict:
    """One incident; `component` is the Mainnet component as it stands, listed while the
    incident is unresolved and has an impact, as Statuspage lists the components it affects."""
    return {
        "id": str(incident.id),
        "name": incident.name,
        "status": incident.status,
        "created_at": _time(incident.created_at),
        "updated_at": _time(incident.updated_at),
        "monitoring_at": _time(incident.monitoring_at),
        "resolved_at": _time(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": incident.shortlink,
        "started_at": _time(incident.created_at),
        "page_id": PAGE_ID,
        "incident_updates": [{
            "id": str(n.pk),
            "status": n.status,
            "body": n.body,
            "incident_id": str(incident.id),
            "created_at": _time(n.published_at),
            "updated_at": _time(n.published_at),
            "display_at": _time(n.published_at),
            "affected_components": None,
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
        } for n in incident.updates],
        "components": [component] if not incident.resolved and incident.impact != "none" else [],
    }


def status_json(incidents: list[PublicIncident]) -> dict:
    level = indicator(incidents)
    return {"indicator": level, "description": INDICATOR_DESCRIPTIONS[level]}


# The documents of /api/v2/: each is built from the public incidents and the time of the
# newest notice (None before the first).

def summary_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    component = component_json(incidents, updated_at)
    return {
        "page": page_json(updated_at),
        "components": [component],
        "incidents": [incident_json(i, component) for i in incidents if not i.resolved],
        "scheduled_maintenances": [],
        "status": status_json(incidents),
    }


def status_page_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    return {"page": page_json(updated_at), "status": status_json(incidents)}


def components_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    return {"page": page_json(updated_at), "components": [component_json(incidents, updated_at)]}


def incidents_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    component = component_json(incidents, updated_at)
    return {"page": page_json(updated_at), "incidents": [incident_json(i, component) for i in incidents]}


def unresolved_json(incidents: list[PublicIncident], updated_at: datetime | None) -> dict:
    component = component_json(incidents, updated_at)
    return {"page": page_json(updated_at),
            "incidents": [incident_json(i, component) for i in incidents if not i.resolved]}
