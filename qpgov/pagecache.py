"""Rendered public pages, cached under a key that includes the data's last change.

Public pages are read far more than they change. Each public page has a
*stamp*: the time its data last changed. The stamp is read from the database
and kept in the cache for at most STAMP_TTL seconds; code that changes public
data calls `touch(name)` after commit, which drops the cached stamp so the next
reader sees the new one. Pages are cached under a key that includes the stamp,
so a change simply produces a new key: no host serves an old copy after the
stamp moved. In production the cache is Redis, shared by every web host.
"""

from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse

STAMP_TTL = 60


def stamp(name: str, compute) -> datetime | None:
    """The last-change time of public page `name`, from the cache or `compute()`."""
    key = f"stamp:{name}"
    value = cache.get(key)
    if value is None:
        value = compute() or 0
        cache.set(key, value, STAMP_TTL)
    return value or None


def touch(name: str) -> None:
    """Forget page `name`'s stamp once the current transaction commits."""
    transaction.on_commit(lambda: cache.delete(f"stamp:{name}"))


def cached_page(name: str, when, request, render) -> HttpResponse:
    """Return the cached response body for (name, when, query string), rendering on a miss.

    Only visitors who are not signed in share the cache: a signed-in page carries
    the person's name and a CSRF token and must never be served to anyone else.
    """
    if request.user.is_authenticated:
        return render()
    key = f"page:{name}:{when.timestamp() if when else 0}:{request.GET.urlencode()}"
    body = cache.get(key)
    if body is None:
        response = render()
        if response.status_code == 200:
            cache.set(key, response.content)
        return response
    return HttpResponse(body)
