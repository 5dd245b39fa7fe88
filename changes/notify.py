"""E-mail about proposals. Always sent after commit; a failed send is logged, never fatal."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from .models import Proposal, Vote

log = logging.getLogger(__name__)

REMINDER_BEFORE = timedelta(hours=12)


def on_commit(func, proposal_id: int) -> None:
    transaction.on_commit(lambda: func(proposal_id))


def _send(subject: str, body: str, recipients: list[str]) -> int:
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    try:
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception as exc:  # SMTP down: the page and the log still show everything
        log.warning("could not send %r to %d recipient(s): %s", subject, len(recipients), exc)
        return 0


def _link(proposal: Proposal) -> str:
    return settings.SITE_ROOT.rstrip("/") + proposal.get_absolute_url()


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
    return _send(f"[qpgov] Review: {proposal.title}", body, emails)


def reminder(proposal_id: int) -> int:
    from .services import electorate

    proposal = Proposal.objects.get(pk=proposal_id)
    voted = Vote.objects.filter(proposal=proposal, revision=proposal.revision).values("voter")
    emails = list(electorate(proposal).exclude(pk__in=voted).values_list("email", flat=True))
    body = (
        f'"{proposal.title}" closes for votes at {proposal.deadline:%Y-%m-%d %H:%M} UTC and '
        f"you have not voted on revision {proposal.revision}.\n\n{_link(proposal)}\n"
    )
    return _send(f"[qpgov] Reminder: {proposal.title}", body, emails)


def decision(proposal_id: int) -> int:
    proposal = Proposal.objects.select_related("proposer").get(pk=proposal_id)
    body = (
        f'Your proposal "{proposal.title}" is {proposal.get_state_display().lower()} '
        f"({proposal.decided_at:%Y-%m-%d %H:%M} UTC).\n\n{_link(proposal)}\n"
    )
    return _send(
        f"[qpgov] {proposal.get_state_display()}: {proposal.title}", body,
        [proposal.proposer.email],
    )
