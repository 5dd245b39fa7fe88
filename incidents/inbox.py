"""Incident work waiting for a person, for their home page (qpgov/inbox.py)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.urls import reverse

from qpgov import roles
from qpgov.inbox import Item, Section, first
from qpgov.models import Event

from .models import Acknowledgement, Amendment, Incident, Postmortem, ResponseStep

OPEN = (Incident.DECLARED, Incident.RESPONDING, Incident.CONTAINED)


def _wrote(user, model) -> Exists:
    """True for a text `user` edited or submitted: they may not review it (four eyes)."""
    return Exists(Event.objects.filter(
        subject_type=model._meta.label_lower, subject_id=OuterRef("pk"), actor=user,
        kind__in=("postmortem_edited", "postmortem_submitted")))


def sections(user, now) -> list[Section]:
    if not roles.can(user, "view_incidents"):
        return []
    found = []
    needing = ResponseStep.objects.filter(incident=OuterRef("pk"), status=ResponseStep.NEEDS_HUMAN)
    open_incidents = (Incident.objects.filter(state__in=OPEN).annotate(attention=Exists(needing))
                      .order_by("-attention", "severity", "-declared_at")
                      .only("pk", "title", "severity", "state", "commander_id"))
    rows, total = first(open_incidents)
    found.append(Section(
        "Open incidents",
        [Item(f"INC-{i.pk} {i.title}", i.get_absolute_url(),
              f"{i.severity} · {i.get_state_display()}"
              + (" · needs attention" if i.attention else "")
              + (" · you command it" if i.commander_id == user.pk else "")
              + (": ready for you to resolve" if i.commander_id == user.pk
                 and i.state == Incident.CONTAINED else ""),
              urgent=i.attention or i.severity == "SEV1") for i in rows],
        total, reverse("incidents:list"), "No incident is open."))
    if roles.can(user, "run_response"):
        steps = (ResponseStep.objects.filter(status=ResponseStep.NEEDS_HUMAN)
                 .select_related("incident").order_by("incident_id", "position"))
        rows, total = first(steps)
        found.append(Section(
            "Steps needing a human",
            [Item(f"INC-{s.incident_id}: {s.label}", s.incident.get_absolute_url() + "#incident-steps",
                  (s.last_error or "the tries ran out")[:160], urgent=True) for s in rows],
            total))
    if roles.can(user, "acknowledge_incident"):
        mine = Acknowledgement.objects.filter(incident=OuterRef("pk"), user=user)
        pending = (Incident.objects.filter(state__in=(*OPEN, Incident.RESOLVED))
                   .exclude(Exists(mine)).order_by("-declared_at")
                   .only("pk", "title", "severity", "declared_at"))
        rows, total = first(pending)
        found.append(Section(
            "Acknowledgements pending",
            [Item(f"INC-{i.pk} {i.title}", reverse("incidents:acknowledge", args=[i.pk]),
                  f"{i.severity} · declared {i.declared_at:%Y-%m-%d %H:%M} UTC") for i in rows],
            total, "", "You have acknowledged every incident."))
    if roles.can(user, "edit_postmortem"):
        drafts = (Postmortem.objects.filter(state=Postmortem.DRAFT, assignee=user)
                  .order_by("created_at").only("pk", "title", "incident_id"))
        amendments = (Amendment.objects.filter(state=Amendment.DRAFT, author=user)
                      .order_by("pk").only("pk", "postmortem__incident_id")
                      .select_related("postmortem"))
        rows, total = first(drafts)
        arows, atotal = first(amendments)
        found.append(Section(
            "Post-mortems for you to write",
            [Item(f"INC-{pm.incident_id}: {pm.title}", pm.get_absolute_url(), "draft")
             for pm in rows]
            + [Item(f"Amendment {a.pk} to INC-{a.postmortem.incident_id}", a.get_absolute_url(),
                    "draft amendment") for a in arows],
            total + atotal))
    if roles.can(user, "approve_postmortem"):
        reviewable = (Postmortem.objects.filter(state=Postmortem.IN_REVIEW)
                      .exclude(assignee=user).exclude(_wrote(user, Postmortem))
                      .order_by("submitted_at", "pk")
                      .only("pk", "title", "incident_id"))
        amendments = (Amendment.objects.filter(state=Amendment.IN_REVIEW)
                      .exclude(author=user).exclude(_wrote(user, Amendment))
                      .select_related("postmortem").order_by("pk")
                      .only("pk", "postmortem__incident_id"))
        rows, total = first(reviewable)
        arows, atotal = first(amendments)
        found.append(Section(
            "Post-mortems to review",
            [Item(f"INC-{pm.incident_id}: {pm.title}", pm.get_absolute_url(), "in review")
             for pm in rows]
            + [Item(f"Amendment {a.pk} to INC-{a.postmortem.incident_id}", a.get_absolute_url(),
                    "in review") for a in arows],
            total + atotal, "", "No post-mortem waits for your review."))
    return found
