from django import forms
from django.conf import settings

from fleet.models import AlertGroup, Node
from qpgov import roles
from qpgov.text import SingleLineTextMixin

from .models import Incident, Notice


def within_markdown_limit(text: str) -> str:
    """The same limit on incident Markdown as on a proposal's (settings.QPGOV_MAX_MARKDOWN_CHARS)."""
    limit = settings.QPGOV_MAX_MARKDOWN_CHARS
    if len(text) > limit:
        raise forms.ValidationError(f"Keep this under {limit:,} characters.")
    return text


class NodeChoiceField(forms.ModelMultipleChoiceField):
    """Node checkboxes. An id too large for any database column is an invalid choice, not a 500
    (Django's own field hands it to the database, and SQLite raises OverflowError)."""

    def clean(self, value):
        for pk in value if isinstance(value, (list, tuple)) else ():
            text = str(pk).strip()
            # isdecimal(), not isdigit(): "²" is a digit that int() refuses.
            if text.lstrip("+-").isdecimal() and not -(2**63) <= int(text) < 2**63:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"],
                                            code="invalid_pk_value", params={"pk": pk})
        return super().clean(value)


def responders():
    return roles.holders(roles.RESPONDERS).order_by("username")


class DeclareForm(SingleLineTextMixin, forms.Form):
    title = forms.CharField(max_length=200)
    # No default: SEV1 freezes the change pipeline and pages everyone, so it is a choice.
    severity = forms.ChoiceField(choices=[("", "Choose the severity…"), *Incident.SEVERITIES])
    nodes = NodeChoiceField(
        queryset=Node.objects.all(), widget=forms.CheckboxSelectMultiple,
        help_text="Every node selected here is frozen, its logs preserved and its state "
                  "snapshotted.",
    )
    detected_at = forms.DateTimeField(
        required=False, help_text="UTC, e.g. 2026-11-27 03:12. Blank means now.",
    )
    commander = forms.ModelChoiceField(queryset=responders())
    summary = forms.CharField(widget=forms.Textarea, required=False,
                              help_text="What is known so far. Markdown.")
    drill = forms.BooleanField(required=False, label="This is a drill",
                               help_text="A rehearsal of the runbook: never shown on the public status page.")
    # Set when declared from an alert group's page: the group is attached to the incident.
    alert_group = forms.ModelChoiceField(queryset=AlertGroup.objects.all(), required=False,
                                         widget=forms.HiddenInput)

    def clean_summary(self):
        return within_markdown_limit(self.cleaned_data["summary"])


class SkipForm(SingleLineTextMixin, forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Why this step is skipped. It goes on the timeline.")

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class ResolveForm(SingleLineTextMixin, forms.Form):
    resolution = forms.CharField(widget=forms.Textarea, help_text="How it was resolved.")
    unfreeze = NodeChoiceField(
        queryset=Node.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Tick only the nodes you confirm are safe to start again. Unticked nodes "
                  "stay stopped.",
    )
    confirm = forms.BooleanField(label="I am the commander and I confirm the incident is "
                                       "resolved.")

    def __init__(self, *args, incident, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unfreeze"].queryset = incident.nodes.filter(frozen=True)

    def clean_resolution(self):
        return within_markdown_limit(self.cleaned_data["resolution"])


class DraftVersionForm(SingleLineTextMixin, forms.Form):
    # The draft_version the page was loaded with: a save over newer text is refused.
    base_version = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)


class PostmortemForm(DraftVersionForm):
    title = forms.CharField(max_length=200, help_text="Public.")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30}), max_length=100_000,
        help_text="Markdown, public once published. Keep every required ## section.",
    )
    internal_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20_000,
        help_text="Hosts, evidence, names: for responders and the council only. Never published.",
    )


class AmendmentForm(DraftVersionForm):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}), max_length=20_000,
                           help_text="Markdown, public once published: what was wrong, what is right.")
    internal_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                                     max_length=20_000, help_text="Never published.")


class PublishForm(SingleLineTextMixin, forms.Form):
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000,
        help_text="Only if the checks found something you judge acceptable: why. "
                  "It goes on the timeline.",
    )


class SendBackForm(SingleLineTextMixin, forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000,
                           help_text="What the authors should change. It goes on the timeline.")


class NoticeForm(SingleLineTextMixin, forms.Form):
    status = forms.ChoiceField(choices=Notice.STATUSES)
    impact = forms.ChoiceField(choices=Notice.IMPACTS,
                               help_text="What users feel: none, minor, major or critical.")
    title = forms.CharField(max_length=200, help_text="The incident's public name, e.g. "
                            "\"Delayed block production\". No node, host or person names.")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=2000,
                           help_text="A few plain sentences: what users see and what happens next. "
                                     "Public once the commander publishes it.")
