"""HTTP 409 for requests that arrive in the wrong order.

Domain code raises `Conflict("why")` when an action does not fit the object's
current state (a vote after the window closed, a retry of a step that is not
waiting for a human). The middleware shows the reason where the person will
see it: a refused form post from one of our own pages goes back to that page
with the reason at the top (role="alert"); anything else gets a 409 page with
the reason, just as Django turns PermissionDenied into a 403.
"""

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


class ConflictMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, Conflict):
            return None
        if request.method == "POST":
            response = back_with_refusal(request, str(exception), exception.links)
            if response is not None:
                return response
        return render(request, "409.html", {"reason": str(exception), "links": exception.links},
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
