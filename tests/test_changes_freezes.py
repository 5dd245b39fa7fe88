"""Change freezes: manual blackout windows and the freeze derived from an open SEV1.

Windows are half-open, [start, end): the edges are tested to the microsecond.
"""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from changes import freezes, services
from changes.forms import FreezeForm, ImplementationForm
from changes.models import Freeze, Proposal, State
from fleet.models import Node
from incidents import services as incident_services
from incidents.models import Incident
from qpgov.http import Conflict
from qpgov.models import Event
from tests.factories import implementation_data, in_review, sev1, vote

H = timedelta(hours=1)
US = timedelta(microseconds=1)


@pytest.fixture
def start():
    return timezone.now().replace(microsecond=0)


def at(moment):
    return time_machine.travel(moment, tick=False)


def freeze(by, starts_at, ends_at=None, categories=("ops", "governance"), nodes=(),
           title="Network upgrade to v2"):
    with at(min(starts_at, timezone.now())):
        return services.declare_freeze(by, {
            "title": title, "reason": "Validators upgrade to v2 during this window.",
            "starts_at": starts_at, "ends_at": ends_at, "categories": list(categories),
            "nodes": list(nodes)})


def approved_in_principle(alice, olga, start):
    """In review since `start` with a standing approval: approvable from start + 24 h."""
    with at(start):
        proposal = in_review(alice)
        vote(proposal, olga)
    return proposal


def resolve(incident, rita, moment):
    Incident.objects.filter(pk=incident.pk).update(state=Incident.CONTAINED)
    with at(moment):
        incident_services.resolve(Incident.objects.get(pk=incident.pk), rita,
                                  resolution="The faulty timeout was rolled back.")


def test_a_freeze_holds_a_due_decision_and_it_is_taken_exactly_when_the_freeze_ends(
        alice, olga, start):
    proposal = approved_in_principle(alice, olga, start)
    freeze(olga, start + 20 * H, start + 30 * H)
    assert services.decide(proposal.pk, start + 24 * H) is None
    assert services.decide(proposal.pk, start + 30 * H - US) is None  # end exclusive: still in force
    assert Proposal.objects.get(pk=proposal.pk).state == State.IN_REVIEW
    assert services.decide(proposal.pk, start + 30 * H) == State.APPROVED


def test_a_freeze_is_in_force_from_its_first_instant(alice, olga, start):
    proposal = approved_in_principle(alice, olga, start)
    freeze(olga, start + 24 * H, start + 30 * H)
    window = freezes.in_force(start + 24 * H)
    assert [w.title for w in window] == [f"Freeze #{Freeze.objects.get().pk}: Network upgrade to v2"]
    assert freezes.in_force(start + 24 * H - US) == []
    assert services.decide(proposal.pk, start + 24 * H) is None


def test_the_window_keeps_running_during_a_freeze_and_votes_still_count(alice, olga, oscar, start):
    with at(start):
        proposal = in_review(alice)
    freeze(olga, start + H, start + 100 * H)
    with at(start + 2 * H):
        vote(proposal, olga)  # votes still work during a freeze
    # The deadline passes during the freeze: nothing is decided, not even the expiry.
    assert services.decide_due(start + 80 * H).get(State.APPROVED) is None
    assert Proposal.objects.get(pk=proposal.pk).state == State.IN_REVIEW
    with at(start + 80 * H), pytest.raises(Conflict, match="window has ended"):
        vote(proposal, oscar)
    assert services.decide(proposal.pk, start + 100 * H) == State.APPROVED


def test_submissions_still_work_during_a_freeze(alice, olga, start):
    freeze(olga, start - H)
    with at(start):
        proposal = in_review(alice)
    assert proposal.state == State.IN_REVIEW


def test_an_open_sev1_on_a_mainnet_node_freezes_decisions_from_declaration_to_resolution(
        alice, olga, rita, start):
    proposal = approved_in_principle(alice, olga, start)
    with at(start + 10 * H):
        incident = sev1(rita, rita)
    assert freezes.in_force(start + 10 * H - US) == []
    assert services.decide(proposal.pk, start + 24 * H) is None
    resolve(incident, rita, start + 40 * H)
    # Derived, not copied: the resolution alone ends it, with no freeze row anywhere.
    assert Freeze.objects.count() == 0
    assert services.decide(proposal.pk, start + 40 * H - US) is None
    assert services.decide(proposal.pk, start + 40 * H) == State.APPROVED


