from celery import shared_task

from . import services


@shared_task(name="changes.tasks.decide_due_proposals")
def decide_due_proposals() -> dict:
    """The beat sweep: decide due proposals, lapse stale approvals, send reminders."""
    return services.decide_due()
