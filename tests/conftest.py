"""Named actors and a real Celery worker for the suite.

alice proposes, olga and oscar are Core Ops, carol, chris and cora sit on
the Governance Council, rita responds to incidents, and eve holds no role.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import OperationalError, connection

from qpgov import roles

ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    broker = settings.CELERY_BROKER_URL.split("@")[-1]
    return [f"qpgov database: {db['ENGINE'].rsplit('.', 1)[-1]}  broker: {broker}"
            + ("  (QPGOV_REQUIRE_PG: no test may skip)" if REQUIRE_PG else "")]


# PostgreSQL-only tests and the PostgreSQL pass of CI.
#
# `@pytest.mark.postgres(reason=...)` marks a test that proves nothing elsewhere
# (a race that SQLite's IMMEDIATE transactions serialise away); on SQLite it is
# reported skipped with its reason. QPGOV_REQUIRE_PG=1, set by .ci/run on its
# PostgreSQL pass, makes that pass refuse to run on any other database and turns
# every skip into a failure, so a PostgreSQL-only test cannot quietly not run.
REQUIRE_PG = os.environ.get("QPGOV_REQUIRE_PG", "") == "1"


def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_sessionstart(session):
    if REQUIRE_PG and not on_postgresql():
        raise pytest.UsageError(
            "QPGOV_REQUIRE_PG=1 but the tests would run on "
            f"{settings.DATABASES['default']['ENGINE']}: set DATABASE_URL to the PostgreSQL server.")


def pytest_collection_modifyitems(config, items):
    if on_postgresql():
        return
    for item in items:
        marker = item.get_closest_marker("postgres")
        if marker is not None:
            reason = marker.kwargs.get("reason", "only meaningful on PostgreSQL")
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only: {reason}"))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_PG and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"QPGOV_REQUIRE_PG=1: nothing may be skipped on the PostgreSQL pass, "
                           f"but this test was: {_skip_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_PG and report.skipped:
        report.outcome = "failed"
        report.longrepr = (f"QPGOV_REQUIRE_PG=1: nothing may be skipped on the PostgreSQL pass, "
                           f"but {collector.nodeid} was: {_skip_reason(report)}")


def _flush_past_the_append_only_triggers():
    """Let the test runner empty the tables between transactional tests on PostgreSQL.

    The event log's triggers refuse TRUNCATE, as they must on a real database
    (qpgov migration 0004); the test database is emptied as a replica would be,
    with triggers not firing, inside the flush's own transaction.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush

    # A worker test can end while the real worker is still running the next
    # step of a pipeline (the freeze succeeded; the log step has begun). The
    # flush's TRUNCATE then takes its locks table by table against the worker's
    # transaction, and PostgreSQL may break the deadlock by failing the flush;
    # the next test then starts on a database that was never emptied. Try the
    # flush again: the worker's transaction is over by then (or was the victim).
    original_execute = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(1, 6):
            try:
                return original_execute(self, sql_list)
            except OperationalError as exc:
                sqlstate = getattr(exc.__cause__, "sqlstate", None)
                if sqlstate not in ("40P01", "40001", "55P03") or attempt == 5:
                    raise
                time.sleep(0.2 * attempt)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_past_the_append_only_triggers()


def make_user(username, *role_names, **extra):
    user = User.objects.create_user(
        username, f"{username}@example.invalid", "pw-" + username, **extra
    )
    if role_names:
        # Seeded as held before the test began: bulk_create sends no m2m_changed,
        # so fixtures add nothing to the event log and tests that count events
        # start from an empty log. Role changes under test go through the
        # ordinary paths (tests/test_role_changes.py).
        through = User.groups.through
        through.objects.bulk_create(
            through(user=user, group=group) for group in Group.objects.filter(name__in=role_names)
        )
    return user


@pytest.fixture
def alice(db):
    return make_user("alice", roles.PROPOSERS, first_name="Alice")


@pytest.fixture
def olga(db):
    return make_user("olga", roles.CORE_OPS)


