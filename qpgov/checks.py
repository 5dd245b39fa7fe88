"""System checks: settings qpgov refuses to start with (`manage.py check`, migrate, runserver,
and ExecStartPre in deploy/systemd)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

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


@register()
def checkpoint_key_check(app_configs, **kwargs):
    """The event log's checkpoints need their signing key; production must not start without it."""
    from . import checkpoints

    try:
        checkpoints.signing_key()
    except ImproperlyConfigured as exc:
        if settings.DEV:
            return [Warning(f"{exc}; checkpoints of the event log will not be signed",
                            hint="run `manage.py checkpoint_key --generate` (make run does)",
                            id="qpgov.W004")]
        return [Error(f"{exc}; checkpoints of the event log cannot be signed",
                      hint="set QPGOV_CHECKPOINT_KEY_FILE to an Ed25519 PEM key kept outside the "
                           "database (`manage.py checkpoint_key --generate` writes one)",
                      id="qpgov.E004")]
    return []
