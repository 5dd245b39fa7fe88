"""Send Celery messages after the current transaction commits, never losing the row.

A message is only a wake-up call: the row it points at is already committed.
If the broker is unreachable the send fails, is logged, and the periodic sweep
sends it again later. The web request that saved the row still succeeds.
"""

import logging

from django.db import transaction

log = logging.getLogger(__name__)


def send_now(task, *args, **options) -> str | None:
    """Publish `task` with `args`; return the task id, or None if the broker refused."""
    try:
        result = task.apply_async(args=args, **options)
    except Exception as exc:  # any broker error: the sweep will retry
        log.warning("could not publish %s%r: %s: %s", task.name, args, type(exc).__name__, exc)
        return None
    return result.id


def send_on_commit(task, *args, **options) -> None:
    """Publish `task` once the surrounding transaction has committed."""
    transaction.on_commit(lambda: send_now(task, *args, **options))
