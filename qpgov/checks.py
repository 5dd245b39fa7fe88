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


# Numbers that must be at least 1, and what qpgov would do with anything less. Each
# was once accepted silently: a pool of 0 raised inside the step's claim, so no node
# was ever frozen; a freeze timeout of 0 recorded every freeze as timed out.
AT_LEAST_ONE = {
    "QPGOV_NODE_PARALLELISM": "a step would have no thread to act on its nodes, so no node "
                              "would ever be frozen",
    "QPGOV_NODE_FREEZE_TIMEOUT": "every stop, check and start would time out before it began",
    "QPGOV_NODE_COMMAND_TIMEOUT": "every log stream and snapshot would time out before it began",
    "QPGOV_NODE_CHECK_TIMEOUT": "every daily check would time out and read unknown",
    "QPGOV_NODE_CHECK_EVERY_HOURS": "every sweep (each minute) would start another check run",
    "QPGOV_NODE_CHECK_HEIGHT_INTERVAL": "the two block heights would be read at the same moment, "
                                        "so no node's height could rise",
    "QPGOV_ALERT_WATCHDOG_SILENT_MINUTES": "monitoring would be reported silent all the time",
    "EMAIL_TIMEOUT": "no e-mail could be sent",
}


@register()
def timeouts_and_pools_are_usable(app_configs=None, **kwargs):
    """Refuse node, check and worker settings that would quietly stop containment or checks."""
    errors = []
    for name, consequence in AT_LEAST_ONE.items():
        value = getattr(settings, name)
        if value < 1:
            errors.append(Error(f"{name} is {value}; it must be at least 1: {consequence}.",
                                hint=f"Unset {name} for its default, or set a positive number "
                                     "(docs/operations.md).", id="qpgov.E005"))
    if settings.QPGOV_NODE_CHECK_MEMORY_READINGS < 2:
        errors.append(Error(
            f"QPGOV_NODE_CHECK_MEMORY_READINGS is {settings.QPGOV_NODE_CHECK_MEMORY_READINGS}; "
            "memory is judged by comparing readings, so the window needs at least 2.",
            id="qpgov.E006"))
    for name in ("QPGOV_NODE_CHECK_DISK_MAX_PERCENT", "QPGOV_UPTIME_TARGET_PERCENT"):
        value = getattr(settings, name)
        if not 0 < value <= 100:
            errors.append(Error(f"{name} is {value}; a percentage must be above 0 and at most 100.",
                                id="qpgov.E007"))
    # A node observed up stays up until its next observation, for at most the gap: a
    # gap shorter than the time between daily checks leaves part of every day
    # unobserved, and a node that is never observed up cannot meet the uptime target.
    if settings.QPGOV_UPTIME_MAX_GAP_HOURS < settings.QPGOV_NODE_CHECK_EVERY_HOURS:
        errors.append(Error(
            f"QPGOV_UPTIME_MAX_GAP_HOURS ({settings.QPGOV_UPTIME_MAX_GAP_HOURS}) is shorter than "
            f"QPGOV_NODE_CHECK_EVERY_HOURS ({settings.QPGOV_NODE_CHECK_EVERY_HOURS}): part of "
            "every day between checks would count as unobserved, never as up.",
            hint="Keep the gap a little longer than the check interval (defaults: 26 and 24).",
            id="qpgov.E008"))
    polling = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("polling_interval")
    if polling is not None and polling <= 0:
        errors.append(Error(
            f"QPGOV_BROKER_POLLING_INTERVAL is {polling}; it must be above 0 (0 would list the "
            "broker's folder without a pause).", id="qpgov.E009"))
    elif polling is not None and polling >= 1:
        errors.append(Warning(
            f"QPGOV_BROKER_POLLING_INTERVAL is {polling} s: every response step waits up to that "
            "long for the next to be picked up.", hint="The default is 0.1 s.", id="qpgov.W006"))
    if settings.QPGOV_NODE_FREEZE_TIMEOUT > settings.QPGOV_NODE_COMMAND_TIMEOUT >= 1:
        errors.append(Warning(
            f"QPGOV_NODE_FREEZE_TIMEOUT ({settings.QPGOV_NODE_FREEZE_TIMEOUT} s) is longer than "
            f"QPGOV_NODE_COMMAND_TIMEOUT ({settings.QPGOV_NODE_COMMAND_TIMEOUT} s): a hung node "
            "would hold the freeze longer than log streaming may take.",
            hint="The freeze timeout is meant to be the short one (tens of seconds).",
            id="qpgov.W005"))
    return errors
