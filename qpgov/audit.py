"""Public pages of the event log's signed checkpoints: /audit/ and /audit/checkpoints/.

Anyone may read and save these, without signing in: a checkpoint proves only
what the signing key says, so it is useful exactly to people who do not trust
this server. The notes are served as the plain text that was signed, and only
notes whose signature verifies with this log's key: a row someone wrote into the
database is flagged on /audit/, never served as a checkpoint.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_safe

from . import checkpoints
from .models import Checkpoint
from .site import absolute_url, tag_uri

NOTE_TYPE = "text/plain; charset=utf-8"


def _note_response(checkpoint: Checkpoint) -> HttpResponse:
    response = HttpResponse(checkpoint.note, content_type=NOTE_TYPE)
    response["X-Checkpoint-Number"] = str(checkpoint.number)
    return response


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    """The verifier key, its fingerprint, the latest checkpoints and how to check them."""
    key = checkpoints.configured_verifier_key()  # None: "not configured"; the system check complains
    recent = [(checkpoint, checkpoints.stored_problem(checkpoint, key) if key else None)
              for checkpoint in Checkpoint.objects.order_by("-number")[:20]]
    forged = [(checkpoint, problem) for checkpoint, problem in recent if problem]
    return render(request, "audit.html", {"key": key, "recent": recent, "forged": forged,
                                          "site_root": settings.SITE_ROOT})


@require_safe
def latest(request: HttpRequest) -> HttpResponse:
    """The latest checkpoint this log's key signed, as signed."""
    checkpoint = checkpoints.latest_signed(checkpoints.configured_verifier_key())
    if checkpoint is None:
        raise Http404("no checkpoint signed by this log's key is stored")
    return _note_response(checkpoint)


@require_safe
def by_number(request: HttpRequest, number: int) -> HttpResponse:
    """Checkpoint `number`, as signed; a stored row whose signature does not verify is refused (409)."""
    checkpoint = get_object_or_404(Checkpoint, number=number)
    key = checkpoints.configured_verifier_key()
    if key is None:
        raise Http404("no checkpoint key is configured, so no checkpoint can be vouched for")
    if problem := checkpoints.stored_problem(checkpoint, key):
        return HttpResponse(f"Checkpoint {number} is stored, but it is not signed by this log's key "
                            f"({problem}). It is not served: treat it as an attack on the log.\n",
                            status=409, content_type=NOTE_TYPE)
    return _note_response(checkpoint)


@require_safe
def all_notes(request: HttpRequest) -> StreamingHttpResponse:
    """Every signed checkpoint, oldest first, a blank line after each (`verify_log --checkpoints`)."""
    rows = Checkpoint.objects.order_by("number").iterator(chunk_size=2000)
    signed = checkpoints.signed_only(rows, checkpoints.configured_verifier_key())
    return StreamingHttpResponse((checkpoint.note + "\n" for checkpoint in signed), content_type=NOTE_TYPE)


@require_safe
def verifier_key(request: HttpRequest) -> HttpResponse:
    """The verifier key, alone on one line, for tools (name+keyid+base64)."""
    if (key := checkpoints.configured_verifier_key()) is None:
        raise Http404("no checkpoint key is configured")
    return HttpResponse(f"{key}\n", content_type=NOTE_TYPE)


class CheckpointFeed(Feed):
    """Atom feed of the latest signed checkpoints, each entry holding the note as signed."""

    feed_type = Atom1Feed
    title = "qpgov event log checkpoints"
    subtitle = "Signed statements of the event log's size and head hash (C2SP tlog-checkpoint)."

    # Links and ids come from settings (qpgov.site), never from the request's Host header.
    def link(self):
        return absolute_url(reverse("audit:overview"))

    def feed_url(self):
        return absolute_url(reverse("audit:feed"))

    def feed_guid(self):
        return tag_uri("event-log/checkpoints")

    def author_name(self):
        return settings.QPGOV_FEED_AUTHOR

    def author_link(self):
        return settings.SITE_ROOT

    def items(self):
        rows = Checkpoint.objects.order_by("-number")[:50]
        return list(checkpoints.signed_only(rows, checkpoints.configured_verifier_key()))

    def item_title(self, item):
        return f"Checkpoint {item.number}: {item.size} events"

    def item_description(self, item):
        return item.note

    def item_link(self, item):
        return absolute_url(reverse("audit:checkpoint", args=[item.number]))

    def item_guid(self, item):
        return tag_uri(f"event-log/checkpoints/{item.number}")

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.signed_at

    def item_updateddate(self, item):
        return item.signed_at
