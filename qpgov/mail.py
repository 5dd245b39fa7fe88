"""Sending one e-mail to one person, for every app: the headers are made safe here, and a
failure comes back as a result to record, never as an exception or only a log line."""

from datetime import timedelta

from django.core.mail import send_mail

from .text import one_line


def send_one(subject: str, body: str, recipient: str) -> tuple[bool, str]:
    """Send; return (accepted, what to show on the page about this try).

    The subject and address are made one line first: a CR or LF there would
    make Django refuse the whole message (BadHeaderError), and single-line
    fields refusing them is only the first line of defence.
    """
    try:
        sent = send_mail(one_line(subject), body, None, [one_line(recipient).strip()])
    except Exception as exc:  # SMTP down, refused address
        return False, f"{type(exc).__name__}: {exc}"[:1000]
    return sent == 1, "accepted by the mail server" if sent else "not sent"


# Tries 1, 2, 3… wait 1, 2, 4… minutes before the next, at most an hour; after
# MAX_ATTEMPTS (about a day) a delivery says it gave up. Every app's retries use these.
MAX_ATTEMPTS = 30
MAX_BACKOFF = timedelta(hours=1)
# A claimed try that has not finished after this long is assumed dead and tried again.
SEND_LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """How long to wait after failed try number `attempts` before the next."""
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_BACKOFF)
