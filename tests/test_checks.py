"""Settings qpgov refuses to start with: system checks, run by `manage.py check` and at deploy."""

import secrets

import pytest

from qpgov import checks
from tests.test_settings import run_manage

PRODUCTION = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "gov.example.org"}


@pytest.mark.parametrize("root", ["", "http://127.0.0.1:8000", "http://gov.example.org",
                                  "gov.example.org", "https://", "ftp://gov.example.org",
                                  "https://gov.example.org/?next=x"])
def test_outside_dev_site_root_must_be_an_https_url(settings, root):
    settings.DEV, settings.SITE_ROOT = False, root
    assert [e.id for e in checks.site_root_is_https()] == ["qpgov.E001"]


@pytest.mark.parametrize("root", ["https://gov.example.org", "https://gov.example.org/qpgov/"])
def test_an_https_site_root_passes(settings, root):
    settings.DEV, settings.SITE_ROOT = False, root
    assert checks.site_root_is_https() == []


def test_dev_may_use_a_local_http_site_root(settings):
    settings.DEV, settings.SITE_ROOT = True, "http://127.0.0.1:8000"
    assert checks.site_root_is_https() == []


def test_production_refuses_to_start_without_site_root():
    result = run_manage("check", **PRODUCTION)
    assert result.returncode != 0
    assert "qpgov.E001" in result.stderr and "SITE_ROOT" in result.stderr


def test_production_refuses_to_start_with_a_webhook_url_and_no_secret():
    result = run_manage("check", SITE_ROOT="https://gov.example.org",
                        QPGOV_INCIDENT_WEBHOOK_URL="https://hooks.example.org/q", **PRODUCTION)
    assert result.returncode != 0
    assert "qpgov.E002" in result.stderr and "qpgov.E001" not in result.stderr


def test_production_starts_with_an_https_site_root(tmp_path):
    from qpgov.checkpoints import generate_key_file

    generate_key_file(tmp_path / "checkpoint-key.pem")
    result = run_manage("check", SITE_ROOT="https://gov.example.org",
                        QPGOV_CHECKPOINT_KEY_FILE=str(tmp_path / "checkpoint-key.pem"), **PRODUCTION)
    assert result.returncode == 0, result.stderr


# Node, check and worker settings: nonsense is refused at start, not found at the next incident.

def ids(messages):
    return sorted(m.id for m in messages)


def test_the_shipped_node_and_worker_settings_pass():
    assert checks.timeouts_and_pools_are_usable() == []


@pytest.mark.parametrize("name, value", [
    ("QPGOV_NODE_PARALLELISM", 0), ("QPGOV_NODE_PARALLELISM", -4),
    ("QPGOV_NODE_FREEZE_TIMEOUT", 0), ("QPGOV_NODE_FREEZE_TIMEOUT", -1),
    ("QPGOV_NODE_COMMAND_TIMEOUT", 0), ("QPGOV_NODE_CHECK_TIMEOUT", 0),
    ("QPGOV_NODE_CHECK_EVERY_HOURS", 0), ("QPGOV_NODE_CHECK_HEIGHT_INTERVAL", 0),
    ("QPGOV_ALERT_WATCHDOG_SILENT_MINUTES", 0), ("EMAIL_TIMEOUT", 0),
])
def test_a_pool_or_timeout_below_one_is_refused(settings, name, value):
    setattr(settings, name, value)
    errors = checks.timeouts_and_pools_are_usable()
    assert ids(errors) == ["qpgov.E005"]
    assert name in errors[0].msg and str(value) in errors[0].msg


def test_a_memory_window_of_one_reading_is_refused(settings):
    settings.QPGOV_NODE_CHECK_MEMORY_READINGS = 1
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.E006"]


@pytest.mark.parametrize("name, value", [
    ("QPGOV_NODE_CHECK_DISK_MAX_PERCENT", 0), ("QPGOV_NODE_CHECK_DISK_MAX_PERCENT", 170),
    ("QPGOV_UPTIME_TARGET_PERCENT", 0.0), ("QPGOV_UPTIME_TARGET_PERCENT", 100.5),
])
def test_a_percentage_outside_0_to_100_is_refused(settings, name, value):
    setattr(settings, name, value)
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.E007"]


def test_an_uptime_gap_shorter_than_the_check_interval_is_refused(settings):
    settings.QPGOV_NODE_CHECK_EVERY_HOURS, settings.QPGOV_UPTIME_MAX_GAP_HOURS = 48, 26
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.E008"]


def test_the_embedded_broker_must_poll_and_should_poll_well_under_a_second(settings):
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**options, "polling_interval": 0.0}
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.E009"]
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**options, "polling_interval": 1.0}
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.W006"]


def test_a_freeze_timeout_longer_than_the_streaming_timeout_is_a_warning(settings):
    settings.QPGOV_NODE_FREEZE_TIMEOUT, settings.QPGOV_NODE_COMMAND_TIMEOUT = 600, 300
    assert ids(checks.timeouts_and_pools_are_usable()) == ["qpgov.W005"]


def test_an_email_timeout_as_long_as_the_send_lease_is_refused(settings):
    from changes import checks as changes_checks

    assert changes_checks.email_timeout_fits_in_the_send_lease() == []
    settings.EMAIL_TIMEOUT = 300
    assert ids(changes_checks.email_timeout_fits_in_the_send_lease()) == ["changes.E001"]


def test_qpgov_refuses_to_start_with_a_pool_of_zero_or_a_freeze_timeout_of_zero():
    result = run_manage("check", QPGOV_ENV="dev", QPGOV_NODE_PARALLELISM="0",
                        QPGOV_NODE_FREEZE_TIMEOUT="0")
    assert result.returncode != 0
    assert result.stderr.count("qpgov.E005") == 2
    assert "QPGOV_NODE_PARALLELISM is 0" in result.stderr
    assert "QPGOV_NODE_FREEZE_TIMEOUT is 0" in result.stderr
