"""Notification e-mail is never lost to one bad header or one SMTP outage: every message is a
row, shown on the page until it goes, and retried by the sweep with backoff."""

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.urls import reverse
from django.utils import timezone

from changes import notify
from changes.models import EmailDelivery, Proposal
from changes.tasks import decide_due_proposals
from incidents import runbook
from incidents import services as incident_services
from incidents.models import NotificationDelivery, ResponseStep
from incidents.tasks import run_step, sweep_steps
from qpgov import mail as qpgov_mail
from tests.factories import in_review

CRLF_TITLE = "Raise p2p peers\r\nBcc: everyone@example.com"


class FlakyBackend(EmailBackend):
    """The local-memory backend, with an SMTP server that can be down."""

    down = False

    def send_messages(self, messages):
        if FlakyBackend.down:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def smtp(settings):
    settings.EMAIL_BACKEND = "tests.test_notifications.FlakyBackend"
    FlakyBackend.down = False
    yield FlakyBackend
    FlakyBackend.down = False


def test_a_title_with_a_line_break_still_reaches_every_approver(
    alice, olga, oscar, django_capture_on_commit_callbacks
):
    # Stored before forms refused it (or through the admin): the e-mail must still go.
    with django_capture_on_commit_callbacks(execute=True):
        proposal = in_review(alice, title=CRLF_TITLE)
    assert sorted(m.to[0] for m in mail.outbox) == ["olga@example.invalid",
                                                    "oscar@example.invalid"]
    for message in mail.outbox:
        assert "\r" not in message.subject and "\n" not in message.subject
        assert message.subject.startswith("[qpgov] Review: Raise p2p peers")
        assert "Bcc" not in message.message().keys()
    assert set(proposal.deliveries.values_list("status", flat=True)) == {EmailDelivery.SENT}


def test_a_failed_notice_is_shown_on_the_page_and_retried_with_backoff(
    client, alice, olga, oscar, smtp, django_capture_on_commit_callbacks
):
    smtp.down = True
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            proposal = in_review(alice)
        rows = list(proposal.deliveries.all())
        assert [(r.recipient, r.attempts, r.status) for r in rows] == [
            ("olga@example.invalid", 1, "pending"), ("oscar@example.invalid", 1, "pending")]
        assert all("SMTPServerDisconnected" in r.last_error for r in rows)
        assert all(r.next_attempt_at == start + timedelta(minutes=1) for r in rows)

        client.force_login(olga)
        page = client.get(proposal.get_absolute_url()).content.decode()
        assert "E-mail not delivered yet" in page and "SMTPServerDisconnected" in page
        assert "oscar@example.invalid" in page

        assert decide_due_proposals()["emails_sent"] == 0  # not due yet: nothing tried
        assert set(proposal.deliveries.values_list("attempts", flat=True)) == {1}

    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert decide_due_proposals()["emails_sent"] == 0  # still down: try 2, then wait 2 min
        assert {(r.attempts, r.next_attempt_at) for r in proposal.deliveries.all()} == {
            (2, start + timedelta(minutes=3))}

    smtp.down = False
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        assert decide_due_proposals()["emails_sent"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["olga@example.invalid",
                                                    "oscar@example.invalid"]
    assert set(proposal.deliveries.values_list("status", flat=True)) == {EmailDelivery.SENT}
    page = client.get(proposal.get_absolute_url()).content.decode()
    assert "E-mail not delivered yet" not in page
    assert decide_due_proposals()["emails_sent"] == 0  # sent once, never again


def test_two_senders_send_a_delivery_once(alice, olga, oscar, django_capture_on_commit_callbacks):
    proposal = in_review(alice)  # callbacks not run: the rows wait, as after a crash
    first, second = list(proposal.deliveries.all())[:1] * 2
    assert notify._try(first) is True
    assert notify._try(second) is False  # the same row, read before the first try claimed it
    assert len(mail.outbox) == 1


def test_it_gives_up_after_the_last_try_and_says_so(client, alice, olga, oscar, smtp):
    proposal = in_review(alice)
    proposal.deliveries.update(attempts=notify.MAX_ATTEMPTS - 1)
    smtp.down = True
    notify.send_due()
    assert set(proposal.deliveries.values_list("status", "next_attempt_at")) == {
        (EmailDelivery.FAILED, None)}
    client.force_login(olga)
    assert "gave up" in client.get(proposal.get_absolute_url()).content.decode()
    smtp.down = False
    assert notify.send_due() == 0


def test_the_backoff_doubles_up_to_an_hour():
    assert [notify.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 6, 7, 20)] == [
        1, 2, 4, 32, 60, 60]


