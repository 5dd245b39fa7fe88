"""Conflicts: listed at submission and before implementation; implementing over one needs a
written reason on the log."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from changes import conflicts, services
from changes.models import Proposal, State
from fleet.models import Node
from qpgov.http import Conflict
from qpgov.models import Event
from tests.factories import implementation_data, in_review, sev1, vote

H = timedelta(hours=1)


@pytest.fixture
def window():
    start = timezone.now().replace(microsecond=0) + timedelta(days=4)
    return start, start + 2 * H


def test_another_change_on_the_same_node_with_an_overlapping_window_is_a_conflict(alice, olga,
                                                                                  window):
    node = Node.objects.create(name="rpc-1")
    start, end = window
    first = in_review(alice, title="Restart rpc one for kernel patch", nodes=[node],
                      components="kernel", planned_start=start, planned_end=end)
    second = in_review(alice, title="Raise peers on rpc one", nodes=[node], components="p2p",
                       planned_start=end - H, planned_end=end + H)
    found = conflicts.for_proposal(second)
    assert [c.kind for c in found] == [conflicts.CHANGE]
    assert f"#{first.pk}" in found[0].text and "node rpc-1" in found[0].text
    # Listed at submission, and kept with it on the log.
    submitted = Event.objects.for_subject(second).get(kind="transition", to_state=State.IN_REVIEW)
    assert submitted.data["conflicts"][0]["kind"] == conflicts.CHANGE


def test_windows_that_only_touch_do_not_conflict(alice, olga, window):
    start, end = window
    in_review(alice, title="First change on p2p", planned_start=start, planned_end=end)
    later = in_review(alice, title="Second change on p2p", planned_start=end, planned_end=end + H)
    assert conflicts.for_proposal(later) == []


def test_a_shared_component_is_a_conflict_and_a_decided_change_is_not(alice, olga, window):
    start, end = window
    other = in_review(alice, title="Rotate p2p keys", planned_start=start, planned_end=end)
    mine = in_review(alice, title="Raise p2p peers", planned_start=start, planned_end=end)
    assert "component p2p" in conflicts.for_proposal(mine)[0].text
    services.withdraw(other.pk, alice)
    assert conflicts.for_proposal(mine) == []


def test_a_freeze_over_the_planned_window_is_a_conflict_at_submission(alice, olga, window):
    start, end = window
    services.declare_freeze(olga, {"title": "Upgrade to v3", "reason": "Validators upgrade.",
                                   "starts_at": end - H, "ends_at": None,
                                   "categories": ["ops"], "nodes": []})
    proposal = in_review(alice, planned_start=start, planned_end=end)
    found = conflicts.for_proposal(proposal)
    assert [c.kind for c in found] == [conflicts.FREEZE] and "Upgrade to v3" in found[0].text


def test_an_open_incident_on_its_nodes_is_a_conflict(alice, olga, rita):
    node = Node.objects.create(name="validator-3", environment="testnet")
    incident = sev1(olga, rita, node, severity="SEV3", title="Validator three lags behind")
    proposal = in_review(alice, nodes=[node], environments="testnet")
    found = conflicts.for_proposal(proposal)
    assert [c.kind for c in found] == [conflicts.INCIDENT]
    assert f"INC-{incident.pk}" in found[0].text


def approved_with_a_conflict(alice, olga):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        in_review(alice, title="Rotate p2p keys on every node")
        proposal = in_review(alice, title="Raise p2p peers on rpc")
        vote(proposal, olga)
    services.decide(proposal.pk, start + 24 * H)
    return Proposal.objects.get(pk=proposal.pk), start + 25 * H


def test_implementing_over_a_conflict_without_a_reason_is_refused(alice, olga):
    proposal, moment = approved_with_a_conflict(alice, olga)
    with time_machine.travel(moment, tick=False):
        with pytest.raises(Conflict, match="needs a written reason"):
            services.record_implementation(proposal.pk, olga, implementation_data())
    assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED


def test_implementing_over_a_conflict_records_the_reason_on_the_log(client, alice, olga):
    proposal, moment = approved_with_a_conflict(alice, olga)
    with time_machine.travel(moment, tick=False):
        client.force_login(olga)
        url = reverse("changes:implementation", args=[proposal.pk])
        page = client.get(url).content.decode()
        assert "Rotate p2p keys on every node" in page and "Unresolved conflicts" in page
        body = {"outcome": "implemented",
                "performed_at": (moment - H).strftime("%Y-%m-%dT%H:%M"),
                "verification_notes": "Peer counts checked on every rpc node.",
                "public_changelog": "Raised the peer limit on the public rpc nodes."}
        refused = client.post(url, body)
        assert refused.status_code == 200 and "why it is safe to implement" in refused.content.decode()
        assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
        client.post(url, {**body, "conflict_reason": "The key rotation is on other nodes' ports."})
    assert Proposal.objects.get(pk=proposal.pk).state == State.IMPLEMENTED
    event = Event.objects.for_subject(proposal).get(kind="transition", to_state=State.IMPLEMENTED)
    assert event.data["conflict_reason"] == "The key rotation is on other nodes' ports."
    assert "Rotate p2p keys" in event.data["conflicts"][0]["text"]
    assert "Implemented over 1 conflict" in event.note


def test_conflicts_are_shown_to_approvers(client, alice, olga, window):
    start, end = window
    in_review(alice, title="Rotate p2p keys", planned_start=start, planned_end=end)
    mine = in_review(alice, title="Raise p2p peers", planned_start=start, planned_end=end)
    client.force_login(olga)
    html = client.get(mine.get_absolute_url()).content.decode()
    assert "Conflicts (1)" in html and "Rotate p2p keys" in html
