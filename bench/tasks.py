"""The floor for the pipeline benchmark: no-op tasks that hand on to each other through the broker."""

from celery import shared_task

from qpgov.tasks import ping


@shared_task(name="bench.tasks.hop")
def hop(remaining: int, ping_id: int) -> None:
    """Queue the next hop; the last one answers the ping row, as the last step updates its row."""
    if remaining > 1:
        hop.delay(remaining - 1, ping_id)
    else:
        ping(ping_id)
