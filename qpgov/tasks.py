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
