"""What waits for a signed-in person: the sections of their home page.

Each app that has work for people provides a function `sections(user, now)`
returning `Section`s (only those the user's roles concern), and lists it in
settings.QPGOV_INBOX_SECTIONS. This module knows no app: the dependency stays
one-way, and a new capability (fleet alerts, readiness) adds its own function
to the setting without touching the home page.

Every provider shows at most `LIMIT` items per section, with the total, in a
fixed number of queries: the page costs the same however much data there is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils.module_loading import import_string

LIMIT = 10


@dataclass(frozen=True)
class Item:
    title: str
    url: str
    detail: str = ""
    urgent: bool = False


@dataclass(frozen=True)
class Section:
    heading: str
    items: list[Item] = field(default_factory=list)
    total: int = 0
    more_url: str = ""  # the full list, when there are more than LIMIT
    empty: str = ""  # shown when nothing waits; a section with no text is left out


def first(queryset, limit: int = LIMIT) -> tuple[list, int]:
    """Up to `limit` rows and the total, in one query when the rows are all there is."""
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return rows, len(rows)
    return rows[:limit], queryset.count()


def sections_for(user, now: datetime) -> list[Section]:
    """Every provider's sections for `user`, in the order the setting lists them."""
    found: list[Section] = []
    for path in settings.QPGOV_INBOX_SECTIONS:
        found.extend(s for s in import_string(path)(user, now) if s.items or s.empty)
    return found
