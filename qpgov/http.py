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
