"""The daily node checks: each reading judged, real runs against the demo node, the run's two stages."""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from fleet import checks, tasks
from fleet.checks import FAIL, PASS, UNKNOWN
from fleet.drivers import DEMO_DIR
from fleet.models import CheckRun, Node, NodeCheck
from tests.conftest import wait_for


@pytest.fixture
def sent(monkeypatch):
    """Capture the check-run messages instead of sending them: [(run id, options)]."""
    captured = []

    class Result:
        id = "captured"

    def apply_async(args=(), **options):
        captured.append((args[0], options))
        return Result()

    monkeypatch.setattr(tasks.run_checks, "apply_async", apply_async)
    return captured


def run_stage(run):
    tasks.run_checks(run.id)
    run.refresh_from_db()
    return {c.kind: c for c in run.checks.all()}


# Judging each reading.

@pytest.mark.parametrize("output, previous, status", [
    ("ActiveState=active\nNRestarts=0\n", None, PASS),
    ("ActiveState=active\nNRestarts=2\n", 2, PASS),
    ("ActiveState=active\nNRestarts=3\n", 2, FAIL),  # systemd restarted it since the last check
    ("ActiveState=active\nNRestarts=1\n", 5, FAIL),  # counter reset by a reboot: 1 new restart
    ("ActiveState=active\nNRestarts=0\n", 5, PASS),
    ("ActiveState=inactive\nNRestarts=0\n", None, FAIL),
    ("ActiveState=failed\n", None, FAIL),
    ("ActiveState=active\nNRestarts=[not set]\n", 3, PASS),
    ("Failed to connect to bus\n", None, UNKNOWN),
    ("", None, UNKNOWN),
])
def test_the_service_check_reads_systemctl_show(output, previous, status):
    assert checks.judge_service(output, previous).status == status


def test_restarts_allowed_between_checks_are_a_setting(settings):
    settings.QPGOV_NODE_CHECK_RESTARTS_ALLOWED = 3
    assert checks.judge_service("ActiveState=active\nNRestarts=3", 0).status == PASS
    assert checks.judge_service("ActiveState=active\nNRestarts=4", 0).status == FAIL


@pytest.mark.parametrize("output, height", [
    ("1234\n", 1234), ('{"height": 77}', 77), ('{"height": "78"}', 78), ("0", 0),
])
def test_a_block_height_is_a_bare_number_or_json(output, height):
    assert checks.parse_height(output) == height


@pytest.mark.parametrize("output", ["", "abc", "-5", "12.5", '{"height": -1}', '{"height": true}',
                                    '{"tip": 5}', "[1]", "<html>502</html>"])
def test_anything_else_is_not_a_block_height(output):
    with pytest.raises(ValueError):
        checks.parse_height(output)


def test_the_height_must_rise_between_the_two_readings():
    assert checks.judge_height(100, 101, 60).status == PASS
    assert checks.judge_height(100, 100, 60).status == FAIL
    assert checks.judge_height(100, 99, 60).status == FAIL


@pytest.mark.parametrize("output, status", [
    ("Use%\n 69%\n", PASS), ("Use%\n 70%\n", FAIL), ("Use%\n100%\n", FAIL), ("Use%\n  0%\n", PASS),
    ("", UNKNOWN), ("df: /var/lib/quantumpay: No such file or directory\n", UNKNOWN),
    ("Use%\n", UNKNOWN),
])
def test_the_disk_check_holds_the_data_volume_below_70_percent(output, status):
    assert checks.judge_disk(output).status == status


def test_memory_with_nothing_to_compare_is_unknown_not_pass():
    assert checks.judge_memory(100_000_000, []).status == UNKNOWN


