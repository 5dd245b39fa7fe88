"""Publishing post-mortems and their amendments (playbook sections 6 and 7).

Each text goes draft → in_review → published. Incident Responders edit and
submit drafts; a Governance Council member who did not write it approves
publishing. Publishing needs every required section filled and a clean
compliance and sensitive-data check, unless the approver overrides the
findings with a written reason. Every step is an event on the shared log,
about the post-mortem or the amendment it concerns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from qpgov import compliance, eventlog, pagecache, roles, sensitive
from qpgov.http import Conflict
from qpgov.models import Event

from .models import Amendment, Postmortem, ReviewedText

REQUIRED_SECTIONS = (
    "Summary", "Impact", "Detection", "Root cause", "Trigger", "Resolution", "Timeline",
    "Action items", "Lessons learned",
)

_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$", re.M)
# What the generated draft leaves for a human to replace: a line that is all
# one _italic hint_, or an "_…_" table cell.
_PLACEHOLDER = re.compile(r"^\s*_[^_\n]+_\s*$|_…_", re.M)


def sections(body: str) -> dict[str, str]:
    """Level-two Markdown headings (lower-cased) mapped to the text under them."""
    parts = _HEADING.split(body or "")
    return {parts[i].strip().lower(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


# The generated draft's first line names the commander and the runbook: for
# the authors, not the public.
_DRAFT_NOTE = re.compile(r"^\s*\*Draft for INC-\d+", re.M)


def missing_sections(body: str) -> list[str]:
    """Required sections that are absent, empty, or still hold a template placeholder."""
    found = sections(body)
    missing = ["remove the draft note at the top"] if _DRAFT_NOTE.search(body or "") else []
    for name in REQUIRED_SECTIONS:
        text = found.get(name.lower(), "")
        if not text or _PLACEHOLDER.search(text):
            missing.append(name)
    return missing


@dataclass
class Report:
    """What stands between a text and publication."""

    missing: list[str]
    findings: list[compliance.Finding]

    @property
    def compliance(self):
        return [f for f in self.findings if f.category != sensitive.SENSITIVE]

    @property
    def sensitive(self):
        return [f for f in self.findings if f.category == sensitive.SENSITIVE]


def review(doc: ReviewedText) -> Report:
    """Run the section, compliance and sensitive-data checks on the public text."""
    # What people wrote: an amendment's public text also names the hash it amends.
    text = doc.public_text() if isinstance(doc, Postmortem) else doc.body
    missing = missing_sections(doc.body) if isinstance(doc, Postmortem) else (
        [] if doc.body.strip() else ["Amendment text"])
    return Report(missing, compliance.check(text) + sensitive.check(text, **sensitive.known_names()))


def _subject_note(doc: ReviewedText) -> str:
    return f"amendment {doc.pk}" if isinstance(doc, Amendment) else "post-mortem"


def authors(doc: ReviewedText) -> set[int]:
    """Everyone who wrote the text: its assignee or author, and whoever edited or submitted it."""
    ids = {doc.assignee_id if isinstance(doc, Postmortem) else doc.author_id}
    ids |= set(
        Event.objects.for_subject(doc).filter(kind__in=("postmortem_edited", "postmortem_submitted"))
        .exclude(actor=None).values_list("actor_id", flat=True)
    )
    return ids


def require_state(doc: ReviewedText, state: str, doing: str):
    if doc.state != state:
        raise Conflict(f"The {_subject_note(doc)} is {doc.get_state_display()}; "
                       f"it can be {doing} only while it is {dict(doc.STATES)[state]}.",
                       links=[("See it as it is now", doc.get_absolute_url())])


def _locked(doc: ReviewedText) -> ReviewedText:
    return type(doc).objects.select_for_update().get(pk=doc.pk)


EDITED_FIELDS = ("title", "body", "internal_notes")


def draft_version(doc: ReviewedText) -> str:
    """A fingerprint of every field an author edits, for the form to carry as its base.

    The content hash covers only the public text; a lost edit of the internal notes is
    lost all the same. Equal text gives an equal version, and saving over equal text
    loses nothing, so a fingerprint serves as well as a counter and needs no column.
    """
    text = "\0".join(str(getattr(doc, name, "")) for name in EDITED_FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()


def save_draft(doc: ReviewedText, user, base_version: str = "", **fields) -> ReviewedText:
    """Store an edit of a draft (title, body, internal notes).

    `base_version` is the draft_version the author's page was loaded with: a save over
    text someone saved since is refused, so two co-authors never silently overwrite
    each other. Empty means unknown (an older page, a script) and is not checked.
    """
    roles.require(user, "edit_postmortem")
    with transaction.atomic():
        doc = _locked(doc)
        require_state(doc, doc.DRAFT, "edited")
        if base_version and base_version != draft_version(doc):
            last = (Event.objects.for_subject(doc).filter(kind="postmortem_edited")
                    .select_related("actor").order_by("-occurred_at", "-pk").first())
            by = (f" ({last.actor.get_full_name() or last.actor_name}, "
                  f"{last.occurred_at:%Y-%m-%d %H:%M} UTC)" if last and last.actor else "")
            raise Conflict(f"Someone saved this draft since you opened it{by}. Your text is "
                           "kept below, not saved: merge it with the newer text, then save.",
                           links=[("Read the newer text", doc.get_absolute_url() + "#newer-text")])
        for name, value in fields.items():
            setattr(doc, name, value)
        doc.save()
        eventlog.append(doc, "postmortem_edited", actor=user, revision_hash=doc.compute_hash())
    return doc


def submit(doc: ReviewedText, user) -> tuple[ReviewedText, Report]:
    """Send a draft to the council. Missing sections refuse it; findings go along with it."""
    roles.require(user, "edit_postmortem")
    with transaction.atomic():
        doc = _locked(doc)
        require_state(doc, doc.DRAFT, "submitted")
        report = review(doc)
        if report.missing:
            raise ValidationError("Not ready for review; still to fill in: "
                                  + ", ".join(report.missing) + ".")
        doc.submit()
        doc.save()
        eventlog.append(doc, "postmortem_submitted", actor=user, from_state=doc.DRAFT,
                        to_state=doc.state, revision_hash=doc.compute_hash(),
                        data={"findings": [str(f) for f in report.findings]})
    return doc, report


def _require_reviewer(doc: ReviewedText, user):
    roles.require(user, "approve_postmortem")
    if user.pk in authors(doc):
        raise PermissionDenied("You wrote or edited this text; another council member reviews it.")


def send_back(doc: ReviewedText, user, note: str) -> ReviewedText:
    """A council member returns a text in review to its authors, saying why."""
    with transaction.atomic():
        doc = _locked(doc)
        _require_reviewer(doc, user)
        require_state(doc, doc.IN_REVIEW, "sent back")
        doc.send_back()
        doc.save()
        eventlog.append(doc, "postmortem_sent_back", actor=user, from_state=doc.IN_REVIEW,
                        to_state=doc.state, note=note)
    return doc


def _unique_slug(pm: Postmortem) -> str:
    base = slugify(f"{timezone.now():%Y-%m-%d} {pm.title}")[:90].strip("-") or "post-mortem"
    slug, n = base, 1
    while Postmortem.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def publish(doc: ReviewedText, user, override_reason: str = "") -> ReviewedText:
    """Approve and publish. Findings block it unless `override_reason` explains them.

    Locks the text, then (for an amendment) its post-mortem, then the chain head
    when the events are appended last, the order every path here keeps.
    """
    override_reason = override_reason.strip()
    with transaction.atomic():
        doc = _locked(doc)
        _require_reviewer(doc, user)
        require_state(doc, doc.IN_REVIEW, "published")
        pm = doc if isinstance(doc, Postmortem) else Postmortem.objects.select_for_update().get(
            pk=doc.postmortem_id)
        if pm.incident.drill:
            raise Conflict("This incident is a drill: its post-mortem is for the team and is never "
                           "published. Send it back or leave it in review.")
        if pm is not doc and pm.state != Postmortem.PUBLISHED:
            raise Conflict("An amendment is published only after its post-mortem.")
        report = review(doc)
        if report.missing:
            raise ValidationError("Not ready to publish; still to fill in: "
                                  + ", ".join(report.missing) + ".")
        if report.findings and not override_reason:
            raise ValidationError("The compliance or sensitive-data check found problems: fix them "
                                  "(send it back) or override them with a written reason.")
        events = []
        if override_reason and report.findings:
            events.append(eventlog.entry(doc, "compliance_overridden", actor=user, note=override_reason,
                                         data={"findings": [str(f) for f in report.findings]}))
        doc.publish(user, override_reason if report.findings else "")
        if isinstance(doc, Postmortem):
            doc.slug = doc.slug or _unique_slug(doc)
            doc.public_updated_at = doc.published_at
        doc.save()
        # The public page changed: this moves its Last-Modified and ETag, and the stamp.
        Postmortem.objects.filter(pk=pm.pk).update(public_updated_at=doc.published_at)
        pagecache.touch("postmortems")
        kind = "postmortem_published" if isinstance(doc, Postmortem) else "amendment_published"
        events.append(eventlog.entry(doc, kind, actor=user, from_state=doc.IN_REVIEW, to_state=doc.state,
                                     revision_hash=doc.content_hash))
        if isinstance(doc, Postmortem):
            events.append(eventlog.entry(doc.incident, "postmortem_published", actor=user,
                                         note=doc.get_public_url(), revision_hash=doc.content_hash))
        eventlog.append_many(events)
    return doc


def start_amendment(pm: Postmortem, user, body: str, internal_notes: str = "") -> Amendment:
    """Open a draft correction to a published post-mortem."""
    roles.require(user, "edit_postmortem")
    if pm.state != Postmortem.PUBLISHED:
        raise Conflict("Only a published post-mortem takes amendments; edit the draft instead.")
    with transaction.atomic():
        amendment = Amendment.objects.create(postmortem=pm, author=user, body=body,
                                             internal_notes=internal_notes)
        eventlog.append(amendment, "postmortem_edited", actor=user,
                        revision_hash=amendment.compute_hash(), note=f"amends post-mortem {pm.pk}")
    return amendment


# The public side.


def public_postmortems():
    """Published post-mortems of real incidents: a drill's never reaches the public."""
    return Postmortem.objects.filter(state=Postmortem.PUBLISHED, incident__drill=False)


def public_amendments():
    """Published amendments to the post-mortems the public sees."""
    return Amendment.objects.filter(state=Amendment.PUBLISHED, postmortem__incident__drill=False)


def published():
    """Published post-mortems, newest first, reading only public fields."""
    return (public_postmortems()
            .select_related("incident")
            .only("pk", "title", "slug", "published_at", "public_updated_at", "content_hash",
                  "incident__severity", "state")
            .order_by("-published_at", "-pk"))


def published_amendments(pm: Postmortem):
    """A post-mortem's published amendments, oldest first, public fields only."""
    return (pm.amendments.filter(state=Amendment.PUBLISHED)
            .only("pk", "body", "published_at", "content_hash", "postmortem_id", "state")
            .order_by("published_at", "pk"))
