"""Faults with real processes: a worker killed mid-command, Redis down, PostgreSQL restarted.

Each test runs its own `celery worker` processes (the session worker is
paused so it cannot take their tasks) and stops by itself: every wait is a
bounded poll of a real process. The Redis and PostgreSQL tests need the
servers that .ci/run starts, and are skipped on the SQLite run.
"""

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from fleet.models import Node
from incidents import runbook, services
from incidents.models import Evidence, Incident, ResponseStep
from incidents.tasks import SWEEP_GRACE, run_step, sweep_steps
from qpgov import eventlog
from qpgov.dispatch import send_now
from tests.conftest import WorkerProcess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REDIS_URL = os.environ.get("QPGOV_REDIS_URL", "")
PG_DATA = os.environ.get("QPGOV_PG_DATA", "")
PG_BIN = os.environ.get("QPGOV_PG_BIN", "/usr/lib/postgresql/15/bin")

# The logs command, except that its first run waits (at most 60 s) for a
# "release" file next to the node's data directory: the test kills the worker
# while it waits, at a moment it chose, instead of racing a sleep.
GATED_LOGS = """\
data=$1
home=$(dirname "$data")
if [ ! -e "$home/logs-started" ]; then
  touch "$home/logs-started"
  i=0
  while [ ! -e "$home/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
exec sh {node_sh} logs "$data"
"""


@pytest.fixture
def own_worker(celery_worker, process_env, evidence_dir, tmp_path):
    """Start workers that only this test uses; all are stopped and the session worker resumes."""
    celery_worker.stop()
    started = []

    def start(**env):
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(dict(process_env, QPGOV_EVIDENCE_DIR=str(evidence_dir), **env),
                               log_path)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
    celery_worker.start()


def state_of(incident):
    return Incident.objects.get(pk=incident.pk).state


def declare(rita, nodes, title="Validator double-signing"):
    return services.declare(title=title, severity="SEV1", nodes=nodes, declared_by=rita)


def evidence_files(evidence_dir, incident):
    folder = evidence_dir / f"incident-{incident.pk}"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("manifest-"))


def test_a_worker_killed_mid_command_is_replaced_and_the_incident_completes_without_duplicates(
    own_worker, rita, carol, make_demo_node, evidence_dir, tmp_path, capsys
):
    node = make_demo_node()
    home = Path(node.data_dir).parent
    script = tmp_path / "gated-logs.sh"
    script.write_text(GATED_LOGS.format(node_sh=Path(__file__).parent.parent / "fleet/demo/node.sh"))
    commands = json.dumps({"logs": f"sh {script} {{data_dir}}"})

    first = own_worker(QPGOV_NODE_COMMANDS=commands)
    incident = declare(rita, [node])
    wait_for(lambda: (home / "logs-started").exists(), timeout=60,
             message="the worker to start collecting the node's logs")
    step = incident.steps.get(kind=runbook.PRESERVE_LOGS)
    assert step.status == ResponseStep.RUNNING and step.attempts == 1

    first.kill()  # SIGKILL: no cleanup, no ack, the step row stays "running"
    (home / "release").touch()  # the orphaned command may finish; nobody records it
    step.refresh_from_db()
    assert step.status == ResponseStep.RUNNING

    # The lease runs out (moved into the past rather than waited for).
    ResponseStep.objects.filter(id=step.id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    own_worker(QPGOV_NODE_COMMANDS=commands)
    assert sweep_steps()["expired"] == 1
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=90,
             message="the fresh worker to finish the response")

    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED and step.attempts == 2
    assert [(t.attempt, t.status, t.error_class) for t in step.tries.all()] == [
        (1, ResponseStep.FAILED, "LeaseExpired"), (2, ResponseStep.SUCCEEDED, "")]
    # One logs export and one snapshot, in the database and on disk: no duplicate evidence.
    assert sorted(Evidence.objects.filter(incident=incident).values_list("kind", flat=True)) == [
        Evidence.LOGS, Evidence.SNAPSHOT]
    assert len(evidence_files(evidence_dir, incident)) == 2
    call_command("verify_evidence", str(incident.pk))
    assert "evidence ok: 2 files" in capsys.readouterr().out
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print("\n  fault survived: kill -9 of the worker mid-command, step re-dispatched after "
              "its lease")