def test_memory_fails_when_it_grew_beyond_the_threshold_across_the_last_readings(settings):
    settings.QPGOV_NODE_CHECK_MEMORY_GROWTH_PERCENT = 20
    settings.QPGOV_NODE_CHECK_MEMORY_READINGS = 4
    mib = 1048576
    assert checks.judge_memory(119 * mib, [100 * mib, 110 * mib]).status == PASS
    verdict = checks.judge_memory(121 * mib, [100 * mib, 110 * mib, 115 * mib])
    assert verdict.status == FAIL and verdict.reading["growth_percent"] == 21.0
    # Only the last readings count: a leak that began long ago was judged then.
    assert checks.judge_memory(121 * mib, [50 * mib, 100 * mib, 110 * mib, 115 * mib]).status == FAIL
    assert checks.judge_memory(121 * mib, [50 * mib, 110 * mib, 112 * mib, 115 * mib]).status == PASS


def test_memory_without_accounting_is_not_a_reading():
    with pytest.raises(ValueError):
        checks.parse_memory("MemoryCurrent=[not set]\n")
    assert checks.parse_memory("MemoryCurrent=4096\n") == 4096


@pytest.mark.parametrize("output, status", [
    ("NTPSynchronized=yes\n", PASS), ("NTPSynchronized=no\n", FAIL),
    ("NTPSynchronized=yes\nService=active\n", PASS),
    ("NTPSynchronized=yes\nService=inactive\n", FAIL), ("NTPSynchronized=yes\nService=\n", FAIL),
    ("System has not been booted with systemd\nService=active\n", UNKNOWN), ("", UNKNOWN),
])
def test_the_time_sync_check(output, status):
    assert checks.judge_time_sync(output).status == status


# Readings that cannot be taken are unknown, never pass.

@pytest.fixture
def scripted_node(db, tmp_path, settings):
    """A node whose check commands print files the test writes: every reading under its control."""
    settings.QPGOV_NODE_COMMANDS = {f"check_{kind}": f"cat {{data_dir}}/{kind}"
                                    for kind in checks.KINDS}
    node = Node.objects.create(name="validator-9", data_dir=str(tmp_path))

    def write(**readings):
        for kind, text in readings.items():
            (tmp_path / kind).write_text(text)
    write(service="ActiveState=active\nNRestarts=0\n", height="100\n", disk="Use%\n 10%\n",
          memory="MemoryCurrent=1048576\n", time_sync="NTPSynchronized=yes\n")
    node.write = write
    return node


def test_a_check_that_times_out_is_unknown(scripted_node, settings, sent):
    settings.QPGOV_NODE_COMMANDS = {**settings.QPGOV_NODE_COMMANDS, "check_disk": "sleep 5"}
    settings.QPGOV_NODE_CHECK_TIMEOUT = 1
    run = tasks.start_run([scripted_node], CheckRun.DEMAND)
    disk = run_stage(run)["disk"]
    assert disk.status == UNKNOWN and disk.exit_code is None
    assert disk.note.startswith("Timeout:")


def test_an_unreachable_node_is_unknown_on_every_check(db, settings, sent):
    settings.QPGOV_SSH_COMMAND = f"sh {DEMO_DIR}/fake-ssh.sh -o BatchMode=yes {{target}} --"
    node = Node.objects.create(name="validator-8", target="ops@unreachable.example",
                               height_url="http://127.0.0.1:26657/height")
    run = tasks.start_run([node], CheckRun.DEMAND)
    found = run_stage(run)
    assert {kind: c.status for kind, c in found.items()} == dict.fromkeys(checks.KINDS, UNKNOWN)
    assert all(c.note.startswith("Unreachable:") and c.exit_code == 255 for c in found.values())


def test_a_failing_command_or_unreadable_output_is_unknown(scripted_node, settings, sent):
    scripted_node.write(memory="MemoryCurrent=[not set]\n", disk="lots\n")
    settings.QPGOV_NODE_COMMANDS = {**settings.QPGOV_NODE_COMMANDS,
                                    "check_service": "sh -c 'echo ActiveState=active; exit 4'",
                                    "check_time_sync": "no-such-command-qpgov"}
    found = run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))
    assert found["service"].status == UNKNOWN and found["service"].exit_code == 4
    assert found["memory"].status == UNKNOWN and "could not read" in found["memory"].note
    assert found["disk"].status == UNKNOWN
    assert found["time_sync"].status == UNKNOWN and found["time_sync"].exit_code is None


