"""E-mail about proposals.

Each message to each person is an EmailDelivery row, written in the same
transaction as the change that calls for it (where there is one) and sent after
commit. A send that fails stays on the proposal's page with its error and is
retried by the beat sweep with backoff (`send_due`), so approvers are told about
a review window even when the mail server was down when it opened.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from qpgov import mail
from qpgov.mail import MAX_ATTEMPTS, SEND_LEASE, backoff  # noqa: F401 - the shared schedule
from qpgov.site import absolute_url

from .models import EmailDelivery, Proposal, Vote

log = logging.getLogger(__name__)

REMINDER_BEFORE = timedelta(hours=12)


def on_commit(func, proposal_id: int) -> None:
    """Write `func`'s messages now (in the caller's transaction); they are sent after it commits."""
    func(proposal_id)


def _queue(proposal: Proposal, purpose: str, subject: str, body: str,
           recipients: list[str]) -> int:
    recipients = sorted({r for r in recipients if r})
    now = timezone.now()
    rows = EmailDelivery.objects.bulk_create([
        EmailDelivery(proposal=proposal, purpose=purpose, revision=proposal.revision,
                      recipient=address, subject=subject, body=body, next_attempt_at=now,
                      created_at=now)
        for address in recipients
    ])
    ids = [row.pk for row in rows]
    if ids:
        transaction.on_commit(lambda: send(ids))
    return len(ids)


def send(ids: list[int]) -> int:
    """Try each due delivery in `ids` once; return how many the mail server accepted."""
    accepted = 0
    for delivery in EmailDelivery.objects.filter(pk__in=ids, status=EmailDelivery.PENDING):
        accepted += _try(delivery)
    return accepted


def send_due(now=None) -> int:
    """The sweep: retry every pending delivery whose next try is due."""
    now = now or timezone.now()
    due = EmailDelivery.objects.filter(status=EmailDelivery.PENDING, next_attempt_at__lte=now)
    return send(list(due.values_list("pk", flat=True)[:500]))


def _try(delivery: EmailDelivery) -> bool:
    now = timezone.now()
    # Claim the try with a conditional update, so two senders never both send it.
    # The first try goes right after commit; later ones wait for their time.
    claimed = EmailDelivery.objects.filter(
        Q(attempts=0) | Q(next_attempt_at__lte=now),
        pk=delivery.pk, status=EmailDelivery.PENDING, attempts=delivery.attempts,
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE)
    if claimed != 1:
        return False
    attempts = delivery.attempts + 1
    ok, outcome = mail.send_one(delivery.subject, delivery.body, delivery.recipient)
    done = timezone.now()
    if ok:
        update = {"status": EmailDelivery.SENT, "sent_at": done, "next_attempt_at": None,
                  "last_error": ""}
    elif attempts >= MAX_ATTEMPTS:
        update = {"status": EmailDelivery.FAILED, "next_attempt_at": None, "last_error": outcome}
    else:
        update = {"next_attempt_at": done + backoff(attempts), "last_error": outcome}
    if not ok:
        log.warning("e-mail %s about proposal %s to %s failed (try %d): %s", delivery.pk,
                    delivery.proposal_id, delivery.recipient, attempts, outcome)
    EmailDelivery.objects.filter(pk=delivery.pk, attempts=attempts).update(**update)
    return ok


def _link(proposal: Proposal) -> str:
    return absolute_url(proposal.get_absolute_url())


def review_opened(proposal_id: int) -> int:
    from .services import electorate

    proposal = Proposal.objects.get(pk=proposal_id)
    body = (
        f"{proposal.proposer.get_username()} submitted revision {proposal.revision} of "
        f'"{proposal.title}" ({proposal.get_category_display()}) for review.\n\n'
        f"Earliest decision: {proposal.earliest_decision_at:%Y-%m-%d %H:%M} UTC\n"
        f"Deadline:          {proposal.deadline:%Y-%m-%d %H:%M} UTC\n\n{_link(proposal)}\n"
    )
    emails = list(electorate(proposal).values_list("email", flat=True))
    return _queue(proposal, EmailDelivery.REVIEW, f"[qpgov] Review: {proposal.title}", body,
                  emails)


def reminder(proposal_id: int) -> int:
    from .services import electorate

    proposal = Proposal.objects.get(pk=proposal_id)
    voted = Vote.objects.filter(proposal=proposal, revision=proposal.revision).values("voter")
    emails = list(electorate(proposal).exclude(pk__in=voted).values_list("email", flat=True))
    body = (
        f'"{proposal.title}" closes for votes at {proposal.deadline:%Y-%m-%d %H:%M} UTC and '
        f"you have not voted on revision {proposal.revision}.\n\n{_link(proposal)}\n"
    )
    return _queue(proposal, EmailDelivery.REMINDER, f"[qpgov] Reminder: {proposal.title}", body,
                  emails)


def decision(proposal_id: int) -> int:
    proposal = Proposal.objects.select_related("proposer").get(pk=proposal_id)
    body = (
        f'Your proposal "{proposal.title}" is {proposal.get_state_display().lower()} '
        f"({proposal.decided_at:%Y-%m-%d %H:%M} UTC).\n\n{_link(proposal)}\n"
    )
    return _queue(proposal, EmailDelivery.DECISION,
                  f"[qpgov] {proposal.get_state_display()}: {proposal.title}", body,
                  [proposal.proposer.email])


def unratified(proposal_id: int) -> int:
    """An emergency change was not ratified: the Council and the proposer are told that a
    rollback is required."""
    from qpgov import roles

    proposal = Proposal.objects.select_related("proposer").get(pk=proposal_id)
    body = (
        f'The emergency change "{proposal.title}" (#{proposal.pk}), implemented '
        f"{proposal.implemented_at:%Y-%m-%d %H:%M} UTC, was not ratified by its retrospective "
        f"review. A rollback is required, following its rollback plan:\n\n"
        f"{proposal.rollback_steps}\n\nCore Ops record the rollback on its page.\n\n"
        f"{_link(proposal)}\n"
    )
    emails = list(roles.holders(roles.COUNCIL).values_list("email", flat=True))
    return _queue(proposal, EmailDelivery.UNRATIFIED,
                  f"[qpgov] Not ratified, rollback required: {proposal.title}", body,
                  [*emails, proposal.proposer.email])
