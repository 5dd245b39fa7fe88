"""HTTP 409 for requests that arrive in the wrong order.

Domain code raises `Conflict("why")` when an action does not fit the object's
current state (a vote after the window closed, a retry of a step that is not
waiting for a human). The middleware turns it into a 409 page with the reason,
just as Django turns PermissionDenied into a 403.
"""

from django.shortcuts import render


class Conflict(Exception):
    """The request is well-formed and allowed, but not in the object's current state."""


class ConflictMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Conflict):
            return render(request, "409.html", {"reason": str(exception)}, status=409)
        return None


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
