from celery import shared_task

from . import notify, services


@shared_task(name="changes.tasks.decide_due_proposals")
def decide_due_proposals() -> dict:
    """The beat sweep: decide due proposals, lapse stale approvals, send reminders,
    and retry the e-mails that have not gone out yet."""
    counts = services.decide_due()
    counts["emails_sent"] = notify.send_due()
    return counts
