"""Emergency changes: only while an incident in scope is open, two Core Ops other than the
proposer, no waiting period, and a ratification review once implemented."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from changes import policy, services
from changes.forms import ProposalForm
from changes.models import EmailDelivery, Proposal, State
from fleet.models import Node
from incidents.models import Incident
from qpgov import roles
from qpgov.http import Conflict
from qpgov.models import Event
from tests.conftest import make_user
from tests.factories import (
    emergency_data,
    emergency_in_review,
    form_data,
    implementation_data,
    in_review,
    sev1,
    vote,
)

H = timedelta(hours=1)


@pytest.fixture
def start():
    return timezone.now().replace(microsecond=0)


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def incident(olga, rita):
    return sev1(olga, rita)


def implemented(alice, olga, oscar, incident, moment):
    with at(moment):
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
        vote(proposal, oscar)
        services.record_implementation(proposal.pk, olga, implementation_data())
    return Proposal.objects.get(pk=proposal.pk)


def test_two_core_ops_approve_it_at_once_with_no_waiting_period(alice, olga, oscar, incident,
                                                                 start):
    with at(start):
        proposal = emergency_in_review(alice, incident)
    with at(start + timedelta(minutes=5)):
        vote(proposal, olga)
        assert Proposal.objects.get(pk=proposal.pk).state == State.IN_REVIEW  # one is not enough
        vote(proposal, oscar)
    proposal.refresh_from_db()
    assert proposal.state == State.APPROVED
    assert proposal.decided_at == start + timedelta(minutes=5)
    event = Event.objects.for_subject(proposal).get(kind="transition", to_state=State.APPROVED)
    assert event.note == "Emergency change approved by two Core Ops."
    assert event.data["approvals"] == 2


def test_the_proposer_is_never_one_of_the_two(alice, olga, incident, start):
    Group.objects.get(name=roles.CORE_OPS).user_set.add(alice)  # the proposer holds Core Ops too
    oscar = make_user("oscar", roles.CORE_OPS)
    with at(start):
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
        with pytest.raises(PermissionDenied):
            vote(proposal, alice)
    assert Proposal.objects.get(pk=proposal.pk).state == State.IN_REVIEW
    with at(start):
        vote(proposal, oscar)
    assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED


def test_it_is_refused_at_submission_when_core_ops_has_fewer_than_two_others(alice, olga,
                                                                             incident):
    with pytest.raises(Conflict, match="needs 2 approval"):
        emergency_in_review(alice, incident)
    assert not Proposal.objects.filter(state=State.IN_REVIEW).exists()


def test_only_the_current_electorate_counts(alice, olga, oscar, incident, start):
    make_user("otto", roles.CORE_OPS)
    with at(start):
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
    olga.is_active = False
    olga.save()
    with at(start + H):
        vote(proposal, oscar)  # olga's approval is set aside: one of two
    assert Proposal.objects.get(pk=proposal.pk).state == State.IN_REVIEW


def test_it_is_refused_without_an_open_incident(alice, olga, oscar, rita, incident):
    Incident.objects.filter(pk=incident.pk).update(state=Incident.RESOLVED)
    with pytest.raises(Conflict, match="only while its incident is open"):
        emergency_in_review(alice, Incident.objects.get(pk=incident.pk))
    form = ProposalForm(form_data(emergency="on", incident=incident.pk,
                                  emergency_justification="Mainnet is halted and cannot wait.",
                                  on_call="rita"))
    assert not form.is_valid() and "incident" in form.errors  # a resolved one is not offered


def test_it_is_refused_for_an_incident_on_other_nodes(alice, olga, oscar, incident):
    elsewhere = Node.objects.create(name="rpc-9")
    with pytest.raises(Conflict, match="none of the nodes"):
        emergency_in_review(alice, incident, nodes=[elsewhere])


@pytest.mark.parametrize("category,message", [
    ("governance", "A Governance change cannot be an emergency change."),
    ("protocol", "A Protocol change is never an emergency change."),
])
def test_governance_and_protocol_changes_cannot_be_emergencies(incident, category, message):
    data = form_data(category=category, emergency="on", incident=incident.pk,
                     nodes=[n.pk for n in incident.nodes.all()],
                     emergency_justification="Mainnet is halted and every hour counts now.",
                     on_call="rita and olga")
    form = ProposalForm(data)
    assert not form.is_valid()
    assert message in form.errors["emergency"]


def test_the_service_refuses_a_governance_emergency_too(alice, olga, oscar, carol, chris,
                                                       incident):
    with pytest.raises(Conflict, match="Only an Ops change"):
        emergency_in_review(alice, incident, category="governance")


def test_the_itil_record_is_kept_and_shown(client, alice, olga, oscar, incident):
    proposal = emergency_in_review(alice, incident)
    client.force_login(olga)
    html = client.get(proposal.get_absolute_url()).content.decode()
    assert "Emergency change" in html
    assert "every hour without the fix is an hour without blocks" in html
    assert "rita (incident commander), olga (Core Ops)" in html
    assert f"INC-{incident.pk}" in html
    assert proposal.revisions.get().content["on_call"] == proposal.on_call


def test_an_emergency_change_is_implemented_during_the_incident_freeze_a_normal_one_is_not(
        alice, olga, oscar, incident, start):
    with at(start):
        normal = in_review(alice, title="Raise rpc peers while it burns")
        vote(normal, olga)
    services.decide(normal.pk, start + 24 * H)
    assert Proposal.objects.get(pk=normal.pk).state == State.IN_REVIEW  # held by the freeze
    with at(start + H):
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
        vote(proposal, oscar)
        # Both touch p2p in overlapping windows: a conflict, implemented over with a reason.
        services.record_implementation(proposal.pk, olga, implementation_data(
            conflict_reason="The peer change waits for the incident; this fix cannot."))
    assert Proposal.objects.get(pk=proposal.pk).state == State.IN_RATIFICATION


def test_a_manual_freeze_still_holds_an_emergency_change(alice, olga, oscar, incident, start):
    with at(start):
        proposal = emergency_in_review(alice, incident)
        services.declare_freeze(olga, {"title": "Upgrade freeze", "reason": "v2 upgrade now.",
                                       "starts_at": start, "ends_at": None,
                                       "categories": ["ops"], "nodes": []})
        vote(proposal, olga)
        vote(proposal, oscar)
        with pytest.raises(Conflict, match="Upgrade freeze"):
            services.record_implementation(proposal.pk, olga, implementation_data())


def test_implemented_it_enters_a_72_hour_ratification_and_is_ratified(alice, olga, oscar,
                                                                      incident, start):
    proposal = implemented(alice, olga, oscar, incident, start)
    assert proposal.state == State.IN_RATIFICATION and proposal.ratification == "pending"
    assert proposal.deadline == start + 72 * H
    assert proposal.earliest_decision_at == start + 24 * H
    assert proposal.policy_rules.rule == policy.ONE_APPROVAL_NO_REJECTION  # the usual Ops rules
    assert proposal.votes.filter(revision=proposal.revision).count() == 0  # a fresh review
    with at(start + H):
        vote(proposal, oscar)
    assert services.decide(proposal.pk, start + 24 * H - timedelta(seconds=1)) is None
    assert services.decide(proposal.pk, start + 24 * H) == State.RATIFIED
    assert Proposal.objects.get(pk=proposal.pk).ratification == "ratified"


def test_not_ratified_it_requires_a_rollback_and_the_council_is_told(alice, olga, oscar, carol,
                                                                     incident, start):
    proposal = implemented(alice, olga, oscar, incident, start)
    assert services.decide(proposal.pk, start + 72 * H - timedelta(seconds=1)) is None
    assert services.decide(proposal.pk, start + 72 * H) == State.UNRATIFIED
    proposal.refresh_from_db()
    assert proposal.ratification == "unratified"
    told = EmailDelivery.objects.filter(proposal=proposal, purpose=EmailDelivery.UNRATIFIED)
    assert set(told.values_list("recipient", flat=True)) == {carol.email, alice.email}
    assert proposal.rollback_steps in told.first().body  # its rollback plan is linked
    with at(start + 73 * H):
        services.record_rollback(proposal.pk, olga, {
            "performed_at": start + 73 * H - timedelta(minutes=5),
            "rollback_notes": "Restored the previous timeout and restarted every validator."})
    proposal.refresh_from_db()
    assert proposal.state == State.ROLLED_BACK and proposal.rollback_recorded_by == olga


def test_a_rollback_dated_before_the_implementation_is_refused(alice, olga, oscar, incident,
                                                               start):
    proposal = implemented(alice, olga, oscar, incident, start)
    services.decide(proposal.pk, start + 72 * H)
    with at(start + 73 * H), pytest.raises(Conflict, match="before the implementation"):
        services.record_rollback(proposal.pk, olga, {
            "performed_at": start - H,
            "rollback_notes": "Restored the previous timeout and restarted every validator."})
    assert Proposal.objects.get(pk=proposal.pk).state == State.UNRATIFIED


def test_a_standing_rejection_leaves_it_unratified(alice, olga, oscar, incident, start):
    proposal = implemented(alice, olga, oscar, incident, start)
    with at(start + H):
        vote(proposal, olga, "reject", "This should have waited for the full review.")
    assert services.decide(proposal.pk, start + 24 * H) == State.UNRATIFIED


def test_without_two_approvals_in_its_window_it_falls_back_to_a_normal_review(
        alice, olga, oscar, incident, start):
    with at(start):
        proposal = emergency_in_review(alice, incident)
        vote(proposal, olga)
    assert services.decide(proposal.pk, start + policy.EMERGENCY_WINDOW_HOURS * H) == State.IN_REVIEW
    proposal.refresh_from_db()
    assert not proposal.emergency
    assert proposal.policy_rules.rule == policy.ONE_APPROVAL_NO_REJECTION
    assert proposal.earliest_decision_at == start + 24 * H  # counted from the submission
    assert proposal.votes.filter(revision=proposal.revision).count() == 1  # olga's vote stays


def test_it_falls_back_once_its_incident_is_resolved(alice, olga, oscar, incident, start):
    with at(start):
        proposal = emergency_in_review(alice, incident)
    Incident.objects.filter(pk=incident.pk).update(state=Incident.RESOLVED, resolved_at=start + H)
    assert services.decide(proposal.pk, start + H) == State.IN_REVIEW
    assert not Proposal.objects.get(pk=proposal.pk).emergency


def test_the_public_log_and_feed_mark_emergency_changes_and_their_ratification(
        client, alice, olga, oscar, incident, start, django_capture_on_commit_callbacks):
    proposal = implemented(alice, olga, oscar, incident, start)
    html = client.get(reverse("changes:public")).content.decode()
    assert "Emergency change" in html and "Ratification pending" in html
    feed = client.get(reverse("changes:public_feed")).content.decode()
    assert "Emergency change implemented (ratification pending)" in feed
    with at(start + 72 * H):
        with django_capture_on_commit_callbacks(execute=True):
            services.decide(proposal.pk)
        html = client.get(reverse("changes:public")).content.decode()
    assert "Not ratified: rollback required" in html


def test_an_emergency_draft_form_names_what_is_missing(incident):
    form = ProposalForm(form_data(emergency="on"))
    assert not form.is_valid()
    assert "Link the open incident" in str(form.errors["incident"])
    assert "emergency_justification" in form.errors and "on_call" in form.errors
    ok = ProposalForm({**form_data(), **{k: v for k, v in emergency_data(incident).items()
                                          if k in ("emergency_justification", "on_call")},
                       "emergency": "on", "incident": incident.pk,
                       "nodes": [n.pk for n in incident.nodes.all()]})
    assert ok.is_valid(), ok.errors


@pytest.mark.parametrize("field,message", [
    ("emergency_justification", "why the change cannot wait"),
    ("on_call", "who is on call"),
    ("risk_assessment", "what could go wrong"),
])
def test_the_service_refuses_an_emergency_without_its_itil_record(alice, olga, oscar, incident,
                                                                  field, message):
    # Only the form used to check these: a draft made without it was submitted.
    with pytest.raises(Conflict, match=message):
        emergency_in_review(alice, incident, **{field: ""})
    assert not Proposal.objects.filter(state=State.IN_REVIEW).exists()


def test_without_core_ops_left_to_review_it_the_fallback_expires_it_instead_of_failing(
        alice, olga, oscar, incident, start, caplog):
    with at(start):
        proposal = emergency_in_review(alice, incident)
    Group.objects.get(name=roles.CORE_OPS).user_set.remove(olga, oscar)
    counts = services.decide_due(start + policy.EMERGENCY_WINDOW_HOURS * H)
    assert counts.get(State.EXPIRED) == 1
    assert "could not decide" not in caplog.text and "batch failed" not in caplog.text
    proposal.refresh_from_db()
    assert proposal.state == State.EXPIRED
    event = Event.objects.for_subject(proposal).get(kind="transition", to_state=State.EXPIRED)
    assert "normal Ops change, but it cannot be" in event.note
    assert "could never be approved" in event.note
