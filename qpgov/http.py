"""HTTP 409 for requests that arrive in the wrong order.

Domain code raises `Conflict("why")` when an action does not fit the object's
current state (a vote after the window closed, a retry of a step that is not
waiting for a human). The middleware shows the reason where the person will
see it: a refused form post from one of our own pages goes back to that page
with the reason at the top (role="alert"); anything else gets a 409 page with
the reason, just as Django turns PermissionDenied into a 403.

A redirect fetches the page again with GET, so a refused post that carried
typed text must not take that path: views with a form wrap the service call in
`refusal_kept_in(form)` and render the bound form again (status 409), the reason
at the top and the text in its fields. Any other refused post with typed text
gets the 409 page with that text shown on it, so nothing typed is ever lost.
"""

from contextlib import contextmanager

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme


class Conflict(Exception):
    """The request is well-formed and allowed, but not in the object's current state.

    `links` are (label, url) pairs: where to go to change what blocks the action.
    """

    def __init__(self, reason: str, links: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason)
        self.links = tuple(links)


def refusal(reason: str, links=()) -> str:
    """The reason, escaped, followed by links to what must change: a message's text."""
    if not links:
        return format_html("Not done: {}", reason)
    return format_html("Not done: {} {}", reason, format_html_join(
        " · ", '<a href="{}">{}</a>', ((url, label) for label, url in links)))


def page_it_came_from(request) -> str | None:
    """The same-site page that sent this request (the Referer), if there is one."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return referer
    return None


def back_with_refusal(request, reason: str, links=(), fallback: str | None = None):
    """Return to the page the person acted from, with the reason at its top; None if unknown."""
    back = page_it_came_from(request) or fallback
    if back is None:
        return None
    messages.error(request, refusal(reason, links))
    response = HttpResponseRedirect(back)
    response.status_code = 303  # the page is fetched again with GET
    return response


@contextmanager
def refusal_kept_in(form):
    """Turn a Conflict raised inside into the bound form's top error instead of a redirect.

    Use around the service call of a form post, then render the form again with
    `status=refused_status(form)`: the person sees why and keeps what they typed.
    """
    try:
        yield
    except Conflict as exc:
        if not form.is_bound:
            raise  # nothing was posted, so nothing typed: the 409 page
        form.errors  # noqa: B018 -- validate first: a refusal may come before is_valid()
        form.add_error(None, refusal(str(exc), exc.links))
        form.refused = exc  # a view that cannot show the form again re-raises it


def ready_to_act(request, form, blocked: Conflict | None = None) -> bool:
    """Whether a form view should act now: a valid POST with nothing in the way.

    `blocked` is a refusal known before the form is read (the object is in the
    wrong state). A GET then gets the 409 page, having nothing typed to keep; a
    POST gets the form again with the refusal on top and what was typed kept.
    Act inside `refusal_kept_in(form)`, for the refusals the service finds itself.
    """
    if blocked is None:
        return request.method == "POST" and form.is_valid()
    if request.method != "POST":
        raise blocked
    with refusal_kept_in(form):
        raise blocked
    return False


def refused_status(form, otherwise: int = 200) -> int:
    """409 when `refusal_kept_in` caught a refusal for this form, else `otherwise`."""
    return 409 if getattr(form, "refused", None) else otherwise


# Posted values no one typed: the CSRF token, hidden versions, buttons, ticks and ids.
_NOT_TYPED = {"csrfmiddlewaretoken", "revision_hash", "base_version", "action"}


def typed_text(request) -> list[tuple[str, str]]:
    """The free text a refused post carried, as (field name, text) pairs."""
    return [(name.replace("_", " ").capitalize(), value)
            for name, values in request.POST.lists() if name not in _NOT_TYPED
            for value in values if value.strip() and value != "on" and not value.isdigit()]


class ConflictMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, Conflict):
            return None
        typed = typed_text(request) if request.method == "POST" else []
        if request.method == "POST" and not typed:
            response = back_with_refusal(request, str(exception), exception.links)
            if response is not None:
                return response
        # A redirect would drop what was typed: show it here, to copy back once the
        # reason is dealt with.
        return render(request, "409.html", {"reason": str(exception), "links": exception.links,
                                            "typed": typed, "back": page_it_came_from(request)},
                      status=409)


# No inline script or style anywhere: the pages need none, and a CSP that
# forbids them turns a missed escaping bug into a blocked script.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class SecurityHeadersMiddleware:
    """Adds the Content-Security-Policy header (Django 5.2 has no built-in CSP)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