def test_a_node_without_a_height_url_is_not_checked_for_height_on_systemd(db, settings, sent):
    settings.QPGOV_NODE_COMMAND_SET = "systemd"
    settings.QPGOV_NODE_COMMANDS = {k: "true" for k in ["check_service", "check_disk",
                                                        "check_memory", "check_time_sync"]}
    node = Node.objects.create(name="validator-6")
    height = run_stage(tasks.start_run([node], CheckRun.DEMAND))["height"]
    assert height.status == UNKNOWN and height.note == "no block height URL registered"


def test_each_check_keeps_its_raw_reading_exit_code_and_output_hash(scripted_node, sent):
    found = run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))
    disk = found["disk"]
    assert disk.raw == "Use%\n 10%\n" and disk.exit_code == 0
    assert disk.output_sha256 == hashlib.sha256(b"Use%\n 10%\n").hexdigest()
    assert disk.reading == {"used_percent": 10, "limit_percent": 70}


# The run's two stages: the block height pair, judged from rows.

def test_the_height_pair_is_judged_by_the_second_stage_after_the_interval(
        scripted_node, settings, sent, django_capture_on_commit_callbacks):
    settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL = 120
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False) as clock:
        run = tasks.start_run([scripted_node], CheckRun.DEMAND)
        with django_capture_on_commit_callbacks(execute=True):
            height = run_stage(run)["height"]
        assert height.status == UNKNOWN and height.reading["first"] == 100
        assert (run.status, run.stage) == (CheckRun.QUEUED, CheckRun.SECOND_READINGS)
        assert run.due_at == timezone.now() + timedelta(seconds=120)
        assert sent[-1] == (run.id, {"countdown": 120})
        scripted_node.write(height="130\n")
        clock.shift(timedelta(seconds=119))
        assert run_stage(run)["height"].status == UNKNOWN  # not due: nothing claimed
        clock.shift(timedelta(seconds=1))
        height = run_stage(run)["height"]
    assert height.status == PASS
    assert height.reading == {"first": 100, "second": 130, "seconds_apart": 120.0}
    assert run.status == CheckRun.DONE and run.finished_at is not None
    assert "first reading:\n100" in height.raw


def test_a_height_that_did_not_move_fails(scripted_node, sent):
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False) as clock:
        run = tasks.start_run([scripted_node], CheckRun.DEMAND)
        run_stage(run)
        clock.shift(timedelta(seconds=60))
        height = run_stage(run)["height"]
    assert height.status == FAIL and height.note.startswith("stalled: 100 → 100")


def test_a_second_height_that_cannot_be_read_is_unknown(scripted_node, sent):
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False) as clock:
        run = tasks.start_run([scripted_node], CheckRun.DEMAND)
        run_stage(run)
        scripted_node.write(height="<html>502 Bad Gateway</html>")
        clock.shift(timedelta(seconds=60))
        height = run_stage(run)["height"]
    assert height.status == UNKNOWN and run.status == CheckRun.DONE


def test_restarts_are_counted_against_the_previous_run(scripted_node, sent):
    scripted_node.write(service="ActiveState=active\nNRestarts=4\n")
    assert run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))["service"].status == PASS
    scripted_node.write(service="ActiveState=active\nNRestarts=6\n")
    service = run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))["service"]
    assert service.status == FAIL and service.reading["restarts_since_last_check"] == 2


def test_memory_is_judged_across_runs(scripted_node, settings, sent):
    settings.QPGOV_NODE_CHECK_MEMORY_GROWTH_PERCENT = 20
    statuses = []
    for mib in (100, 105, 110, 130):
        scripted_node.write(memory=f"MemoryCurrent={mib * 1048576}\n")
        statuses.append(run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))["memory"].status)
    assert statuses == [UNKNOWN, PASS, PASS, FAIL]


