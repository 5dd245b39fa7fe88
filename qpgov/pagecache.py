"""Rendered public pages, served from the cache until the data behind them changes.

Public pages are read far more than they change. Each group of public pages has a
*stamp*: the time its data last changed. The stamp is read from the database
and kept in the cache for at most STAMP_TTL seconds; code that changes public
data calls `touch(name)` after commit, which moves the cached stamp to the
commit time. Each cached page carries the stamp it was rendered under and is
served from the shared cache only while that is still the stamp. In production
the cache is Redis, shared by every web host.

A visit served from the shared cache costs one round trip (the stamp and the
page in one read) and no query: the page's ETag and Last-Modified are cached
with it.

Each web process also keeps what it read for PAGE_CACHE_LOCAL_SECONDS (one
second), so a page read many times a second costs one cache round trip per
second per process rather than one per visit; a busy public page is where the
round trip was most of the cost. The price is a bound on staleness: after a
change, another process may serve the old copy for up to that long, counted
from when it read the stamp. The process that made the change drops its copies
at commit, so the person who published sees the result at once.

Visitors who are signed in, or who have a flash message waiting, never share
a copy: their page is rendered for them.
"""

import time
from datetime import datetime

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe, quote_etag

STAMP_TTL = 60
# How long browsers and proxies may keep a public page without asking again.
PUBLIC_MAX_AGE = 60
PUBLIC_CACHE_CONTROL = f"public, max-age={PUBLIC_MAX_AGE}"
CONDITIONAL_HEADERS = frozenset(
    {"HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE"})
# Pages kept in each process at most; past that the copies are dropped at once,
# which costs one cache read per page and keeps memory bounded whatever is asked.
LOCAL_MAX_PAGES = 500

# group name -> {page key: (monotonic time its stamp was read, cache entry)}.
# Per process: gunicorn's sync workers serve one request at a time.
_local: dict[str, dict[str, tuple[float, tuple]]] = {}
_local_count = 0


def _local_get(name: str, page_key: str):
    found = _local.get(name, {}).get(page_key)
    if found is not None and time.monotonic() - found[0] < settings.PAGE_CACHE_LOCAL_SECONDS:
        return found[1]
    return None


def _local_put(name: str, page_key: str, entry: tuple, read_at: float) -> None:
    """Keep `entry`, whose stamp was read at `read_at`: its age counts from then,
    not from when a render or a slow cache read finished."""
    global _local_count
    if settings.PAGE_CACHE_LOCAL_SECONDS <= 0:
        return
    group = _local.setdefault(name, {})
    if page_key not in group:
        if _local_count >= LOCAL_MAX_PAGES:
            forget()
            group = _local.setdefault(name, {})
        _local_count += 1
    group[page_key] = (read_at, entry)


def forget(name: str | None = None) -> None:
    """Drop this process's copies of group `name` (every group if None)."""
    global _local_count
    if name is None:
        _local.clear()
        _local_count = 0
    else:
        _local_count -= len(_local.pop(name, {}))


def _read_stamp(name: str, compute) -> datetime | int:
    """Stamp `name` from the database (0: no data yet), cached for the next readers."""
    value = compute() or 0
    # add, not set: a reader never replaces a stamp that `touch` has moved.
    cache.add(f"stamp:{name}", value, STAMP_TTL)
    return value


def stamp(name: str, compute) -> datetime | None:
    """The last-change time of public page group `name`, from the cache or `compute()`."""
    value = cache.get(f"stamp:{name}")
    if value is None:
        value = _read_stamp(name, compute)
    return value or None


def touch(name: str) -> None:
    """Move stamp `name` to the time the current transaction commits.

    Setting a new value, rather than deleting the key for the next reader to
    fill from the database, matters when changes commit out of order: a page
    rendered between two commits could otherwise be stored under the stamp the
    database shows after both, and be served without the later change. Once the
    moved stamp expires it is read from the database again, which costs one
    more render of each page and nothing else.
    """
    def moved():
        cache.set(f"stamp:{name}", timezone.now(), STAMP_TTL)
        forget(name)

    transaction.on_commit(moved)


