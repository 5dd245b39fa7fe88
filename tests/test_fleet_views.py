"""The node registry pages (fleet app): Core Ops only, and only plain values saved."""

from django.urls import reverse

from fleet.models import Node


def url(name, *args):
    return reverse(f"fleet:{name}", args=args)


def test_core_ops_keep_the_node_registry(client, olga, rita, db):
    client.force_login(rita)  # a responder sees the fleet page (tests/test_fleet_checks.py), no more
    assert client.get(url("node_add")).status_code == 403
    assert client.post(url("node_add"), {"name": "x"}).status_code == 403
    client.force_login(olga)
    response = client.post(url("node_add"), {
        "name": "validator-7", "environment": "mainnet", "role": "validator",
        "target": "ops@validator-7.internal", "unit": "quantumpay-node",
        "data_dir": "/var/lib/quantumpay",
    })
    assert response.status_code == 302
    node = Node.objects.get(name="validator-7")
    assert b"ssh ops@validator-7.internal" in client.get(url("nodes")).content
    response = client.post(url("node_edit", node.pk), {
        "name": "validator-7", "environment": "mainnet", "role": "validator",
        "target": "-oProxyCommand=evil", "unit": "quantumpay-node; reboot",
        "data_dir": "/var/lib/quantumpay",
    })
    assert response.status_code == 200
    node.refresh_from_db()
    assert node.target == "ops@validator-7.internal" and node.unit == "quantumpay-node"


def test_the_old_registry_addresses_lead_to_the_fleet_pages(client, olga):
    node = Node.objects.create(name="validator-7")
    client.force_login(olga)
    assert client.get("/incidents/nodes/").url == url("nodes")
    assert client.get("/incidents/nodes/add/").url == url("node_add")
    assert client.get(f"/incidents/nodes/{node.pk}/").url == url("node_edit", node.pk)
