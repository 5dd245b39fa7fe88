"""Every list and detail page costs the same number of queries at 1 row and at 500,
and each incident response step a fixed number of statements per node."""

import pytest
from django.db import connection
from django.urls import reverse

from changes.models import Proposal, State
from fleet.models import Node
from incidents import services as incident_services
from incidents.models import Incident, IncidentNode, ResponseStep
from incidents.tasks import run_step
from qpgov import eventlog
from qpgov.management.commands.seed_scale import make_proposals
from tests.factories import in_review

SIZES = [1, 500]


@pytest.fixture
def proposals(alice, olga, oscar, carol):
    def make(count, state=None):
        return make_proposals(count, [alice], [olga, oscar], [carol], state=state)
    return make


@pytest.mark.parametrize("rows", SIZES)
def test_the_proposal_list(client, olga, proposals, rows, django_assert_max_num_queries):
    proposals(rows)
    client.force_login(olga)
    with django_assert_max_num_queries(7):
        assert client.get(reverse("changes:list")).status_code == 200
    with django_assert_max_num_queries(7):
        assert client.get(reverse("changes:list"), {"awaiting": "1"}).status_code == 200


@pytest.mark.parametrize("rows", SIZES)
def test_the_proposal_page_with_a_long_history(client, alice, olga, rows,
                                               django_assert_max_num_queries):
    proposal = in_review(alice)
    for i in range(rows):
        eventlog.append(proposal, "note", note=f"history entry {i}")
    client.force_login(olga)
    with django_assert_max_num_queries(14):
        assert client.get(proposal.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("rows", SIZES)
def test_the_public_change_log(client, proposals, rows, django_assert_max_num_queries):
    proposals(rows, state=State.IMPLEMENTED)
    Proposal.objects.update(public_changelog="Raised the rpc peer limit.")
    # Three stamp lookups (implemented, rolled back, emergency), the count and the page.
    with django_assert_max_num_queries(5):
        assert client.get(reverse("changes:public")).status_code == 200


def incidents(count, rita, nodes):
    rows = [Incident(title=f"Incident {i}", severity="SEV3", declared_by=rita, commander=rita,
                     runbook_version="2026.1") for i in range(count)]
    Incident.objects.bulk_create(rows)
    IncidentNode.objects.bulk_create(
        [IncidentNode.copy_of(i, n) for i in Incident.objects.all() for n in nodes])


@pytest.mark.parametrize("rows", SIZES)
def test_the_incident_list(client, rita, rows, django_assert_max_num_queries):
    nodes = [Node.objects.create(name=f"validator-{i}", environment="mainnet", role="validator")
             for i in range(3)]
    incidents(rows, rita, nodes)
    client.force_login(rita)
    with django_assert_max_num_queries(9):
        assert client.get(reverse("incidents:list")).status_code == 200


@pytest.mark.parametrize("rows", SIZES)
def test_the_incident_page_with_a_long_timeline(client, rita, rows, django_assert_max_num_queries):
    node = Node.objects.create(name="validator-1", environment="mainnet", role="validator")
    incident = incident_services.declare(title="Block production stalled", severity="SEV2",
                                         nodes=[node], declared_by=rita, commander=rita)
    for i in range(rows):
        eventlog.append(incident, "note", actor=rita, note=f"timeline entry {i}")
    client.force_login(rita)
    with django_assert_max_num_queries(20):
        assert client.get(incident.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("rows", SIZES)
def test_the_node_registry(client, olga, rows, django_assert_max_num_queries):
    Node.objects.bulk_create([Node(name=f"node-{i}", environment="mainnet", role="full")
                              for i in range(rows)])
    client.force_login(olga)
    # The fleet page: nodes, latest checks, uptime from checks and from alerts, open alerts.
    with django_assert_max_num_queries(8):
        assert client.get(reverse("fleet:nodes")).status_code == 200


# Statements (BEGIN and COMMIT included) for declaring, and for each automated
# step with one node, then for each further node: (PostgreSQL, SQLite). A node
# step reads which nodes are done or held (one statement, every try: a hung
# node's earlier step may hold some) and inserts every node's try in one
# statement; a node then costs its result, rows and events in their own transaction; on SQLite
# each append to the log is one statement more (no INSERT ... WITH UPDATE).
# Declaring locks and re-reads its nodes (the copy is taken from them) and looks
# for earlier unfreeze requests on them to withdraw.
DECLARE_STATEMENTS = (13, 14)
STEP_STATEMENTS = {
    "freeze": ((24, 27), (6, 7)),  # the first step also moves the incident to responding
    "preserve_logs": ((23, 26), (6, 7)),
    "snapshot": ((23, 26), (6, 7)),
    # Two council members, two emails; the notice names the nodes, which the
    # claim read as the incident's copies (IncidentNode), not as incident.nodes.
    "notify_governance": ((21, 23), (0, 0)),
}


@pytest.mark.parametrize("node_count", [1, 3])
def test_each_response_step_costs_a_fixed_number_of_statements_per_node(
    settings, rita, carol, chris, evidence_dir, published, node_count, django_assert_max_num_queries
):
    settings.QPGOV_NODE_COMMAND_SET = "drill"  # every node command succeeds at once
    which = 0 if connection.vendor == "postgresql" else 1
    nodes = [Node.objects.create(name=f"validator-{i}") for i in range(node_count)]
    with django_assert_max_num_queries(DECLARE_STATEMENTS[which]):
        incident = incident_services.declare(title="Drill", severity="SEV3", nodes=nodes,
                                             declared_by=rita)
    for step in incident.steps.exclude(kind="postmortem").order_by("position"):
        first, each_further = STEP_STATEMENTS[step.kind]
        with django_assert_max_num_queries(first[which] + each_further[which] * (node_count - 1)):
            run_step(step.id)
        step.refresh_from_db()
        assert step.status == ResponseStep.SUCCEEDED
    incident.refresh_from_db()
    assert incident.state == Incident.CONTAINED