def test_a_sev2_does_not_freeze_unless_the_threshold_says_so(alice, olga, rita, start):
    proposal = approved_in_principle(alice, olga, start)
    with at(start + H):
        sev1(rita, rita, severity="SEV2")
    assert freezes.in_force(start + 24 * H) == []
    with override_settings(QPGOV_FREEZE_SEVERITY="SEV2"):
        assert len(freezes.in_force(start + 24 * H)) == 1
        assert services.decide(proposal.pk, start + 24 * H) is None
    assert services.decide(proposal.pk, start + 24 * H) == State.APPROVED


def test_a_sev1_on_testnet_only_freezes_nothing(alice, olga, rita, start):
    proposal = approved_in_principle(alice, olga, start)
    node = Node.objects.create(name="testnet-1", environment="testnet")
    with at(start + H):
        sev1(rita, rita, node)
    assert services.decide(proposal.pk, start + 24 * H) == State.APPROVED


def test_a_mainnet_incident_freeze_does_not_hold_a_testnet_only_change(alice, olga, rita, start):
    with at(start):
        proposal = in_review(alice, environments="testnet")
        vote(proposal, olga)
        sev1(rita, rita)
    assert services.decide(proposal.pk, start + 24 * H) == State.APPROVED


def test_a_freeze_holds_only_its_categories_and_nodes(alice, olga, start):
    v1 = Node.objects.create(name="validator-1")
    v2 = Node.objects.create(name="validator-2")
    with at(start):
        on_v1 = in_review(alice, title="Tune validator one p2p", nodes=[v1])
        on_v2 = in_review(alice, title="Tune validator two p2p", nodes=[v2])
        for p in (on_v1, on_v2):
            vote(p, olga)
    freeze(olga, start, start + 48 * H, nodes=[v1], title="Validator one disk swap")
    freeze(olga, start, start + 48 * H, categories=["governance"], title="Council elections")
    assert services.decide(on_v1.pk, start + 24 * H) is None
    assert services.decide(on_v2.pk, start + 24 * H) == State.APPROVED


def test_lifting_a_freeze_ends_it_at_that_moment_and_is_logged(alice, olga, carol, start):
    proposal = approved_in_principle(alice, olga, start)
    f = freeze(carol, start, None)  # until lifted
    assert services.decide(proposal.pk, start + 30 * H) is None
    with at(start + 31 * H):
        services.lift_freeze(f.pk, carol, "The upgrade finished cleanly.")
    assert services.decide(proposal.pk, start + 31 * H - US) is None
    assert services.decide(proposal.pk, start + 31 * H) == State.APPROVED
    kinds = list(Event.objects.for_subject(f).values_list("kind", flat=True))
    assert kinds == ["freeze_declared", "freeze_lifted"]
    with at(start + 32 * H), pytest.raises(Conflict, match="already lifted"):
        services.lift_freeze(f.pk, carol, "Again, by mistake.")


def test_recording_an_implementation_during_a_freeze_is_refused_with_the_freeze_named(
        alice, olga, start):
    proposal = approved_in_principle(alice, olga, start)
    services.decide(proposal.pk, start + 24 * H)
    freeze(olga, start + 25 * H, start + 30 * H)
    with at(start + 26 * H):
        with pytest.raises(Conflict, match="Network upgrade to v2"):
            services.record_implementation(proposal.pk, olga, implementation_data())
    assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
    with at(start + 30 * H):
        services.record_implementation(proposal.pk, olga,
                                       implementation_data(performed_at=start + 30 * H))
    assert Proposal.objects.get(pk=proposal.pk).state == State.IMPLEMENTED


def test_work_done_during_a_freeze_is_refused_after_it_ends_too(alice, olga, start):
    proposal = approved_in_principle(alice, olga, start)
    services.decide(proposal.pk, start + 24 * H)
    proposal.refresh_from_db()
    f = freeze(olga, start + 26 * H, start + 28 * H)
    with at(start + 29 * H):
        with pytest.raises(Conflict, match=f"freeze was in force: Freeze #{f.pk}"):
            services.record_implementation(proposal.pk, olga,
                                           implementation_data(performed_at=start + 27 * H))
        form = ImplementationForm({**implementation_form(start + 27 * H)}, proposal=proposal)
        assert not form.is_valid() and "Network upgrade to v2" in str(form.errors["performed_at"])
        assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
        # End exclusive: work done as it ended is fine.
        services.record_implementation(proposal.pk, olga,
                                       implementation_data(performed_at=start + 28 * H))
    assert Proposal.objects.get(pk=proposal.pk).state == State.IMPLEMENTED


