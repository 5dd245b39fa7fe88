"""System checks: settings qpgov refuses to start with (`manage.py check`, migrate, runserver,
and ExecStartPre in deploy/systemd)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

from .webhooks import MIN_KEY_BYTES, signing_key


@register()
def site_root_is_https(app_configs=None, **kwargs):
    """Outside dev, SITE_ROOT must be an https URL: it is in every e-mail link and feed id."""
    if getattr(settings, "DEV", False):
        return []
    root = settings.SITE_ROOT or ""
    parts = urlsplit(root)
    if parts.scheme == "https" and parts.hostname and not parts.query and not parts.fragment:
        return []
    return [Error(
        f"SITE_ROOT is {root!r}; outside dev it must be the https URL people reach qpgov at.",
        hint="Set SITE_ROOT=https://gov.example.org in the environment (docs/operations.md).",
        id="qpgov.E001",
    )]


@register()
def webhook_has_a_secret(app_configs=None, **kwargs):
    """A webhook URL needs a signing secret, or a receiver cannot tell our calls from anyone's."""
    url = settings.QPGOV_INCIDENT_WEBHOOK_URL
    errors = []
    if url and signing_key(settings.QPGOV_INCIDENT_WEBHOOK_SECRET) is None:
        errors.append(Error(
            "QPGOV_INCIDENT_WEBHOOK_URL is set but QPGOV_INCIDENT_WEBHOOK_SECRET is empty, "
            f"shorter than {MIN_KEY_BYTES} bytes, or not valid whsec_ base64.",
            hint="Set whsec_ followed by the base64 of 32 random bytes "
                 "(docs/incidents.md, 'Verifying the webhook').",
            id="qpgov.E002",
        ))
    if url and urlsplit(url).scheme not in ("http", "https"):
        errors.append(Error(
            f"QPGOV_INCIDENT_WEBHOOK_URL must be an http(s) URL, not {url!r}.",
            id="qpgov.E003",
        ))
    return errors
