"""The shipped Prometheus rules and Alertmanager example pass the tools' own checks.

Skipped only outside CI when promtool or amtool is missing; in CI a missing tool fails.
"""

import subprocess

from tests.conftest import ROOT
from tests.test_alertmanager_roundtrip import binary

RULES = ROOT / "deploy/prometheus/quantumpay-rules.yml"
ALERTMANAGER = ROOT / "deploy/prometheus/alertmanager.yml"


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_promtool_checks_the_shipped_rules():
    result = run(binary("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout + result.stderr


def test_the_rules_fire_when_and_only_when_the_playbook_says():
    # Unit tests over made-up series: a stall of just over two block intervals, a disk
    # over 80 % for five minutes, more than three restarts in an hour, the watchdog.
    result = run(binary("promtool"), "test", "rules", "tests/prometheus/quantumpay-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_would_catch_a_broken_rule(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("vector(1)", "vector(1"))
    assert run(binary("promtool"), "check", "rules", str(broken)).returncode != 0


def test_amtool_checks_the_alertmanager_example_pointing_at_qpgov():
    result = run(binary("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    text = ALERTMANAGER.read_text()
    assert "/api/alerts/alertmanager" in text and "type: Bearer" in text


def test_amtool_would_catch_a_broken_example(tmp_path):
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER.read_text().replace("receiver: qpgov\n  group_by",
                                                       "receiver: nobody\n  group_by"))
    assert run(binary("amtool"), "check-config", str(broken)).returncode != 0