@pytest.fixture
def oscar(db):
    return make_user("oscar", roles.CORE_OPS)


@pytest.fixture
def carol(db):
    return make_user("carol", roles.COUNCIL)


@pytest.fixture
def chris(db):
    return make_user("chris", roles.COUNCIL)


@pytest.fixture
def cora(db):
    return make_user("cora", roles.COUNCIL)


@pytest.fixture
def rita(db):
    return make_user("rita", roles.RESPONDERS)


@pytest.fixture
def eve(db):
    return make_user("eve")


@pytest.fixture
def staff(db):
    return make_user("stan", is_staff=True, is_superuser=True)


def _database_url() -> str:
    """The URL of the test database, for processes started by the tests."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="session")
def process_env(django_db_setup):
    """Environment for child processes (worker, commands) that share the test database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=_database_url(),
        QPGOV_VAR_DIR=str(settings.VAR_DIR),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        PYTHONPATH=str(ROOT),
    )
    return env


class WorkerProcess:
    """A real `celery worker` process; `restart()` and `kill()` are for fault tests."""

    def __init__(self, env, log_path: Path, queues: str = f"celery,{settings.INCIDENT_STEPS_QUEUE}",
                 name: str = "test"):
        self.env = env
        self.log_path = log_path
        self.queues = queues
        self.name = name
        self.proc = None

    def start(self, timeout=60):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qpgov", "worker", "--pool=solo",
             "-Q", self.queues,
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"{self.name}-{os.getpid()}@%h"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[start_offset:]
            if b" ready." in text:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("celery worker did not start:\n" + self.log_path.read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def celery_worker(process_env, tmp_path_factory):
    """One real worker for the session, on the configured broker and the test database."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "qpgov", "purge", "-f",
         "-Q", f"celery,{settings.INCIDENT_STEPS_QUEUE}"],
        cwd=ROOT, env=process_env, check=True, capture_output=True, timeout=60,
    )
    worker = WorkerProcess(process_env, log_path).start()
    yield worker
    worker.stop()


def wait_for(predicate, timeout=30.0, interval=0.1, message="condition"):
    """Poll `predicate` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {message}")


# Incidents: demo nodes (real local processes) and a private evidence folder.


@pytest.fixture
def make_demo_node(db, tmp_path):
    """Start a real demo node process under tmp_path and register it; stopped afterwards."""
    from fleet import demo
    from fleet.models import Node

    started = []

    def make(name="validator-1", start=True, **fields):
        data_dir = tmp_path / name / "data"
        data_dir.mkdir(parents=True)
        (data_dir / "state.db").write_text(f"state of {name}\n")
        if start:
            demo.start(data_dir)
            started.append(data_dir)
        return Node.objects.create(name=name, data_dir=str(data_dir), **fields)

    yield make
    for data_dir in started:
        demo.stop(data_dir)


@pytest.fixture
def demo_node(make_demo_node):
    return make_demo_node()


@pytest.fixture
def evidence_dir(settings, tmp_path):
    """Evidence for this test goes to its own folder (the in-process worker code only)."""
    folder = tmp_path / "evidence"
    settings.STORAGES = {**settings.STORAGES, "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder)},
    }}
    return folder


@pytest.fixture
def published(monkeypatch):
    """Capture incident task messages instead of sending them: [(task name, args, options)]."""
    from incidents import tasks

    sent = []

    class Result:
        id = "captured"

    def capture(task):
        def apply_async(args=(), **options):
            sent.append((task.name, tuple(args), options))
            return Result()

        return apply_async

    for task in (tasks.run_step, tasks.unfreeze_node):
        monkeypatch.setattr(task, "apply_async", capture(task))
    return sent


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache, so cached pages never leak between tests."""
    from django.core.cache import cache

    from qpgov import pagecache

    cache.clear()
    pagecache.forget()


# Post-mortems.


@pytest.fixture
def make_council_responder(db):
    """Someone on both the Governance Council and the responders: may write or approve, not both."""
    return make_user("cleo", roles.COUNCIL, roles.RESPONDERS)
