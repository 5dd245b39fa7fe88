"""Where qpgov lives: absolute links and stable identifiers, from settings, never from a request.

A request's Host header is whatever the client sent; links in e-mails and
feeds, and the ids feed readers remember, come from SITE_ROOT and
QPGOV_TAG_AUTHORITY instead.
"""

from django.conf import settings


def absolute_url(path: str) -> str:
    """SITE_ROOT joined with a site-relative path (from reverse() or get_absolute_url())."""
    return settings.SITE_ROOT.rstrip("/") + path


def tag_uri(specific: str) -> str:
    """An RFC 4151 tag: URI, e.g. tag:gov.quantumpay.example,2026:changes/42.

    The authority (a domain the operator held on a date) is configured once and
    never changes, so an entry keeps its id when the site moves.
    """
    return f"tag:{settings.QPGOV_TAG_AUTHORITY}:{specific}"