def test_an_incident_title_with_a_line_break_still_reaches_the_council(rita, carol, demo_node,
                                                                       published):
    incident = incident_services.declare(title="Stalled\r\nBcc: everyone@example.com",
                                         severity="SEV2", nodes=[demo_node], declared_by=rita)
    incident.steps.exclude(kind=runbook.NOTIFY_GOVERNANCE).update(status=ResponseStep.SKIPPED)
    step = incident.steps.get(kind=runbook.NOTIFY_GOVERNANCE)
    ResponseStep.objects.filter(pk=step.pk).update(next_attempt_at=timezone.now())
    run_step(step.id)
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED, step.last_error
    message, = mail.outbox
    assert "\n" not in message.subject and "\r" not in message.subject
    assert incident.deliveries.get(channel=NotificationDelivery.EMAIL).ok


def test_a_proposal_stays_decidable_when_every_send_fails(alice, olga, oscar, smtp,
                                                          django_capture_on_commit_callbacks):
    smtp.down = True
    with django_capture_on_commit_callbacks(execute=True):
        proposal = in_review(alice)
    assert Proposal.objects.get(pk=proposal.pk).state == "in_review"
    assert reverse("changes:detail", args=[proposal.pk]) == proposal.get_absolute_url()


def stuck_response(settings, rita, demo_node):
    """An incident whose freeze step went straight to a human: the responders get mail."""
    settings.QPGOV_NODE_DRIVER = "incidents.no_such.Driver"
    incident = incident_services.declare(title="Stalled blocks", severity="SEV2", nodes=[demo_node],
                                         declared_by=rita)
    run_step(incident.steps.get(kind=runbook.FREEZE).id)
    return incident


def needs_attention_mail():
    return [m for m in mail.outbox if "needs attention" in m.subject]


def test_the_needs_attention_mail_to_responders_is_retried_until_it_goes(
        client, settings, rita, demo_node, published, smtp):
    smtp.down = True
    incident = stuck_response(settings, rita, demo_node)
    row, = incident.deliveries.filter(purpose=NotificationDelivery.RESPONDERS)
    assert (row.ok, row.attempts, row.recipient) == (False, 1, rita.email)
    assert "SMTPServerDisconnected" in row.response_excerpt and row.next_attempt_at is not None
    client.force_login(rita)
    page = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "try 1: SMTPServerDisconnected" in page

    smtp.down = False
    assert sweep_steps()["responders_mailed"] == 0  # not before its backoff
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1)):
        assert sweep_steps()["responders_mailed"] == 1
    row.refresh_from_db()
    assert row.ok and row.attempts == 2 and row.next_attempt_at is None
    message, = needs_attention_mail()
    assert message.to == [rita.email] and "Freeze affected nodes" in message.subject
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert sweep_steps()["responders_mailed"] == 0  # sent once, not again


def test_the_needs_attention_mail_gives_up_after_the_last_try_and_says_so(
        settings, rita, demo_node, published, smtp):
    smtp.down = True
    incident = stuck_response(settings, rita, demo_node)
    rows = incident.deliveries.filter(purpose=NotificationDelivery.RESPONDERS)
    rows.update(attempts=qpgov_mail.MAX_ATTEMPTS - 1)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        sweep_steps()
    row, = rows
    assert not row.ok and row.next_attempt_at is None and row.response_excerpt.startswith("gave up")
    assert needs_attention_mail() == []
