"""`manage.py demo_history`: the whole lifecycle for a newcomer, through the services, once."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from changes.models import Proposal, State
from fleet import demo
from fleet.models import Node
from incidents.models import Incident, Postmortem
from qpgov.management.commands.demo_history import DEMO, DEMO_NODE
from qpgov.models import Event


@pytest.fixture
def demo_node_dir(settings, tmp_path):
    """The demo node runs under tmp_path and is stopped afterwards."""
    settings.QPGOV_DEMO_NODE_DIR = tmp_path / "nodes"
    yield settings.QPGOV_DEMO_NODE_DIR / DEMO_NODE / "data"
    demo.stop(settings.QPGOV_DEMO_NODE_DIR / DEMO_NODE / "data")


def run():
    out = StringIO()
    call_command("demo_history", stdout=out)
    return out.getvalue()


def test_it_shows_every_state_of_a_proposal_and_a_published_post_mortem(
    db, demo_node_dir, evidence_dir, client
):
    run()
    states = set(Proposal.objects.values_list("state", flat=True))
    # The states only an emergency change reaches (it needs an open incident on its
    # node while it is approved) are not in the demo yet.
    emergency_only = {State.IN_RATIFICATION, State.RATIFIED, State.UNRATIFIED}
    expected = set(State.values) - emergency_only
    assert states == expected, f"missing: {expected - states}"
    assert all(p.title.startswith(DEMO) for p in Proposal.objects.all())

    incident = Incident.objects.get()
    assert incident.title.startswith(DEMO)
    assert incident.steps.exclude(status="succeeded").count() == 0
    assert incident.postmortem.state == Postmortem.PUBLISHED
    assert incident.postmortem.title.startswith(DEMO)
    node = Node.objects.get(name=DEMO_NODE)
    assert not node.frozen and demo.is_running(demo_node_dir), "started again after the incident"

    # A newcomer sees it where the public sees it.
    public_log = client.get(reverse("changes:public")).content.decode()
    assert "Demo: raised the rpc request timeout" in public_log and "rolled back" in public_log
    assert incident.postmortem.title in client.get(reverse("postmortems:list")).content.decode()

    call_command("verify_log", stdout=StringIO())


def test_running_it_again_adds_nothing(db, demo_node_dir, evidence_dir):
    run()
    counts = (Proposal.objects.count(), Incident.objects.count(), Event.objects.count())
    out = run()
    assert (Proposal.objects.count(), Incident.objects.count(), Event.objects.count()) == counts
    assert "already there" in out
    call_command("verify_log", stdout=StringIO())


def test_it_refuses_outside_dev(db, settings):
    settings.DEV = False
    with pytest.raises(Exception, match="dev only"):
        run()
    assert not Proposal.objects.exists()