# The claim and the sweep (the house pattern: rows claimed with a conditional update).

def test_a_duplicate_message_finds_nothing_to_claim(scripted_node, sent):
    run = tasks.start_run([scripted_node], CheckRun.DEMAND)
    CheckRun.objects.filter(id=run.id).update(status=CheckRun.RUNNING, task_id="other")
    tasks.run_checks(run.id)
    assert not NodeCheck.objects.exists()


def test_the_sweep_starts_the_daily_run_once_a_day(scripted_node, sent):
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False) as clock:
        assert tasks.sweep_checks()["started"] == 1
        run = CheckRun.objects.get()
        assert run.trigger == CheckRun.SCHEDULE and list(run.nodes.all()) == [scripted_node]
        clock.shift(timedelta(hours=23, minutes=59))
        assert tasks.sweep_checks()["started"] == 0
        clock.shift(timedelta(minutes=2))
        assert tasks.sweep_checks()["started"] == 1
    assert CheckRun.objects.count() == 2


def test_the_database_refuses_a_second_scheduled_run_after_the_same_run(scripted_node, sent):
    # Two beats' sweeps that both found the run due start it once: the second insert is
    # refused (the race itself runs on PostgreSQL in tests/test_beat_redundancy.py).
    first = tasks.start_scheduled_run(timezone.now())
    assert first.follows_scheduled_at == CheckRun.NO_EARLIER_RUN
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckRun.objects.create(trigger=CheckRun.SCHEDULE, follows_scheduled_at=first.follows_scheduled_at)
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1), tick=False):
        second = tasks.start_scheduled_run(timezone.now())
    assert second.follows_scheduled_at == first.created_at
    tasks.start_run([scripted_node], CheckRun.DEMAND)  # runs on demand are not in the schedule
    tasks.start_run([scripted_node], CheckRun.DEMAND)


def test_the_sweep_requeues_a_run_whose_worker_died_and_resends_stranded_ones(scripted_node, sent):
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False) as clock:
        tasks.sweep_checks()  # the daily run
        dead = tasks.start_run([scripted_node], CheckRun.DEMAND)
        CheckRun.objects.filter(id=dead.id).update(
            status=CheckRun.RUNNING, task_id="gone", lease_expires_at=timezone.now())
        stranded = tasks.start_run([scripted_node], CheckRun.DEMAND)
        clock.shift(timedelta(seconds=61))
        sent.clear()
        counts = tasks.sweep_checks()
        assert counts["expired"] == 1 and counts["redispatched"] >= 2
        assert {run_id for run_id, _ in sent} >= {dead.id, stranded.id}
        dead.refresh_from_db()
        assert dead.status == CheckRun.QUEUED and dead.task_id == ""
        assert run_stage(dead)["service"].status == PASS  # picked up again at its stage


# For real: the demo node, a real local process.

def test_a_run_against_the_demo_node_reads_the_real_process(make_demo_node, settings, sent):
    node = make_demo_node()
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        run = tasks.start_run([node], CheckRun.DEMAND)
        found = run_stage(run)
    assert found["service"].status == PASS
    assert found["service"].reading == {"active_state": "active", "restarts": 0}
    assert found["disk"].status in (PASS, FAIL) and 0 <= found["disk"].reading["used_percent"] <= 100
    assert found["memory"].reading["bytes"] > 0  # the demo node's resident memory
    assert found["time_sync"].status in (PASS, FAIL)  # what this machine's kernel says
    first = found["height"].reading["first"]
    # The demo node advances its height once a (real) second.
    height_file = Path(node.data_dir) / "height"
    wait_for(lambda: int(height_file.read_text()) > first, message="the demo node to import a block")
    with time_machine.travel(t0 + timedelta(seconds=settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL),
                             tick=False):
        height = run_stage(run)["height"]
    assert height.status == PASS and height.reading["second"] > first
    assert all(c.exit_code == 0 for c in run.checks.all())
    assert run.status == CheckRun.DONE


