"""Property-based input: whatever is posted, no 500 and no half-written rows."""

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changes.models import Proposal, Vote
from qpgov.models import Event
from tests.factories import form_data, in_review

FIELDS = list(form_data().keys())

# Text that stresses parsers: control characters, NUL, RTL marks, long lines.
nasty_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50).map(lambda s: s * 40),
    st.sampled_from(["\x00", "\u202eevil\u202c", "n/a", "", " " * 1000, "<script>x</script>",
                     "9" * 400, "2026-13-45T99:99", "-1", "1e309", "ـــــ\u200f"]),
)

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(field=st.sampled_from(FIELDS), value=nasty_text)
def test_the_proposal_form_never_errors_or_half_writes(client, alice, field, value):
    client.force_login(alice)
    before = (Proposal.objects.count(), Event.objects.count())
    data = dict(form_data(), **{field: value})
    response = client.post(reverse("changes:create"), data)
    assert response.status_code in (200, 302)
    after = (Proposal.objects.count(), Event.objects.count())
    if response.status_code == 200:
        assert after == before  # refused: nothing written
    else:
        assert after == (before[0] + 1, before[1] + 1)  # one draft, one event


@FUZZ
@given(choice=nasty_text, reason=nasty_text, revision_hash=nasty_text)
def test_the_vote_form_never_errors_or_half_writes(client, alice, olga, oscar, choice, reason,
                                                   revision_hash):
    proposal = Proposal.objects.first() or in_review(alice)
    client.force_login(olga)
    votes, events = Vote.objects.count(), Event.objects.count()
    response = client.post(reverse("changes:vote", args=[proposal.pk]),
                           {"choice": choice, "reason": reason, "revision_hash": revision_hash})
    # 400: the vote form's problems, shown on the proposal page with what was typed;
    # 409: a refusal (stale revision, window closed).
    assert response.status_code in (302, 400, 409)
    assert Vote.objects.count() == votes and Event.objects.count() == events


@pytest.mark.parametrize("size", [600 * 1024])
def test_an_oversized_body_is_refused_cleanly(client, alice, size):
    client.force_login(alice)
    response = client.post(reverse("changes:create"), dict(form_data(), change="x" * size))
    assert response.status_code == 400
    assert not Proposal.objects.exists()
