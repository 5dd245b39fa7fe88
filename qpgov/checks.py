"""System checks for what qpgov needs outside the database."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


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
                            id="qpgov.W001")]
        return [Error(f"{exc}; checkpoints of the event log cannot be signed",
                      hint="set QPGOV_CHECKPOINT_KEY_FILE to an Ed25519 PEM key kept outside the "
                           "database (`manage.py checkpoint_key --generate` writes one)",
                      id="qpgov.E001")]
    return []
