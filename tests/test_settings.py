import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def run_manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "QPGOV_ENV")}
    full_env.update(DJANGO_SETTINGS_MODULE="qpgov.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_dev_mode_starts_without_a_secret_key():
    result = run_manage("check", QPGOV_ENV="dev")
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_check_deploy(tmp_path):
    from qpgov.checkpoints import generate_key_file

    generate_key_file(tmp_path / "checkpoint-key.pem")
    result = run_manage(
        "check", "--deploy", "--fail-level", "DEBUG",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="gov.example.org",
        SITE_ROOT="https://gov.example.org",
        QPGOV_METRICS_TOKEN=secrets.token_urlsafe(32),
        QPGOV_CHECKPOINT_KEY_FILE=str(tmp_path / "checkpoint-key.pem"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_checkpoint_key(tmp_path):
    result = run_manage(
        "check", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="gov.example.org",
        QPGOV_CHECKPOINT_KEY_FILE=str(tmp_path / "absent.pem"),
    )
    assert result.returncode != 0
    assert "qpgov.E004" in result.stderr and "absent.pem" in result.stderr


def test_dev_settings_fail_check_deploy():
    # The same check must be able to fail, or the test above proves nothing.
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", QPGOV_ENV="dev")
    assert result.returncode != 0


def test_a_driver_setting_that_names_the_old_module_stops_the_start():
    result = run_manage("check", QPGOV_ENV="dev", QPGOV_NODE_DRIVER="incidents.drivers.CommandDriver")
    assert result.returncode != 0
    assert "use fleet.drivers.CommandDriver" in result.stderr
