import socket

from celery import shared_task
from django.utils import timezone

from .models import HealthPing


@shared_task(name="qpgov.tasks.ping")
def ping(ping_id: int) -> None:
    """Answer a health ping by stamping its row, proving worker -> database works."""
    HealthPing.objects.filter(id=ping_id, answered_at=None).update(
        answered_at=timezone.now(), answered_by=socket.gethostname()
    )


@shared_task(name="qpgov.tasks.sign_checkpoint")
def sign_checkpoint() -> int | None:
    """Sign and publish the event log's head if it moved; return the new checkpoint's number.

    Raises (and so fails loudly) when the log no longer extends the last checkpoint.
    """
    from . import checkpoints

    checkpoint = checkpoints.sign_checkpoint()
    return checkpoint.number if checkpoint else None


@shared_task(name="qpgov.tasks.reconcile_roles")
def reconcile_roles() -> int:
    """Log role changes that bypassed the model signals (see qpgov.rolelog.reconcile)."""
    from . import rolelog

    return rolelog.reconcile()
