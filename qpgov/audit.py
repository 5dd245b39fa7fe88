"""Public pages of the event log's signed checkpoints: /audit/ and /audit/checkpoints/.

Anyone may read and save these, without signing in: a checkpoint proves only
what the signing key says, so it is useful exactly to people who do not trust
this server. The notes are served as the plain text that was signed.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_safe

from . import checkpoints
from .models import Checkpoint

NOTE_TYPE = "text/plain; charset=utf-8"


def _note_response(checkpoint: Checkpoint) -> HttpResponse:
    response = HttpResponse(checkpoint.note, content_type=NOTE_TYPE)
    response["X-Checkpoint-Number"] = str(checkpoint.number)
    return response


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    """The verifier key, its fingerprint, the latest checkpoints and how to check them."""
    try:
        key = checkpoints.verifier_key()
    except ImproperlyConfigured:
        key = None  # shown as "not configured"; the system check already complains
    recent = list(Checkpoint.objects.order_by("-number")[:20])
    return render(request, "audit.html", {"key": key, "recent": recent, "site_root": settings.SITE_ROOT})


@require_safe
def latest(request: HttpRequest) -> HttpResponse:
    """The latest checkpoint, as signed."""
    checkpoint = Checkpoint.objects.order_by("-number").first()
    if checkpoint is None:
        raise Http404("no checkpoint has been signed yet")
    return _note_response(checkpoint)


@require_safe
def by_number(request: HttpRequest, number: int) -> HttpResponse:
    """Checkpoint `number`, as signed."""
    return _note_response(get_object_or_404(Checkpoint, number=number))


@require_safe
def all_notes(request: HttpRequest) -> StreamingHttpResponse:
    """Every checkpoint, oldest first, one blank line after each: `verify_log --checkpoints` reads this."""
    notes = Checkpoint.objects.order_by("number").values_list("note", flat=True)
    return StreamingHttpResponse((note + "\n" for note in notes.iterator(chunk_size=2000)),
                                 content_type=NOTE_TYPE)


@require_safe
def verifier_key(request: HttpRequest) -> HttpResponse:
    """The verifier key, alone on one line, for tools (name+keyid+base64)."""
    try:
        return HttpResponse(f"{checkpoints.verifier_key()}\n", content_type=NOTE_TYPE)
    except ImproperlyConfigured:
        raise Http404("no checkpoint key is configured") from None


class CheckpointFeed(Feed):
    """Atom feed of the latest signed checkpoints, each entry holding the note as signed."""

    feed_type = Atom1Feed
    title = "qpgov event log checkpoints"
    subtitle = "Signed statements of the event log's size and head hash (C2SP tlog-checkpoint)."

    def link(self):
        return reverse("audit:overview")

    def feed_guid(self):
        return _tag("checkpoints")

    def author_name(self):
        return urlsplit(settings.SITE_ROOT).netloc or "qpgov"

    def author_link(self):
        return settings.SITE_ROOT

    def items(self):
        return Checkpoint.objects.order_by("-number")[:50]

    def item_title(self, item):
        return f"Checkpoint {item.number}: {item.size} events"

    def item_description(self, item):
        return item.note

    def item_link(self, item):
        return reverse("audit:checkpoint", args=[item.number])

    def item_guid(self, item):
        return _tag(f"checkpoint:{item.number}")

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.signed_at

    def item_updateddate(self, item):
        return item.signed_at


def _tag(specific: str) -> str:
    """A tag: URI (RFC 4151) for the site: stable even if the pages move."""
    host = urlsplit(settings.SITE_ROOT).hostname or "localhost"
    return f"tag:{host},2026:qpgov:event-log:{specific}"
