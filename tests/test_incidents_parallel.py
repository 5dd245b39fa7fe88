"""A step acts on all its nodes at once, and a hung node holds nobody else.

Every node command here is a real process (a small script run by the `drill`
command set) that logs its start and end; nothing is mocked.
"""

from pathlib import Path

import pytest

from fleet.models import Node
from incidents import runbook, services
from incidents.models import Incident, ResponseStep, StepAttempt
from incidents.tasks import run_step

NODE_SCRIPT = """\
action=$1
name=$2
echo "start $action $name" >> {folder}/calls.log
if [ "$name" = validator-hung ] && [ -e {folder}/hang ]; then exec sleep 60; fi
sleep {delay}
echo "done $action $name" >> {folder}/calls.log
echo "$action of $name"
"""


@pytest.fixture
def node_commands(settings, tmp_path):
    """Drill commands that take `delay` seconds each; validator-hung hangs while tmp/hang exists."""

    def use(delay=0.3):
        script = tmp_path / "node.sh"
        script.write_text(NODE_SCRIPT.format(folder=tmp_path, delay=delay))
        settings.QPGOV_NODE_COMMAND_SET = "drill"
        settings.QPGOV_NODE_COMMANDS = {
            action: f"sh {script} {action} {{name}}" for action in ("freeze", "logs", "snapshot")}
        return tmp_path

    return use


def calls(folder: Path, what: str) -> list[str]:
    log = folder / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(line.split(" ", 1)[1] for line in lines if line.startswith(what + " "))


def declare(rita, names):
    nodes = [Node.objects.create(name=name) for name in names]
    return services.declare(title="Double-signing", severity="SEV1", nodes=nodes, declared_by=rita)


def step_of(incident, kind) -> ResponseStep:
    return incident.steps.get(kind=kind)


def tries(step, attempt=None):
    rows = StepAttempt.objects.filter(step=step).select_related("node").order_by("node__name")
    if attempt is not None:
        rows = rows.filter(attempt=attempt)
    return rows


def test_a_step_runs_the_command_of_every_node_at_the_same_time(
    settings, rita, evidence_dir, published, node_commands
):
    node_commands(delay=0.3)
    incident = declare(rita, [f"validator-{i}" for i in range(5)])
    run_step(step_of(incident, runbook.FREEZE).id)

    rows = list(tries(step_of(incident, runbook.FREEZE)))
    assert [r.status for r in rows] == [ResponseStep.SUCCEEDED] * 5
    # Every node's command started before any finished: they overlapped.
    assert max(r.started_at for r in rows) < min(r.finished_at for r in rows)


def test_with_a_pool_of_one_the_nodes_run_one_after_another(
    settings, rita, evidence_dir, published, node_commands
):
    node_commands(delay=0.1)
    settings.QPGOV_NODE_PARALLELISM = 1  # the bound is a setting, and it holds
    incident = declare(rita, [f"validator-{i}" for i in range(3)])
    run_step(step_of(incident, runbook.FREEZE).id)

    rows = sorted(tries(step_of(incident, runbook.FREEZE)), key=lambda r: r.started_at)
    assert all(a.finished_at <= b.started_at for a, b in zip(rows, rows[1:], strict=False))


