"""Playbook section 1: Ops changes attest they cannot touch determinism; consensus-sensitive
config keys and feature additions go to the Governance Council."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from changes import policy, services
from changes.forms import ProposalForm, VoteForm
from changes.models import Proposal, State, Vote
from qpgov import roles
from qpgov.http import Conflict
from qpgov.models import Event
from tests.factories import draft, form_data, in_review, vote

H = timedelta(hours=1)


def test_an_ops_proposal_without_a_determinism_attestation_is_refused():
    form = ProposalForm(form_data(determinism_attestation=""))
    assert not form.is_valid()
    assert "block production or state transitions" in str(form.errors["determinism_attestation"])
    form = ProposalForm(form_data(determinism_attestation="n/a"))
    assert "placeholder" in str(form.errors["determinism_attestation"])


def test_a_governance_proposal_needs_no_attestation():
    assert ProposalForm(form_data(category="governance", determinism_attestation="")).is_valid()


def test_an_approval_without_reconfirming_the_attestation_is_refused(client, alice, olga):
    proposal = in_review(alice)
    client.force_login(olga)
    response = client.post(reverse("changes:vote", args=[proposal.pk]), {
        "choice": "approve", "reason": "", "revision_hash": proposal.content_hash}, follow=True)
    assert "re-confirm its determinism attestation" in response.content.decode()
    assert not Vote.objects.exists()
    with pytest.raises(Conflict, match="re-confirm its determinism attestation"):
        services.cast_vote(proposal.pk, olga, "approve", "", proposal.content_hash)
    assert not Vote.objects.exists()


def test_a_reconfirmed_approval_is_recorded_as_such_and_a_rejection_needs_no_box(alice, olga,
                                                                                 oscar):
    proposal = in_review(alice)
    vote(proposal, olga)
    assert Vote.objects.get(voter=olga).determinism_confirmed
    event = Event.objects.for_subject(proposal).get(kind="vote")
    assert event.data["determinism_confirmed"] is True
    services.cast_vote(proposal.pk, oscar, "reject", "Not during the upgrade week, please.",
                       proposal.content_hash)
    assert not Vote.objects.get(voter=oscar).determinism_confirmed


def test_the_vote_form_asks_for_the_box_only_when_approving_an_ops_change():
    data = {"choice": "approve", "reason": "", "revision_hash": "a" * 64}
    assert not VoteForm(data, attestation_required=True).is_valid()
    assert VoteForm({**data, "confirm_determinism": "on"}, attestation_required=True).is_valid()
    assert VoteForm(data, attestation_required=False).is_valid()


@pytest.mark.parametrize("keys,sensitive", [
    ("p2p.max_peers", []),
    ("consensus.timeout_commit", ["consensus.timeout_commit"]),
    ("p2p.max_peers, genesis.chain_id", ["genesis.chain_id"]),
    ("block.max_gas", ["block.max_gas"]),
    ("block.max_gas_extra", []),  # exact keys are exact
    ("Consensus.Timeout_Propose", ["consensus.timeout_propose"]),
])
def test_the_consensus_sensitive_list_matches_keys(keys, sensitive):
    assert policy.sensitive_keys(keys) == sensitive


def test_a_consensus_sensitive_key_routes_to_the_council_with_the_reason_shown(
        client, alice, olga, carol, chris):
    proposal = in_review(alice, config_keys="consensus.timeout_commit, p2p.max_peers")
    rules = proposal.policy_rules
    assert rules.approver_role == roles.COUNCIL
    assert "consensus-sensitive config consensus.timeout_commit" in rules.reason
    assert proposal.policy_in_force["consensus_keys_version"] == policy.CONSENSUS_KEYS_VERSION
    with pytest.raises(PermissionDenied):
        vote(proposal, olga)  # Core Ops no longer decide it
    vote(proposal, carol)  # the Council does, re-confirming the attestation
    assert Vote.objects.get(voter=carol).determinism_confirmed
    client.force_login(carol)
    html = client.get(proposal.get_absolute_url()).content.decode()
    assert "Routed to the Governance Council" in html and "consensus.timeout_commit" in html


def test_a_proposal_that_adds_a_feature_routes_to_the_council(alice, carol):
    proposal = in_review(alice, adds_feature=True)
    assert proposal.policy_rules.approver_role == roles.COUNCIL
    assert "adds a feature" in proposal.policy_rules.reason


def test_the_routing_refuses_submission_when_the_council_cannot_decide(alice, olga):
    with pytest.raises(Conflict, match="Governance Council"):
        in_review(alice, config_keys="genesis.initial_height")


def test_an_approver_reclassifies_it_as_a_feature_restarting_the_window_on_the_log(
        alice, olga, oscar, carol):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        proposal = in_review(alice)
        vote(proposal, oscar)
    with time_machine.travel(start + 5 * H, tick=False):
        services.reclassify(proposal.pk, olga, True, "It adds a new RPC method for clients.",
                            proposal.content_hash)
    proposal.refresh_from_db()
    assert proposal.adds_feature and proposal.revision == 2
    assert proposal.policy_rules.approver_role == roles.COUNCIL
    assert proposal.window_opens_at == start + 5 * H
    assert proposal.earliest_decision_at == start + 29 * H
    event = Event.objects.for_subject(proposal).get(kind="transition", from_state=State.IN_REVIEW,
                                                    to_state=State.IN_REVIEW)
    assert "It adds a new RPC method" in event.note
    assert event.data["previous_approver_role"] == roles.CORE_OPS
    # oscar's approval was on revision 1: it does not carry over to the Council's review.
    assert services.tally(proposal).approvals == 0
    with pytest.raises(PermissionDenied):  # olga is no longer an approver of it
        services.reclassify(proposal.pk, olga, False, "Back to Core Ops, on second thought.",
                            proposal.content_hash)


def test_reclassification_needs_a_reason_and_an_approver(client, alice, olga, eve):
    proposal = in_review(alice)
    client.force_login(olga)
    client.post(reverse("changes:reclassify", args=[proposal.pk]), {"adds_feature": "yes",
                                                                    "reason": ""})
    assert not Proposal.objects.get(pk=proposal.pk).adds_feature
    with pytest.raises(PermissionDenied):
        services.reclassify(proposal.pk, alice, True, "The proposer cannot reclassify it.",
                            proposal.content_hash)


def test_a_draft_shows_where_it_will_be_routed(client, alice):
    proposal = draft(alice, config_keys="mempool.max_tx_bytes")
    client.force_login(alice)
    html = client.get(proposal.get_absolute_url()).content.decode()
    assert "Routed to the Governance Council" in html


def test_awaiting_my_vote_follows_the_routing_not_the_category(client, alice, olga, carol):
    routed = in_review(alice, title="Shorten the consensus commit timeout",
                       config_keys="consensus.timeout_commit")
    url = reverse("changes:list") + "?awaiting=1"
    client.force_login(carol)
    assert routed.title in client.get(url).content.decode()
    client.force_login(olga)
    assert routed.title not in client.get(url).content.decode()


def test_the_service_refuses_to_submit_an_ops_draft_without_an_attestation(alice, olga):
    # A draft made without the form (a script, the shell) meets the same rule at submission.
    proposal = draft(alice, determinism_attestation="")
    with pytest.raises(Conflict, match="Determinism attestation: Write why this change cannot"):
        services.submit(proposal.pk, alice)
    assert Proposal.objects.get(pk=proposal.pk).state == State.DRAFT
    proposal = draft(alice, determinism_attestation="n/a")
    with pytest.raises(Conflict, match="placeholder"):
        services.submit(proposal.pk, alice)


def test_an_amendment_cannot_drop_the_attestation(alice, olga):
    proposal = in_review(alice)
    with pytest.raises(Conflict, match="Determinism attestation"):
        services.amend(proposal.pk, alice, {"determinism_attestation": ""}, "Dropped the text.")
    proposal.refresh_from_db()
    assert proposal.revision == 1 and proposal.determinism_attestation


def test_a_reclassification_from_a_page_loaded_before_an_amendment_is_refused(client, alice,
                                                                             olga):
    proposal = in_review(alice)
    client.force_login(olga)
    page = client.get(proposal.get_absolute_url()).content.decode()
    assert f'name="revision_hash" value="{proposal.content_hash}"' in page
    services.amend(proposal.pk, alice, {"summary": "Raise max_peers from 50 to 70 on the three "
                                                   "public rpc nodes in mainnet."},
                   "Seventy peers, not eighty.")
    response = client.post(reverse("changes:reclassify", args=[proposal.pk]), {
        "adds_feature": "yes", "reason": "It adds a new RPC method for clients.",
        "revision_hash": proposal.content_hash})
    assert response.status_code in (303, 409)
    refreshed = Proposal.objects.get(pk=proposal.pk)
    assert not refreshed.adds_feature and refreshed.revision == 2
    with pytest.raises(Conflict, match="amended after you loaded it"):
        services.reclassify(proposal.pk, olga, True, "It adds a new RPC method for clients.",
                            proposal.content_hash)


def test_a_consensus_key_named_only_in_the_change_text_routes_to_the_council(alice, olga, carol):
    proposal = in_review(alice, config_keys="",
                         change="Set `consensus.timeout_commit = 3s` in config.toml on every "
                                "validator and restart them one by one.")
    rules = proposal.policy_rules
    assert rules.approver_role == roles.COUNCIL
    assert "consensus.timeout_commit (named in its text)" in rules.reason
    with pytest.raises(PermissionDenied):
        vote(proposal, olga)


def test_the_text_scan_finds_only_listed_keys():
    assert policy.sensitive_keys_in_text("Raise p2p.max_peers; see /etc/qp/node.toml.") == []
    assert policy.sensitive_keys_in_text("Then set Block.Max_Gas to 10M.") == ["block.max_gas"]
