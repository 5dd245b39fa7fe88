"""Logging filters named in settings.LOGGING."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Log a refused request (4xx: 403, 404, 409) as one line.

    Django attaches the PermissionDenied or Http404 traceback to its
    "Forbidden: /path" warning; a refusal is the app working, and the traceback
    buried real errors in the `make run` console. Server errors keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
