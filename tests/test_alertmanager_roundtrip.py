"""The real thing: Debian's Alertmanager on loopback posts its webhook to a live qpgov, and a
real Celery worker processes it. Alerts go in through Alertmanager's own API (v2).

Skipped only outside CI when the binary is missing; in CI (CI set) a missing binary fails.
"""

import json
import os
import shutil
import socket
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from fleet.models import Alert, AlertDelivery, AlertGroup, AlertReceiver, AlertRule
from incidents.models import Incident
from qpgov import roles
from qpgov.models import Event
from tests.conftest import make_user, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def binary(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is not installed; .ci/run installs it (services_install)")
    pytest.skip(f"{names[0]} is not installed (apt-get install prometheus-alertmanager)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data,  # noqa: S310 - loopback http only
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return response.status, response.read()


CONFIG = """
route:
  receiver: qpgov
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: qpgov
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


class Alertmanager:
    def __init__(self, tmp_path, webhook_url, token):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=json.dumps(webhook_url), token=json.dumps(token)))
        self.log_path = tmp_path / "alertmanager.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary("prometheus-alertmanager", "alertmanager"), f"--config.file={config}",
             f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=debug"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )

        def ready():
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            try:
                return http(f"{self.url}/-/ready")[0] == 200
            except OSError:
                return False

        wait_for(ready, timeout=30, message="Alertmanager to be ready")

    def post(self, alerts):
        status, _ = http(f"{self.url}/api/v2/alerts", alerts, timeout=60)
        assert status == 200

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def alertmanager(live_server, tmp_path, celery_worker):
    receiver = AlertReceiver(name="loopback alertmanager")
    token = receiver.issue_token()
    receiver.save()
    am = Alertmanager(tmp_path, f"{live_server.url}/api/alerts/alertmanager", token)
    yield am
    am.stop()


def iso(when):
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_alertmanager_delivers_groups_repeats_and_resolves_into_qpgov(alertmanager, make_demo_node):
    service = make_user("alertmanager", roles.RESPONDERS)
    make_user("carol", roles.COUNCIL)
    node = make_demo_node("validator-1")
    AlertRule.objects.create(alertname="BlockProductionStalled", action="declare", severity="SEV1")
    started = datetime.now(UTC) - timedelta(minutes=1)
    stalled = [{"labels": {"alertname": "BlockProductionStalled", "instance": f"validator-{i}:9100",
                           "job": "quantumpay"},
                "annotations": {"summary": f"No block on validator-{i} for two intervals"},
                "startsAt": iso(started)} for i in (1, 2)]
    watchdog = {"labels": {"alertname": "Watchdog"}, "startsAt": iso(started)}
    alertmanager.post([*stalled, watchdog])

    # Received and grouped: one group per alertname, as the route's group_by says.
    wait_for(lambda: Alert.objects.filter(alertname="BlockProductionStalled").count() == 2,
             timeout=60, message="both firing alerts in qpgov")
    group = AlertGroup.objects.get(group_labels={"alertname": "BlockProductionStalled"})
    assert group.receiver_name == "qpgov" and group.status == "firing"
    assert set(group.alerts.values_list("status", flat=True)) == {"firing"}
    assert group.alerts.get(labels__instance="validator-1:9100").node == node
    wait_for(lambda: AlertDelivery.objects.filter(heard_watchdog=True).exists(), timeout=30,
             message="the watchdog")
    incident = wait_for(lambda: Incident.objects.first(), timeout=30, message="the incident")
    assert incident.severity == "SEV1" and incident.declared_by == service
    # Both alerts usually come in the first notification; on a loaded machine Alertmanager can
    # flush the group after the first alert alone, and the second then fires onto the open
    # incident (one alert_firing event). Either way, the repeats below must add none.
    firing_events = Event.objects.for_subject(incident).filter(kind="alert_firing").count()
    assert firing_events <= 1

    # Alertmanager sends the group again every repeat_interval: nothing changes.
    first_delivery = group.deliveries.order_by("id").first().id
    wait_for(lambda: group.deliveries.filter(status="processed").count() >= 3, timeout=60,
             message="repeated notifications")
    assert Alert.objects.filter(alertname="BlockProductionStalled").count() == 2
    assert AlertGroup.objects.filter(group_labels={"alertname": "BlockProductionStalled"}).count() == 1
    assert Incident.objects.count() == 1
    assert Event.objects.for_subject(incident).filter(kind="alert_firing").count() == firing_events
    assert group.deliveries.order_by("id").first().id == first_delivery

    # Resolve one alert: endsAt in the past. Alertmanager sends it as resolved in the group.
    alertmanager.post([{**stalled[0], "endsAt": iso(datetime.now(UTC) - timedelta(seconds=1))}])
    wait_for(lambda: Alert.objects.filter(labels__instance="validator-1:9100",
                                          status="resolved").exists(),
             timeout=60, message="the resolved alert")
    resolved = Alert.objects.get(labels__instance="validator-1:9100")
    assert resolved.ends_at is not None and Alert.objects.count() == 3  # two stalls, one watchdog
    assert Alert.objects.get(labels__instance="validator-2:9100").status == "firing"
    wait_for(lambda: Event.objects.for_subject(incident).filter(kind="alert_cleared").exists(),
             timeout=30, message="alert cleared on the timeline")
    incident.refresh_from_db()
    assert incident.state in Incident.OPEN_STATES  # a resolve never resolves the incident
    assert AlertDelivery.objects.exclude(status="processed").count() == 0


def test_ten_thousand_alerts_in_one_group_arrive_whole(alertmanager):
    started = iso(datetime.now(UTC) - timedelta(minutes=1))
    alertmanager.post([{"labels": {"alertname": "DiskAlmostFull", "instance": f"host-{i}:9100",
                                   "mountpoint": "/var/lib/quantumpay", "job": "node"},
                        "annotations": {"summary": f"Data volume on host-{i} is over 80 % full"},
                        "startsAt": started} for i in range(10_000)])
    wait_for(lambda: Alert.objects.count() == 10_000, timeout=240, interval=1,
             message="10,000 alerts in qpgov")
    assert AlertGroup.objects.count() == 1
    delivery = AlertDelivery.objects.filter(alert_count=10_000).first()
    size = len(delivery.body.encode())
    print(f"\nA real 10,000-alert webhook body from Alertmanager: {size:,} bytes")
    assert delivery.truncated_alerts == 0
