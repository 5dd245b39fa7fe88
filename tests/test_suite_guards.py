"""The suite's own guards: PostgreSQL-only tests skip elsewhere with their reason, and the
PostgreSQL pass of CI (QPGOV_REQUIRE_PG=1) neither runs on SQLite nor lets any test skip.

Each case runs pytest in a child process on a two-test file, with tests/conftest.py
loaded as a plugin by the child's own conftest. The child's tests touch no database, so a PostgreSQL URL that
nothing answers is enough to select the engine.
"""

import os
import subprocess
import sys

from tests.conftest import ROOT

CHILD_TESTS = '''
import pytest

@pytest.mark.postgres(reason="a race that SQLite serialises")
def test_a_race():
    pass

def test_something_missing_here():
    pytest.skip("no such tool on this machine")
'''


def run_child(tmp_path, database_url, **env):
    (tmp_path / "test_child.py").write_text(CHILD_TESTS)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    child_env = {k: v for k, v in os.environ.items() if k != "QPGOV_REQUIRE_PG"}
    child_env.update(DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=database_url,
                     QPGOV_VAR_DIR=str(tmp_path / "var"), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-rsf", str(tmp_path / "test_child.py")],
        cwd=tmp_path, env=child_env, capture_output=True, text=True, timeout=120)


NOWHERE_PG = "postgres://nobody@127.0.0.1:1/nothing"


def test_a_postgresql_only_test_is_skipped_on_sqlite_with_its_reason(tmp_path):
    result = run_child(tmp_path, f"sqlite:///{tmp_path}/child.sqlite3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PostgreSQL only: a race that SQLite serialises" in result.stdout
    assert "2 skipped" in result.stdout


def test_the_postgresql_pass_refuses_to_run_on_sqlite(tmp_path):
    result = run_child(tmp_path, f"sqlite:///{tmp_path}/child.sqlite3", QPGOV_REQUIRE_PG="1")
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error, nothing ran
    assert "QPGOV_REQUIRE_PG=1 but the tests would run on django.db.backends.sqlite3" in (
        result.stdout + result.stderr)


def test_on_the_postgresql_pass_a_skip_is_a_failure(tmp_path):
    result = run_child(tmp_path, NOWHERE_PG, QPGOV_REQUIRE_PG="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert ("nothing may be skipped on the PostgreSQL pass, but this test was: "
            "no such tool on this machine") in result.stdout


def test_without_the_guard_the_same_skip_is_only_reported(tmp_path):
    result = run_child(tmp_path, NOWHERE_PG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