def test_a_stopped_demo_node_fails_its_checks(make_demo_node, settings, sent):
    from fleet import demo

    node = make_demo_node()
    demo.stop(node.data_dir)
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        run = tasks.start_run([node], CheckRun.DEMAND)
        found = run_stage(run)
    assert found["service"].status == FAIL and found["service"].note == "the unit is inactive"
    assert found["memory"].status == UNKNOWN and found["memory"].exit_code == 3
    with time_machine.travel(t0 + timedelta(seconds=settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL),
                             tick=False):
        height = run_stage(run)["height"]
    assert height.status == FAIL and height.note.startswith("stalled")


def test_the_drill_command_set_runs_every_check(db, settings, sent):
    settings.QPGOV_NODE_COMMAND_SET = "drill"
    node = Node.objects.create(name="validator-1")
    found = run_stage(tasks.start_run([node], CheckRun.DEMAND))
    assert {k: c.status for k, c in found.items()} == {
        "service": PASS, "height": UNKNOWN, "disk": PASS, "memory": UNKNOWN, "time_sync": PASS}
    assert found["height"].reading["first"] > 1_700_000_000


def test_check_nodes_runs_the_named_nodes(make_demo_node, capsys):
    node = make_demo_node()
    make_demo_node("validator-2", start=False)
    call_command("check_nodes", node.name)
    out = capsys.readouterr().out
    assert "validator-1" in out and "service    pass" in out and "validator-2" not in out
    run = CheckRun.objects.get()
    assert run.trigger == CheckRun.DEMAND and run.stage == CheckRun.SECOND_READINGS
    with pytest.raises(CommandError, match="no such node: nope"):
        call_command("check_nodes", "nope")


def test_beat_runs_the_sweep_and_the_worker_knows_both_tasks(settings):
    from qpgov.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["fleet-sweep-checks"]
    assert entry["schedule"] == timedelta(seconds=60)
    assert {entry["task"], "fleet.run_checks"} <= set(app.tasks)


def test_a_stage_renews_its_lease_before_each_node_and_stops_once_it_lost_the_run(
        scripted_node, tmp_path, sent):
    other = Node.objects.create(name="validator-10", data_dir=scripted_node.data_dir)
    run = tasks.start_run([scripted_node, other], CheckRun.DEMAND)
    answers = iter([True, False])
    checks.take_first_readings(run, still_ours=lambda: next(answers))
    # The first node in registry order (validator-10 sorts before validator-9), then no more.
    assert set(run.checks.values_list("node__name", flat=True)) == {other.name}
    # Through the task: the lease covers one node's commands and moves on with each node.
    with time_machine.travel("2026-11-30 06:00:00Z", tick=False):
        second = tasks.start_run([scripted_node, other], CheckRun.DEMAND)
        CheckRun.objects.filter(id=second.id).update(due_at=timezone.now())
        claimed = tasks._claim(second.id, "t-1")
        assert claimed.lease_expires_at == timezone.now() + tasks._lease()
        assert tasks._lease() <= timedelta(minutes=6)  # with the 30 s command timeout
    with time_machine.travel("2026-11-30 06:03:00Z", tick=False):
        assert tasks._renewer(claimed, "t-1")()
        claimed.refresh_from_db()
        assert claimed.lease_expires_at == timezone.now() + tasks._lease()
        assert not tasks._renewer(claimed, "someone-else")()


def test_output_that_breaks_the_parser_is_unknown_and_the_run_goes_on(scripted_node, sent):
    scripted_node.write(height="[" * 100_000 + "]" * 100_000)  # deeper than json can recurse
    found = run_stage(tasks.start_run([scripted_node], CheckRun.DEMAND))
    assert found["height"].status == UNKNOWN
    assert found["height"].note == "could not read the output (RecursionError)"
    assert found["time_sync"].status == PASS  # the checks after it still ran
