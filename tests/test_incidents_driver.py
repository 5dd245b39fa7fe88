"""The command driver on real local processes; only the SSH hop is faked."""

import base64
import hashlib
import hmac
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from fleet import demo, drivers
from fleet.drivers import DEMO_DIR, PRESETS, CommandDriver, StillRunning, Timeout, Unreachable
from fleet.models import Node
from incidents import runbook, services
from incidents.models import NotificationDelivery, ResponseStep
from incidents.tasks import run_step
from tests.conftest import wait_for

FAKE_SSH = f"sh {DEMO_DIR}/fake-ssh.sh -o BatchMode=yes {{target}} --"


def test_the_systemd_defaults_follow_the_issue():
    systemd = PRESETS["systemd"]
    assert systemd["freeze"] == "systemctl stop {unit}"
    assert systemd["freeze_check"] == "systemctl is-active {unit}"
    assert systemd["logs"].startswith("journalctl -u {unit} --since {since}")
    assert systemd["logs"].endswith("-o export")


def test_it_wraps_remote_commands_in_ssh_batch_mode(settings, db):
    settings.QPGOV_NODE_COMMAND_SET = "systemd"
    node = Node(name="v1", target="ops@validator-1.internal", unit="quantumpay-node")
    argv = CommandDriver().argv(node, "freeze")
    assert argv[:3] == ["ssh", "-o", "BatchMode=yes"]
    assert "ops@validator-1.internal" in argv
    assert argv[-1] == "systemctl stop quantumpay-node"


def test_a_node_value_stays_one_quoted_argument(settings, db):
    settings.QPGOV_NODE_COMMAND_SET = "systemd"
    node = Node(name="v1", target="ops@h", unit="x; rm -rf /")  # the form would refuse this
    argv = CommandDriver().argv(node, "freeze")
    assert argv[-1] == "systemctl stop 'x; rm -rf /'"


def test_it_freezes_a_node_over_the_faked_ssh_hop(settings, make_demo_node):
    settings.QPGOV_SSH_COMMAND = FAKE_SSH
    node = make_demo_node("remote-1", target="ops@remote-1.internal")
    result = CommandDriver().freeze(node)
    assert b"fake-ssh: on ops@remote-1.internal" in result.output
    assert not demo.is_running(node.data_dir)


def test_an_unreachable_host_is_its_own_error_class(settings, make_demo_node):
    settings.QPGOV_SSH_COMMAND = FAKE_SSH
    node = make_demo_node("remote-2", target="ops@unreachable.internal")
    with pytest.raises(Unreachable) as caught:
        CommandDriver().freeze(node)
    assert caught.value.error_class == drivers.UNREACHABLE
    assert demo.is_running(node.data_dir)


def test_a_node_that_keeps_running_after_stop_is_not_frozen(settings, demo_node):
    settings.QPGOV_NODE_COMMANDS = {"freeze": "true"}
    with pytest.raises(StillRunning):
        CommandDriver().freeze(demo_node)


def test_a_hanging_command_times_out(settings, demo_node):
    settings.QPGOV_NODE_COMMANDS = {"snapshot": "sleep 5"}
    with pytest.raises(Timeout):
        CommandDriver(timeout=0.2).snapshot(demo_node)


def _alive(pid: int) -> bool:
    """True while `pid` runs; a killed process no one has reaped yet (a zombie) is not alive."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("name", ["freeze", "snapshot"])
def test_a_timed_out_command_takes_the_processes_it_started_with_it(settings, demo_node, tmp_path,
                                                                    name):
    # The shell is not exec'd into its child: killing only the shell would leave the
    # sleep running, a stop still hanging against the node after the step gave up on it.
    pidfile = tmp_path / "child.pid"
    settings.QPGOV_NODE_COMMANDS = {name: f"sh -c 'sleep 60 & echo $! > {pidfile}; wait; echo done'"}
    driver = CommandDriver(timeout=1, freeze_timeout=1)
    try:
        with pytest.raises(Timeout):
            driver.freeze(demo_node) if name == "freeze" else driver.snapshot(demo_node)
        child = int(pidfile.read_text())
        wait_for(lambda: not _alive(child), timeout=5, message=f"the {name} command's child to end")
    finally:
        if pidfile.exists() and _alive(child := int(pidfile.read_text())):
            os.kill(child, signal.SIGKILL)


def test_stream_output_is_hashed_as_it_is_spooled(demo_node):
    stream = CommandDriver().collect_logs(demo_node, timezone.now())
    body = stream.file.read()
    stream.file.close()
    assert hashlib.sha256(body).hexdigest() == stream.sha256 and len(body) == stream.size
    assert b"quantumpay-node" in body


class Receiver(BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers, body))
        self.send_response(Receiver.status)
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    Receiver.received, Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.QPGOV_INCIDENT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.QPGOV_INCIDENT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
    yield Receiver
    server.shutdown()
    server.server_close()


def notify(rita, node):
    incident = services.declare(title="Peer flood", severity="SEV3", nodes=[node],
                                declared_by=rita)
    incident.steps.exclude(kind__in=[runbook.NOTIFY_GOVERNANCE, runbook.POSTMORTEM]).update(
        status=ResponseStep.SKIPPED
    )
    step = incident.steps.get(kind=runbook.NOTIFY_GOVERNANCE)
    step.next_attempt_at = timezone.now()
    step.save()
    run_step(step.id)
    step.refresh_from_db()
    return incident, step


def test_governance_is_emailed_and_the_webhook_is_signed(rita, carol, demo_node, webhook,
                                                         published):
    incident, step = notify(rita, demo_node)
    assert step.status == ResponseStep.SUCCEEDED
    assert [m.to for m in mail.outbox] == [["carol@example.invalid"]]
    (headers, body), = webhook.received
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(b"k" * 32, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], expected)
    assert headers["webhook-id"] == f"msg_qpgov_incident_{incident.pk}_notice"
    assert json.loads(body)["incident"] == incident.pk
    hook = incident.deliveries.get(channel=NotificationDelivery.WEBHOOK)
    assert hook.ok and hook.response_status == 200 and hook.response_excerpt == "thanks"


def test_a_failed_webhook_is_recorded_and_retried_without_emailing_twice(
    rita, carol, demo_node, webhook, published
):
    webhook.status = 503
    incident, step = notify(rita, demo_node)
    assert step.status == ResponseStep.PENDING and step.last_error
    hook = incident.deliveries.get(channel=NotificationDelivery.WEBHOOK)
    assert not hook.ok and hook.response_status == 503

    webhook.status = 200
    ResponseStep.objects.filter(id=step.id).update(next_attempt_at=timezone.now())
    run_step(step.id)
    step.refresh_from_db()
    assert step.status == ResponseStep.SUCCEEDED
    assert len(mail.outbox) == 1  # the email had already gone out
    assert incident.deliveries.filter(channel=NotificationDelivery.WEBHOOK).count() == 2
