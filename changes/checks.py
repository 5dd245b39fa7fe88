"""System checks of change control's own settings (registered in ChangesConfig.ready)."""

from django.conf import settings
from django.core.checks import Error, register

from .notify import SEND_LEASE


@register()
def email_timeout_fits_in_the_send_lease(app_configs=None, **kwargs):
    """A send may last EMAIL_TIMEOUT; its claim must outlive it, or a slow send is sent twice."""
    if settings.EMAIL_TIMEOUT < SEND_LEASE.total_seconds():
        return []
    return [Error(
        f"EMAIL_TIMEOUT is {settings.EMAIL_TIMEOUT} s, not shorter than the "
        f"{SEND_LEASE.total_seconds():.0f} s an e-mail's claim lasts: a send still waiting on a "
        "slow mail server would be claimed and sent again.",
        hint="Keep EMAIL_TIMEOUT at tens of seconds (default 10).",
        id="changes.E001")]