def serve(request: HttpRequest, name: str, compute, render, page: str = "") -> HttpResponse:
    """Public page `page` of group `name`, from the cache while stamp `name` holds.

    `compute()` reads the stamp from the database; `render()` builds the page,
    and on a list sets `response.page_number` to the page it showed.
    The page's validators are the ones `render()` set on its response, else the
    stamp and the page number. Only visitors who are not signed in share the
    cache: a signed-in page carries the person's name and a CSRF token.
    """
    # A single page (`page` set) has no page numbers; on a list, any other query
    # parameter does not change the page. An odd page number is rendered but not
    # cached and gets no ETag of ours, so junk can neither fill the cache nor
    # reach a header.
    number = "" if page or not request.META.get("QUERY_STRING") else request.GET.get("page", "")
    plain = number == "" or (number.isascii() and number.isdigit() and len(number) <= 6)
    signed_in = _signed_in(request)
    # A waiting flash message is shown on whatever page is rendered next: that
    # page is the visitor's own, not one to hand to everyone or to confirm later.
    with_message = CookieStorage.cookie_name in request.COOKIES
    shared = plain and not signed_in and not with_message
    stamp_key, page_key = f"stamp:{name}", f"page:{name}:{page}:{number}"
    entry = _local_get(name, page_key) if shared else None
    if entry is None:
        read_at = time.monotonic()
        found = cache.get_many([stamp_key, page_key] if shared else [stamp_key])
        current = found.get(stamp_key)
        if current is None:
            current = _read_stamp(name, compute)
        entry = found.get(page_key)
        if entry is not None and entry[0] != current:
            entry = None
        if entry is not None:
            _local_put(name, page_key, entry, read_at)
    if entry is not None:
        _, body, etag, last_modified = entry
        response = HttpResponse(body)
    else:
        response = render()
        stamped = current.timestamp() if current else 0
        etag = response.get("ETag") or (quote_etag(f"{stamped}-{number or 1}") if plain else None)
        last_modified = response.get("Last-Modified") or (http_date(stamped) if current else None)
        # A list page says which page it showed (`response.page_number`): a number
        # past the end shows the last page, and is not cached again under its own key.
        shown = getattr(response, "page_number", None)
        if shared and response.status_code == 200 and (number == "" or shown is None or number == str(shown)):
            entry = (current, response.content, etag, last_modified)
            cache.set(page_key, entry)
            _local_put(name, page_key, entry, read_at)
    if etag and signed_in:
        # A person's copy differs from the public one (it names them), so it gets
        # its own validator: after signing out, it is not confirmed as current.
        etag = f'{etag[:-1]}-u{request.user.pk}"'
    if with_message:
        etag = last_modified = None
    if etag:
        response.headers["ETag"] = etag
    if last_modified:
        response.headers["Last-Modified"] = last_modified
    if not CONDITIONAL_HEADERS.isdisjoint(request.META):
        response = get_conditional_response(request, etag=etag,
                                            last_modified=parse_http_date_safe(last_modified or ""),
                                            response=response)
    if signed_in or with_message:
        # Carries the person's name or message: never reused by a shared cache, and
        # checked again by the browser, so a page seen before signing out is not shown after.
        patch_cache_control(response, private=True, no_cache=True)
    elif "Cache-Control" in response:
        patch_cache_control(response, public=True, max_age=PUBLIC_MAX_AGE)
    else:
        response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    # The page differs for people signed in: a shared cache must tell them apart.
    # (Django adds this only when the session is read, which a copy served to a
    # visitor without a session cookie never does.)
    if "Vary" in response:
        patch_vary_headers(response, ("Cookie",))
    else:
        response.headers["Vary"] = "Cookie"
    return response


def _signed_in(request: HttpRequest) -> bool:
    """Whether someone is signed in; without a session cookie, no one is.

    Asking `request.user` loads the session and the user: on a page served from
    this process's copy, that was a fifth of the work.
    """
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    return request.user.is_authenticated