def test_a_step_delivered_again_to_a_second_worker_while_the_first_runs_it_acts_once(
    own_worker, rita, carol, make_demo_node, evidence_dir, tmp_path, capsys
):
    node = make_demo_node()
    home = Path(node.data_dir).parent
    script = tmp_path / "gated-logs.sh"
    script.write_text(GATED_LOGS.format(node_sh=Path(__file__).parent.parent / "fleet/demo/node.sh"))
    commands = json.dumps({"logs": f"sh {script} {{data_dir}}"})

    own_worker(QPGOV_NODE_COMMANDS=commands)
    incident = declare(rita, [node])
    wait_for(lambda: (home / "logs-started").exists(), timeout=60,
             message="the first worker to start collecting the node's logs")
    step = incident.steps.get(kind=runbook.PRESERVE_LOGS)

    second = own_worker(QPGOV_NODE_COMMANDS=commands)
    task_id = send_now(run_step, step.id)  # the same step, delivered again
    assert task_id
    wait_for(lambda: f"{task_id}] succeeded" in second.log_path.read_text(), timeout=60,
             message="the second worker to receive the duplicate and find nothing to claim")
    (home / "release").touch()
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=90,
             message="the first worker to finish the response")

    step.refresh_from_db()
    assert step.attempts == 1 and step.tries.count() == 1
    assert Evidence.objects.filter(incident=incident, kind=Evidence.LOGS).count() == 1
    assert len(evidence_files(evidence_dir, incident)) == 2
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print("\n  race: one step delivered to two worker processes at once, one side effect")


class RedisServer:
    """The CI Redis, stopped and started again on the same port with the same options."""

    def __init__(self, url):
        self.url = url
        self.port = str(urlparse(url).port)
        self.pidfile = self._config("pidfile")
        self.logfile = self._config("logfile")

    def _config(self, name):
        out = subprocess.run(["redis-cli", "-u", self.url, "config", "get", name],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return out.splitlines()[1] if len(out.splitlines()) > 1 else ""

    def ping(self):
        return subprocess.run(["redis-cli", "-u", self.url, "ping"], capture_output=True,
                              text=True, timeout=10).stdout.strip() == "PONG"

    def stop(self):
        subprocess.run(["redis-cli", "-u", self.url, "shutdown", "nosave"], capture_output=True,
                       timeout=10)
        wait_for(lambda: not self.ping(), timeout=10, message="Redis to stop")

    def start(self):
        args = ["redis-server", "--bind", "127.0.0.1", "--port", self.port, "--save", "",
                "--appendonly", "no", "--daemonize", "yes"]
        args += ["--pidfile", self.pidfile] if self.pidfile else []
        args += ["--logfile", self.logfile] if self.logfile else []
        subprocess.run(args, check=True, timeout=10, stdout=subprocess.DEVNULL)
        wait_for(self.ping, timeout=10, message="Redis to answer again")


@pytest.mark.skipif(not REDIS_URL, reason="needs the CI Redis: QPGOV_REDIS_URL is set by .ci/run "
                                          "on its PostgreSQL + Redis run")
def test_an_incident_declared_while_redis_is_down_is_saved_shown_as_queued_and_completes_later(
    own_worker, client, rita, carol, make_demo_node, capsys
):
    node = make_demo_node()
    worker = own_worker()
    redis = RedisServer(REDIS_URL)
    client.force_login(rita)
    redis.stop()
    try:
        response = client.post(reverse("incidents:declare"), {
            "title": "Validator double-signing", "severity": "SEV1", "nodes": [node.pk],
            "commander": rita.pk, "summary": "Declared while the broker is down."})
        assert response.status_code == 302
        incident = Incident.objects.get()
        assert incident.steps.count() == len(runbook.get().steps)
        page = client.get(response["Location"]).content.decode()
        assert "the response is queued" in page
        # Just declared: queued, not yet late (the worker grace period, issue 17).
        assert "queued" in page and "waiting for a worker" not in page
    finally:
        redis.start()

    # A minute later the page says no worker has it, and the sweep finds the step
    # that lost its message.
    incident.steps.filter(kind=runbook.FREEZE).update(
        next_attempt_at=timezone.now() - SWEEP_GRACE - timedelta(seconds=1))
    assert "waiting for a worker since" in client.get(response["Location"]).content.decode()
    assert sweep_steps()["redispatched"] == 1
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=90,
             message="the worker to run the response once Redis is back")
    assert worker.proc.poll() is None  # the same worker reconnected by itself
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print("\n  fault survived: Redis down while an incident was declared, completed once back")


@pytest.mark.skipif(not PG_DATA or connection.vendor != "postgresql",
                    reason="needs the CI PostgreSQL: QPGOV_PG_DATA is set by .ci/run and "
                           "DATABASE_URL must point at it")
