"""The fleet page and the node page: who sees them, who runs the checks, what they show, at what cost."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fleet import checks
from fleet.models import Alert, AlertGroup, CheckRun, Node, NodeCheck
from incidents import services as incident_services


def url(name, *args):
    return reverse(f"fleet:{name}", args=args)


def checked(nodes, days=30, status="pass"):
    """Daily runs over the last `days` days with every check of every node at `status`."""
    now = timezone.now()
    for day in range(days, 0, -1):
        run = CheckRun.objects.create(trigger=CheckRun.SCHEDULE, status=CheckRun.DONE,
                                      created_at=now - timedelta(days=day))
        NodeCheck.objects.bulk_create([
            NodeCheck(run=run, node=node, kind=kind, status=status, note=f"{kind} {status}",
                      checked_at=now - timedelta(days=day), raw="ActiveState=active")
            for node in nodes for kind in checks.KINDS])


@pytest.fixture
def node(db):
    return Node.objects.create(name="validator-1", height_url="http://127.0.0.1:26657/height")


@pytest.mark.parametrize("actor, status", [("olga", 200), ("rita", 200), ("carol", 200),
                                           ("alice", 403), ("eve", 403)])
def test_ops_responders_and_the_council_see_the_fleet(client, request, node, actor, status):
    client.force_login(request.getfixturevalue(actor))
    assert client.get(url("nodes")).status_code == status
    assert client.get(url("node", node.pk)).status_code == status


def test_a_visitor_is_sent_to_sign_in(client, node):
    assert client.get(url("nodes")).url.startswith(reverse("login"))


def test_the_fleet_page_shows_checks_uptime_state_and_open_incidents(client, rita, node):
    checked([node], days=3)
    Node.objects.filter(pk=node.pk).update(frozen=True, frozen_at=timezone.now())
    incident_services.declare(title="Block production stalled", severity="SEV2", nodes=[node],
                              declared_by=rita, commander=rita)
    client.force_login(rita)
    page = client.get(url("nodes")).content.decode()
    assert "validator-1" in page and "frozen since" in page
    assert "service: pass" in page and "time sync: pass" in page
    assert "100.00 %" in page and '<rect class="up"' in page
    assert '<td data-label="Open incidents">1</td>' in page  # one open incident
    assert '<td data-label="Open alerts">0</td>' in page


def test_the_fleet_page_counts_the_alerts_firing_on_each_node(client, rita, node):
    group = AlertGroup.objects.create(key_hash=AlertGroup.hash_key("g"), group_key="g")
    now = timezone.now()
    for i, status in enumerate([Alert.FIRING, Alert.FIRING, Alert.RESOLVED]):
        Alert.objects.create(group=group, fingerprint=f"f{i}", starts_at=now - timedelta(hours=i),
                             status=status, alertname="DiskAlmostFull", node=node)
    client.force_login(rita)
    page = client.get(url("nodes")).content.decode()
    assert "2 firing" in page and reverse("alerts:list") in page
    assert "Run the checks now" not in page and "Add a node" not in page  # not Core Ops


def test_only_core_ops_run_the_checks_on_demand(client, olga, rita, carol, node):
    for someone in (rita, carol):
        client.force_login(someone)
        assert client.post(url("run_checks")).status_code == 403
        assert client.post(url("node_run_checks", node.pk)).status_code == 403
    assert not CheckRun.objects.exists()
    client.force_login(olga)
    assert client.get(url("run_checks")).status_code == 405
    assert b"Run the checks now" in client.get(url("nodes")).content
    assert client.post(url("node_run_checks", node.pk)).url == url("node", node.pk)
    run = CheckRun.objects.get()
    assert (run.trigger, run.requested_by, list(run.nodes.all())) == (CheckRun.DEMAND, olga, [node])
    other = Node.objects.create(name="validator-2")
    assert client.post(url("run_checks")).url == url("nodes")
    assert set(CheckRun.objects.latest("id").nodes.all()) == {node, other}
    assert client.post(url("node_run_checks", 999999)).status_code == 404


def test_the_node_page_shows_its_history_with_raw_output_escaped(client, carol, node):
    run = CheckRun.objects.create(trigger=CheckRun.DEMAND)
    NodeCheck.objects.create(run=run, node=node, kind="height", status="unknown",
                             note="could not read the output", raw="<script>alert(1)</script>",
                             exit_code=0, output_sha256="ab" * 32)
    client.force_login(carol)
    page = client.get(url("node", node.pk)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "could not read the output" in page and "http://127.0.0.1:26657/height" in page


SIZES = [1, 60]


@pytest.mark.parametrize("nodes", SIZES)
def test_the_fleet_page_costs_the_same_at_any_number_of_nodes(
        client, rita, nodes, django_assert_max_num_queries):
    fleet = Node.objects.bulk_create([Node(name=f"node-{i}") for i in range(nodes)])
    checked(fleet, days=30)
    incident_services.declare(title="Stalled", severity="SEV3", nodes=fleet[:3], declared_by=rita,
                              commander=rita)
    client.force_login(rita)
    # Session, user, roles, nodes, latest checks (2), uptime from checks and from
    # alerts, open alerts: the same at 1 node as at 60.
    with django_assert_max_num_queries(9):
        response = client.get(url("nodes"))
    assert response.status_code == 200
    assert response.content.decode().count("100.00 %") == nodes


@pytest.mark.parametrize("days", [1, 60])
def test_the_node_page_costs_the_same_with_a_long_history(client, rita, node, days,
                                                         django_assert_max_num_queries):
    checked([node], days=days)
    client.force_login(rita)
    with django_assert_max_num_queries(11):  # with uptime from alerts and the open alerts
        assert client.get(url("node", node.pk)).status_code == 200


def test_the_node_form_keeps_the_standard_and_refuses_a_height_url_that_is_not_http(client, olga):
    form = {"name": "validator-7", "environment": "mainnet", "role": "validator", "target": "",
            "unit": "quantumpay-node", "data_dir": "/var/lib/quantumpay", "dedicated_host": "on",
            "time_sync": "ntpd", "height_url": "http://127.0.0.1:26657/height"}
    client.force_login(olga)
    assert client.post(url("node_add"), form).status_code == 302
    node = Node.objects.get(name="validator-7")
    assert (node.dedicated_host, node.time_sync, node.height_url) == (
        True, "ntpd", "http://127.0.0.1:26657/height")
    for bad in ("-oProxyCommand=evil", "file:///etc/passwd", "http://x/ y"):
        response = client.post(url("node_edit", node.pk), {**form, "height_url": bad})
        assert response.status_code == 200 and "height_url" in response.context["form"].errors
    for bad in ("systemd-timesyncd", "chrony; reboot"):
        response = client.post(url("node_edit", node.pk), {**form, "time_sync": bad})
        assert response.status_code == 200 and "time_sync" in response.context["form"].errors
    node.refresh_from_db()
    assert node.height_url == "http://127.0.0.1:26657/height" and node.time_sync == "ntpd"
