"""Issue 12 item 4: the registry cannot point the pipeline at anything.

Every registry change goes on the log; a node's data directory must lie inside
the configured roots (no `..`, no symlink out of a root); no value handed to a
command template may start with `-`; a port in the SSH target is refused.
"""

import os

import pytest
from django.urls import reverse

from fleet.drivers import CommandDriver, UnsafeValue
from fleet.models import Node
from incidents import services
from qpgov.models import Event

FORM = {"name": "validator-7", "environment": "mainnet", "role": "validator",
        "target": "", "unit": "quantumpay-node"}


@pytest.fixture
def roots(settings, tmp_path):
    """One configured root, with a node directory in it, and a secret folder outside it."""
    root = tmp_path / "nodes"
    (root / "validator-7" / "data").mkdir(parents=True)
    secret = tmp_path / "home" / ".ssh"
    secret.mkdir(parents=True)
    (secret / "id_ed25519").write_text("PRIVATE KEY\n")
    settings.QPGOV_NODE_DATA_ROOTS = [root]
    return root, secret


def node_events(node_id):
    return list(Event.objects.filter(subject_type="fleet.node", subject_id=node_id).order_by("seq"))


def post(client, name, data, *args):
    return client.post(reverse(f"fleet:{name}", args=args), data)


def test_adding_editing_and_deleting_a_node_each_go_on_the_log(client, olga, roots):
    root, _ = roots
    data_dir = str(root / "validator-7" / "data")
    client.force_login(olga)
    assert post(client, "node_add", {**FORM, "data_dir": data_dir}).status_code == 302
    node = Node.objects.get(name="validator-7")
    added, = node_events(node.pk)
    assert (added.kind, added.actor_name) == ("node_added", "olga")
    assert added.data["before"] == {} and added.data["after"]["data_dir"] == data_dir

    assert post(client, "node_edit", {**FORM, "data_dir": data_dir, "unit": "qp-2"},
                node.pk).status_code == 302
    changed = node_events(node.pk)[-1]
    assert changed.kind == "node_changed"
    assert changed.data == {"before": {"unit": "quantumpay-node"}, "after": {"unit": "qp-2"}}

    page = client.get(reverse("fleet:node_edit", args=[node.pk])).content.decode()
    assert "node_changed" not in page  # words, not the event code (review 17, S4)
    assert f"node settings changed by {olga.get_full_name() or 'olga'}" in page
    assert "unit: quantumpay-node → qp-2" in page

    # Saving without a change writes nothing.
    post(client, "node_edit", {**FORM, "data_dir": data_dir, "unit": "qp-2"}, node.pk)
    assert len(node_events(node.pk)) == 2

    assert post(client, "node_delete", {}, node.pk).status_code == 302
    assert not Node.objects.filter(pk=node.pk).exists()
    deleted = node_events(node.pk)[-1]
    assert (deleted.kind, deleted.data["before"]["unit"], deleted.data["after"]) == (
        "node_deleted", "qp-2", {})


def test_editing_only_the_node_standard_is_saved_and_logged(client, olga, roots):
    root, _ = roots
    form = {**FORM, "data_dir": str(root / "validator-7" / "data")}
    client.force_login(olga)
    post(client, "node_add", form)
    node = Node.objects.get(name="validator-7")
    standard = {"height_url": "http://10.0.0.9:8545/height", "time_sync": "ntpd",
                "dedicated_host": "on"}

    assert post(client, "node_edit", {**form, **standard}, node.pk).status_code == 302
    node.refresh_from_db()
    assert (node.height_url, node.time_sync, node.dedicated_host) == (
        "http://10.0.0.9:8545/height", "ntpd", True)
    changed = node_events(node.pk)[-1]
    assert changed.kind == "node_changed"
    assert changed.data == {
        "before": {"dedicated_host": False, "time_sync": "chrony", "height_url": ""},
        "after": {"dedicated_host": True, "time_sync": "ntpd", "height_url": standard["height_url"]},
    }


def test_every_field_of_the_node_form_is_recorded_when_a_node_is_added(client, olga, roots):
    from fleet.forms import NodeForm

    root, _ = roots
    client.force_login(olga)
    post(client, "node_add", {**FORM, "data_dir": str(root / "validator-7" / "data")})
    added, = node_events(Node.objects.get(name="validator-7").pk)
    assert set(NodeForm.Meta.fields) <= set(added.data["after"])


def test_an_edit_does_not_undo_a_freeze_set_after_the_form_read_the_node(olga, roots):
    from fleet import registry

    root, _ = roots
    node = Node.objects.create(name="validator-7", data_dir=str(root / "validator-7" / "data"))
    stale = Node.objects.get(pk=node.pk)
    Node.objects.filter(pk=node.pk).update(frozen=True)  # a response froze it meanwhile
    stale.unit = "qp-2"
    registry.save_node(stale, actor=olga)
    node.refresh_from_db()
    assert (node.unit, node.frozen) == ("qp-2", True)


