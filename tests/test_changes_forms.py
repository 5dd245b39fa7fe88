import pytest

from changes.forms import AmendForm, ImplementationForm, ProposalForm, VoteForm
from tests.factories import form_data


def errors_for(**overrides):
    form = ProposalForm(form_data(**overrides))
    form.is_valid()
    return form.errors


def test_a_complete_proposal_is_valid():
    form = ProposalForm(form_data())
    assert form.is_valid(), form.errors


@pytest.mark.parametrize("field", [
    "title", "summary", "motivation", "change", "components", "risk_assessment",
    "rollback_trigger", "rollback_steps", "rollback_verification",
])
def test_every_written_field_is_required(field):
    assert field in errors_for(**{field: "   "})


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "tbd", "TBD.", "revert", "rollback", "-", "see above"])
def test_it_refuses_placeholder_rollback_steps(placeholder):
    errors = errors_for(rollback_steps=placeholder)
    assert "placeholder" in errors["rollback_steps"][0]


def test_it_refuses_a_rollback_plan_of_a_few_words():
    errors = errors_for(rollback_steps="just revert it")
    assert "Too short to review" in errors["rollback_steps"][0]


def test_protocol_changes_are_refused_with_the_frozen_message():
    errors = errors_for(category="protocol")
    assert errors["category"] == ["Protocol changes are frozen during the mainnet phase."]


def test_the_implementation_window_must_end_after_it_starts(settings):
    data = form_data()
    data["planned_end"], data["planned_start"] = data["planned_start"], data["planned_end"]
    form = ProposalForm(data)
    assert not form.is_valid()
    assert "must end after it starts" in form.errors["planned_end"][0]


@pytest.mark.parametrize("hours", [0, 23, 73, 1000])
def test_the_review_window_stays_between_24_and_72_hours(hours):
    assert "review_hours" in errors_for(review_hours=hours)


def test_nul_bytes_are_refused_with_a_message():
    errors = errors_for(summary="Raise max peers on all rpc nodes\x00 now please")
    assert "Null characters are not allowed" in str(errors["summary"])


def test_oversized_markdown_is_refused(settings):
    settings.QPGOV_MAX_MARKDOWN_CHARS = 1000
    assert "under 1,000 characters" in errors_for(change="word " * 400)["change"][0]


def test_an_amendment_needs_a_note_and_cannot_change_the_category():
    form = AmendForm(form_data(note="", category="governance"))
    assert not form.is_valid()
    assert "note" in form.errors
    assert "category" not in form.fields


def test_a_rejection_needs_a_reason():
    form = VoteForm({"choice": "reject", "reason": "", "revision_hash": "a" * 64})
    assert not form.is_valid()
    assert "reason" in form.errors
    assert VoteForm({"choice": "approve", "reason": "", "revision_hash": "a" * 64}).is_valid()


def test_a_rollback_record_needs_rollback_notes_and_a_one_line_entry():
    form = ImplementationForm({
        "outcome": "rolled_back", "performed_at": "2026-01-01T10:00",
        "verification_notes": "Peers back to fifty on every node.",
        "rollback_notes": "", "public_changelog": "Peer limit change\nrolled back",
    })
    assert not form.is_valid()
    assert "rollback_notes" in form.errors
    assert "public_changelog" in form.errors
