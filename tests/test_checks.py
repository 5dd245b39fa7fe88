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