def test_a_node_an_incident_used_cannot_be_deleted(client, olga, rita, roots, published):
    node = Node.objects.create(name="validator-7", data_dir=str(roots[0] / "validator-7" / "data"))
    incident = services.declare(title="Fork", severity="SEV1", nodes=[node], declared_by=rita)
    client.force_login(olga)
    response = post(client, "node_delete", {}, node.pk)
    assert response.status_code == 409 and f"INC-{incident.pk}".encode() in response.content
    assert Node.objects.filter(pk=node.pk).exists() and incident.nodes.get() == node
    assert not [e for e in node_events(node.pk) if e.kind == "node_deleted"]


@pytest.mark.parametrize("where", ["outside", "dotdot", "symlink", "root_prefix"])
def test_the_registry_refuses_a_data_dir_outside_the_roots(client, olga, roots, where):
    root, secret = roots
    link = root / "validator-7" / "link"
    os.symlink(secret, link)
    data_dir = {
        "outside": str(secret),
        "dotdot": f"{root}/validator-7/../../home/.ssh",
        "symlink": str(link),
        "root_prefix": f"{root}-other/data",  # shares the root's prefix, not the root
    }[where]
    client.force_login(olga)
    response = post(client, "node_add", {**FORM, "data_dir": data_dir})
    assert response.status_code == 200
    assert response.context["form"].errors["data_dir"]
    assert not Node.objects.exists() and not Event.objects.filter(subject_type="fleet.node")


def test_a_data_dir_inside_a_root_is_accepted(client, olga, roots):
    client.force_login(olga)
    data_dir = str(roots[0] / "validator-7" / "data")
    assert post(client, "node_add", {**FORM, "data_dir": data_dir}).status_code == 302


def test_the_driver_checks_the_root_again_right_before_it_runs(roots, db):
    """The database or the filesystem can change after the form checked the path."""
    root, secret = roots
    outside = Node(name="v1", data_dir=str(secret))  # written past the form, e.g. an old row
    with pytest.raises(UnsafeValue, match="outside"):
        CommandDriver().snapshot(outside)
    # A directory that was fine when saved, swapped for a symlink out of the root since.
    swapped = root / "validator-7" / "data"
    swapped.rmdir()
    os.symlink(secret, swapped)
    with pytest.raises(UnsafeValue, match="outside"):
        CommandDriver().snapshot(Node(name="v1", data_dir=str(swapped)))
    with pytest.raises(UnsafeValue):
        CommandDriver().snapshot(Node(name="v1", data_dir=f"{root}/validator-7/../../home/.ssh"))


@pytest.mark.parametrize("field", ["name", "target", "unit", "data_dir"])
def test_the_driver_refuses_a_leading_dash_in_every_templated_value(settings, roots, field, db):
    settings.QPGOV_NODE_COMMAND_SET = "systemd"
    settings.QPGOV_NODE_COMMANDS = {"freeze": "echo {name} {unit} {data_dir}"}
    values = {"name": "v1", "target": "ops@h", "unit": "quantumpay-node",
              "data_dir": str(roots[0] / "validator-7" / "data")}
    values[field] = "-oProxyCommand=touch /tmp/pwned"
    with pytest.raises(UnsafeValue, match="-"):
        CommandDriver().argv(Node(**values), "freeze")


def test_an_ssh_port_in_the_target_is_refused_with_a_clear_message(client, olga, roots):
    client.force_login(olga)
    response = post(client, "node_add", {**FORM, "target": "ops@host:2222",
                                         "data_dir": str(roots[0] / "validator-7" / "data")})
    assert response.status_code == 200
    error = " ".join(response.context["form"].errors["target"])
    assert "port" in error and "~/.ssh/config" in error
    # A row written past the form never reaches ssh as a host called "host:2222".
    with pytest.raises(UnsafeValue, match="port"):
        CommandDriver().argv(Node(name="v1", target="ops@host:2222",
                                  data_dir=str(roots[0] / "validator-7" / "data")), "freeze")


def test_a_remote_data_dir_that_leads_out_of_the_roots_is_refused_on_the_node(
    settings, roots, make_demo_node
):
    """The worker cannot follow a remote node's symlinks: it asks the node first."""
    from tests.test_incidents_driver import FAKE_SSH

    root, secret = roots
    settings.QPGOV_SSH_COMMAND = FAKE_SSH
    settings.QPGOV_NODE_DATA_ROOTS = [*settings.QPGOV_NODE_DATA_ROOTS, root.parent.parent]
    node = make_demo_node("remote-1", target="ops@remote-1.internal", start=False)
    assert CommandDriver().snapshot(node).size > 0  # inside the roots on the node: fine
    settings.QPGOV_NODE_DATA_ROOTS = [root]
    link = root / "validator-7" / "data"
    link.rmdir()
    os.symlink(secret, link)  # inside the roots by name, ~/.ssh in fact
    with pytest.raises(UnsafeValue, match="resolves to .*outside"):
        CommandDriver().snapshot(Node(name="remote-1", target="ops@remote-1.internal",
                                      data_dir=str(link)))