def test_a_running_worker_recovers_by_itself_after_postgresql_restarts(
    own_worker, rita, carol, make_demo_node, capsys
):
    first, second = make_demo_node("validator-1"), make_demo_node("validator-2")
    # Persistent connections, as a production worker may run with: the stale
    # one must not poison the next task.
    worker = own_worker(DB_CONN_MAX_AGE="600")
    before = declare(rita, [first], title="Before the restart")
    wait_for(lambda: state_of(before) == Incident.CONTAINED, timeout=60,
             message="the first response")

    subprocess.run(
        ["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", PG_DATA, "-m", "fast", "-w",
         "-l", f"{PG_DATA}/server.log", "restart"],
        check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection.close()  # this test's own connection died with the server too

    after = declare(rita, [second], title="After the restart")
    wait_for(lambda: state_of(after) == Incident.CONTAINED, timeout=60,
             message="the same worker to run a response after the restart")
    assert worker.proc.poll() is None
    assert eventlog.verify()[1] is None
    with capsys.disabled():
        print("\n  fault survived: PostgreSQL restarted under a running worker, no worker restart")


def _sessions_opened() -> int:
    """Connections ever opened to the test database (PostgreSQL 14+ counts them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgres(reason="counts PostgreSQL sessions")
def test_a_worker_with_persistent_connections_runs_a_whole_response_on_one_connection(
    own_worker, rita, carol, make_demo_node  # carol: the council member who is notified
):
    # Celery's Django fixup would close the connection around every task, so
    # each step paid for a new PostgreSQL connection; qpgov.celery keeps it.
    node = make_demo_node("validator-1")
    own_worker(DB_CONN_MAX_AGE="600")
    warm_up = declare(rita, [node], title="Warm up the worker's connection")
    wait_for(lambda: state_of(warm_up) == Incident.CONTAINED, timeout=60, message="the warm-up")
    opened = _sessions_opened()
    incident = declare(rita, [node], title="Four steps on one connection")
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=60, message="the response")
    # A session that ends reports itself at once. Without reuse each of the four
    # steps would add one; allowed here: this test's own reconnect, and the
    # worker's long-lived session reporting its start late.
    connection.close()
    assert _sessions_opened() - opened <= 2


# A node's freeze that, on its first run only, records its pid and waits (at most
# 60 s) for a "release" file: the test kills the worker while it waits.
GATED_FREEZE = """\
name=$1
folder={folder}
echo "start $name" >> $folder/calls.log
if [ "$name" = validator-slow ] && [ ! -e $folder/slow-started ]; then
  echo $$ > $folder/slow-started
  i=0
  while [ ! -e $folder/release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
echo "done $name" >> $folder/calls.log
"""


def test_a_worker_killed_mid_step_leaves_its_finished_nodes_done_and_the_sweep_runs_the_rest(
    own_worker, rita, carol, evidence_dir, tmp_path
):
    script = tmp_path / "gated-freeze.sh"
    script.write_text(GATED_FREEZE.format(folder=tmp_path))
    env = {"QPGOV_NODE_COMMAND_SET": "drill",
           "QPGOV_NODE_COMMANDS": json.dumps({"freeze": f"sh {script} {{name}}"})}
    first = own_worker(**env)
    nodes = [Node.objects.create(name=name) for name in ("validator-1", "validator-2", "validator-slow")]
    incident = declare(rita, nodes)
    step = incident.steps.get(kind=runbook.FREEZE)
    wait_for(lambda: step.tries.filter(status=ResponseStep.SUCCEEDED).count() == 2
             and (tmp_path / "slow-started").exists(), timeout=60,
             message="the healthy nodes to freeze while the slow one runs")

    first.kill()  # SIGKILL mid-step: the slow node's try stays "running"
    os.kill(int((tmp_path / "slow-started").read_text()), 9)  # its machine went with it
    ResponseStep.objects.filter(id=step.id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    own_worker(**env)
    assert sweep_steps()["expired"] == 1
    wait_for(lambda: state_of(incident) == Incident.CONTAINED, timeout=90,
             message="the fresh worker to finish the response")

    assert [(t.attempt, t.node.name, t.status, t.error_class)
            for t in step.tries.select_related("node").order_by("attempt", "node__name")] == [
        (1, "validator-1", ResponseStep.SUCCEEDED, ""), (1, "validator-2", ResponseStep.SUCCEEDED, ""),
        (1, "validator-slow", ResponseStep.FAILED, "LeaseExpired"),
        (2, "validator-slow", ResponseStep.SUCCEEDED, "")]
    done = sorted(line for line in (tmp_path / "calls.log").read_text().splitlines()
                  if line.startswith("done"))
    assert done == ["done validator-1", "done validator-2", "done validator-slow"]  # none lost, none twice