def test_a_hung_node_times_out_while_the_others_are_frozen_and_the_response_goes_on_without_it(
    settings, rita, carol, chris, evidence_dir, published, node_commands,
    django_capture_on_commit_callbacks
):
    folder = node_commands(delay=0.1)
    (folder / "hang").touch()
    settings.QPGOV_NODE_FREEZE_TIMEOUT = 2  # short, and separate from the streaming timeout
    incident = declare(rita, ["validator-1", "validator-2", "validator-hung"])
    freeze = step_of(incident, runbook.FREEZE)

    with django_capture_on_commit_callbacks(execute=True):
        run_step(freeze.id)
    assert [(r.node.name, r.status, r.error_class) for r in tries(freeze)] == [
        ("validator-1", ResponseStep.SUCCEEDED, ""), ("validator-2", ResponseStep.SUCCEEDED, ""),
        ("validator-hung", ResponseStep.FAILED, "Timeout")]
    assert "took longer than 2 s" in tries(freeze).get(node__name="validator-hung").output_excerpt
    assert set(Node.objects.filter(frozen=True).values_list("name", flat=True)) == {
        "validator-1", "validator-2"}
    freeze.refresh_from_db()
    assert freeze.status == ResponseStep.PENDING and freeze.partly_done  # its retry is scheduled
    logs = step_of(incident, runbook.PRESERVE_LOGS)
    assert logs.next_attempt_at is not None  # queued for the nodes that froze
    assert ("incidents.run_step", (logs.id,), {}) in published

    # Logs, snapshot and the council's notice go on for the healthy nodes.
    for kind in (runbook.PRESERVE_LOGS, runbook.SNAPSHOT, runbook.NOTIFY_GOVERNANCE):
        with django_capture_on_commit_callbacks(execute=True):
            run_step(step_of(incident, kind).id)
        assert step_of(incident, kind).status == ResponseStep.SUCCEEDED, kind
    assert calls(folder, "done") == [
        "freeze validator-1", "freeze validator-2", "logs validator-1", "logs validator-2",
        "snapshot validator-1", "snapshot validator-2"]
    assert incident.deliveries.filter(ok=True).count() == 2  # carol and chris
    incident.refresh_from_db()
    assert incident.state == Incident.RESPONDING  # not contained: one node still runs

    # The node answers again; its retry freezes it, then its logs and snapshot are taken.
    (folder / "hang").unlink()
    ResponseStep.objects.filter(id=freeze.id).update(next_attempt_at=freeze.started_at)  # due now
    for kind in (runbook.FREEZE, runbook.PRESERVE_LOGS, runbook.SNAPSHOT):
        with django_capture_on_commit_callbacks(execute=True):
            run_step(step_of(incident, kind).id)
        assert step_of(incident, kind).status == ResponseStep.SUCCEEDED, kind
    assert calls(folder, "done") == sorted(
        f"{action} {name}" for action in ("freeze", "logs", "snapshot")
        for name in ("validator-1", "validator-2", "validator-hung"))  # each once, none twice
    assert [r.node.name for r in tries(step_of(incident, runbook.PRESERVE_LOGS), attempt=2)] == [
        "validator-hung"]
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED
    assert incident.deliveries.count() == 2  # the council is not notified twice


def test_the_incident_page_shows_which_node_holds_the_freeze(
    client, settings, rita, evidence_dir, published, node_commands
):
    folder = node_commands(delay=0.05)
    (folder / "hang").touch()
    settings.QPGOV_NODE_FREEZE_TIMEOUT = 1
    incident = declare(rita, ["validator-1", "validator-hung"])
    run_step(step_of(incident, runbook.FREEZE).id)

    client.force_login(rita)
    page = client.get(incident.get_absolute_url()).content.decode()
    held = page[page.index('id="held-freeze"'):]
    held = held[:held.index("</div>")]
    assert "validator-hung</strong>: Timeout" in held and "validator-1" not in held
    assert "the next steps went on without" in held


def test_a_node_that_stays_hung_goes_to_a_human_and_a_retry_catches_it_up(
    settings, rita, carol, evidence_dir, published, node_commands, mailoutbox,
    django_capture_on_commit_callbacks
):
    folder = node_commands(delay=0.05)
    (folder / "hang").touch()
    settings.QPGOV_NODE_FREEZE_TIMEOUT = 1
    incident = declare(rita, ["validator-1", "validator-hung"])
    freeze = step_of(incident, runbook.FREEZE)
    for _ in range(runbook.get().policy(runbook.FREEZE).attempts):
        ResponseStep.objects.filter(id=freeze.id).update(next_attempt_at=incident.declared_at)
        with django_capture_on_commit_callbacks(execute=True):
            run_step(freeze.id)
    freeze.refresh_from_db()
    assert freeze.status == ResponseStep.NEEDS_HUMAN and freeze.partly_done
    assert any("needs attention: Freeze affected nodes" in m.subject for m in mailoutbox)
    assert calls(folder, "done") == ["freeze validator-1"]  # acted on once, not on every try
    for kind in (runbook.PRESERVE_LOGS, runbook.SNAPSHOT, runbook.NOTIFY_GOVERNANCE):
        with django_capture_on_commit_callbacks(execute=True):
            run_step(step_of(incident, kind).id)
        assert step_of(incident, kind).status == ResponseStep.SUCCEEDED, kind

    (folder / "hang").unlink()
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_step(incident, freeze.id, rita)
    assert published == [("incidents.run_step", (freeze.id,), {})]  # queued although partly done
    for kind in (runbook.FREEZE, runbook.PRESERVE_LOGS, runbook.SNAPSHOT):
        with django_capture_on_commit_callbacks(execute=True):
            run_step(step_of(incident, kind).id)
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED
    assert calls(folder, "done") == [
        "freeze validator-1", "freeze validator-hung", "logs validator-1", "logs validator-hung",
        "snapshot validator-1", "snapshot validator-hung"]