def test_work_dated_before_the_approval_or_in_the_future_is_refused(alice, olga, start):
    proposal = approved_in_principle(alice, olga, start)
    services.decide(proposal.pk, start + 24 * H)
    proposal.refresh_from_db()
    with at(start + 26 * H):
        with pytest.raises(Conflict, match="before the approval"):
            services.record_implementation(proposal.pk, olga,
                                           implementation_data(performed_at=start + 14 * H))
        with pytest.raises(Conflict, match="in the future"):
            services.record_implementation(proposal.pk, olga,
                                           implementation_data(performed_at=start + 27 * H))
        form = ImplementationForm(implementation_form(start + 14 * H), proposal=proposal)
        assert "before the approval" in str(form.errors["performed_at"])
        assert Proposal.objects.get(pk=proposal.pk).state == State.APPROVED
        services.record_implementation(proposal.pk, olga,
                                       implementation_data(performed_at=start + 24 * H))
    assert Proposal.objects.get(pk=proposal.pk).state == State.IMPLEMENTED


def implementation_form(performed_at) -> dict:
    return {**implementation_data(), "performed_at": performed_at.strftime("%Y-%m-%dT%H:%M")}


def test_only_core_ops_and_the_council_declare_freezes(alice, start):
    with pytest.raises(PermissionDenied):
        freeze(alice, start)
    assert Freeze.objects.count() == 0


def test_the_freeze_form_refuses_an_end_before_the_start(olga):
    now = timezone.now()
    form = FreezeForm({"title": "Upgrade freeze", "reason": "Validators upgrade that day.",
                       "starts_at": (now + 2 * H).strftime("%Y-%m-%dT%H:%M"),
                       "ends_at": (now + H).strftime("%Y-%m-%dT%H:%M"), "categories": ["ops"]})
    assert not form.is_valid()
    assert "must end after it starts" in str(form.errors["ends_at"])


def test_the_pages_show_the_freeze_and_that_the_decision_waits(client, alice, olga, rita, start):
    proposal = approved_in_principle(alice, olga, start)
    scheduled = freeze(olga, start + 50 * H, start + 60 * H, title="Upgrade to v3")
    with at(start + H):
        incident = sev1(rita, rita)
    with at(start + 24 * H):
        client.force_login(olga)
        page = client.get(proposal.get_absolute_url()).content.decode()
        calendar = client.get(reverse("changes:freezes")).content.decode()
    assert f"INC-{incident.pk} (SEV1)" in page
    assert "The decision waits until the freeze ends" in page
    assert f"Freeze #{scheduled.pk}: Upgrade to v3" in calendar
    assert f"INC-{incident.pk} (SEV1)" in calendar


def test_a_held_decision_is_logged_once_per_freeze_and_the_decision_names_it(alice, olga, rita,
                                                                             start):
    proposal = approved_in_principle(alice, olga, start)
    first = freeze(olga, start + 20 * H, start + 30 * H)
    with at(start + 25 * H):
        incident = sev1(rita, rita)
    for moment in (start + 24 * H, start + 24 * H + 60 * US, start + 26 * H):
        services.decide_due(moment)
    held = Event.objects.for_subject(proposal).filter(kind="decision_held")
    assert [(e.data["freeze_kind"], e.data["freeze_id"]) for e in held] == [
        ("manual", first.pk), ("incident", incident.pk)]  # once each, however often the sweep runs
    assert f"Freeze #{first.pk}: Network upgrade to v2" in held[0].note
    resolve(incident, rita, start + 40 * H)
    assert services.decide(proposal.pk, start + 40 * H) == State.APPROVED
    decision = Event.objects.for_subject(proposal).get(kind="transition", to_state=State.APPROVED)
    assert decision.data["held_by"] == [e.data["freeze"] for e in held]
    assert f"The decision waited for Freeze #{first.pk}" in decision.note


def test_a_freeze_cannot_start_in_the_past(olga, alice, start):
    with at(start + 90 * US):
        form = FreezeForm({"title": "Upgrade freeze", "reason": "Validators upgrade that day.",
                           "starts_at": (start - 2 * H).strftime("%Y-%m-%dT%H:%M"),
                           "categories": ["ops"]})
        assert not form.is_valid()
        assert "That time has passed" in str(form.errors["starts_at"])
        # Declared without the form, an earlier start is clamped to the moment of declaring.
        proposal = approved_in_principle(alice, olga, start - 30 * H)
        services.decide(proposal.pk, start - 6 * H)  # approved before the freeze was declared
        f = services.declare_freeze(olga, {
            "title": "Upgrade freeze", "reason": "Validators upgrade that day.",
            "starts_at": start - 10 * H, "ends_at": None, "categories": ["ops"], "nodes": []})
    assert f.starts_at == start + 90 * US
    declared = Event.objects.for_subject(f).get(kind="freeze_declared")
    assert declared.data["requested_starts_at"] == (start - 10 * H).isoformat()
    assert freezes.holding(proposal, start - 6 * H) == []
