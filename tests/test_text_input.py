"""Single-line fields refuse control characters and line breaks, with a field error."""

import inspect

import pytest
from django import forms
from django.urls import reverse

from changes import forms as change_forms
from changes.models import Proposal
from fleet import forms as fleet_forms
from incidents import forms as incident_forms
from incidents.models import Incident
from qpgov.text import SingleLineTextMixin, is_single_line, one_line, refuse_control_characters
from tests.factories import form_data

# Every character class the single-line rule refuses: C0 (TAB, LF, VT, FF, CR, ESC), DEL,
# C1 (NEL), and the Unicode line and paragraph separators.
REFUSED = ["\t", "\n", "\x0b", "\x0c", "\r", "\r\n", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
           "\x00"]


def _user_input_forms():
    for module in (change_forms, incident_forms, fleet_forms):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, forms.BaseForm) and cls.__module__ == module.__name__:
                yield cls


def test_every_form_of_user_input_gets_the_single_line_rule():
    found = list(_user_input_forms())
    assert len(found) >= 10
    missing = [cls.__name__ for cls in found if not issubclass(cls, SingleLineTextMixin)]
    assert missing == []


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c[0]):04X}" for c in REFUSED])
def test_the_validator_refuses_each_control_character_and_line_separator(char):
    with pytest.raises(forms.ValidationError) as exc:
        refuse_control_characters(f"Raise peers{char}Bcc: everyone@example.com")
    assert exc.value.code == "control_character"


def test_the_validator_keeps_ordinary_unicode():
    refuse_control_characters("Raise the peer limit — Überprüfung ✓ 80→100 ¿ok?")
    assert one_line("a\r\nBcc: b\u2028c") == "a  Bcc: b c"


@pytest.mark.parametrize("char", ["\r\n", "\x0b", "\u2028"])
def test_a_proposal_title_with_a_line_break_is_refused_with_a_field_error(client, alice, char):
    client.force_login(alice)
    title = f"Raise p2p peers{char}Bcc: everyone@example.com"
    response = client.post(reverse("changes:create"), form_data(title=title))
    assert response.status_code == 200
    assert "title" in response.context["form"].errors
    assert "U+" in str(response.context["form"].errors["title"])
    assert not Proposal.objects.exists()


def test_markdown_fields_keep_their_newlines_and_tabs(client, alice):
    client.force_login(alice)
    change = "Set these:\n\n\tmax_peers = 80\r\n\tmin_peers = 10\n\nthen restart the node service."
    response = client.post(reverse("changes:create"), form_data(change=change))
    assert response.status_code == 302
    assert "\tmax_peers" in Proposal.objects.get().change


def test_the_public_changelog_line_refuses_a_vertical_tab():
    form = change_forms.ImplementationForm(data={
        "outcome": "implemented", "performed_at": "2020-01-01 10:00",
        "verification_notes": "Checked the peer count on every node.",
        "public_changelog": "Raised the rpc\x0b peer limit to 80.",
    })
    assert not form.is_valid()
    assert "public_changelog" in form.errors


def test_an_incident_title_with_a_line_break_is_refused(client, rita, demo_node, published):
    client.force_login(rita)
    response = client.post(reverse("incidents:declare"), {
        "title": "Missed blocks\r\nBcc: everyone@example.com", "severity": "SEV2",
        "nodes": [demo_node.pk], "commander": rita.pk, "summary": "",
    })
    assert response.status_code == 200
    assert "title" in response.context["form"].errors
    assert not Incident.objects.exists()


def test_a_postmortem_title_refuses_a_control_character_but_the_body_keeps_newlines():
    form = incident_forms.PostmortemForm(data={"title": "Stalled\x0cblocks", "body": "a\n\tb"})
    assert not form.is_valid() and list(form.errors) == ["title"]


def test_only_single_line_char_fields_get_the_rule():
    form = change_forms.AmendForm()
    single = {name for name, field in form.fields.items() if is_single_line(field)}
    assert {"title", "components"} <= single
    assert "change" not in single and "note" not in single
    for name, field in form.fields.items():
        assert (refuse_control_characters in field.validators) == (name in single)
