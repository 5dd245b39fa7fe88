"""Proposal forms. Validation says exactly what is missing, field by field."""

import re

from django import forms
from django.conf import settings
from django.utils import timezone

from qpgov import compliance
from qpgov.text import SingleLineTextMixin

from . import policy
from .models import Proposal, Vote

# Text that stands in for content without being content.
PLACEHOLDERS = {
    "n/a", "na", "none", "nil", "tbd", "tba", "todo", "to do", "revert", "rollback",
    "roll back", "undo", "same", "see above", "as above", "later", "-", "--", ".", "...", "?",
    "x", "xx", "xxx", "lorem ipsum", "test", "asdf", "nothing", "no", "yes", "ok",
}
_WORD = re.compile(r"\w+", re.UNICODE)


def substantive(text: str, min_words: int, what: str) -> str:
    """Return stripped text, or raise a ValidationError if it is empty or a placeholder."""
    text = (text or "").strip()
    if "\x00" in text:
        raise forms.ValidationError("Remove the NUL character from this text.")
    if not text:
        raise forms.ValidationError(f"Write {what}.")
    lowered = " ".join(text.lower().split()).strip(" .!")
    if lowered in PLACEHOLDERS or lowered.startswith(("lorem ipsum", "tbd", "n/a")):
        raise forms.ValidationError(f'"{text[:40]}" is a placeholder. Write {what}.')
    words = _WORD.findall(text)
    if len(words) < min_words:
        raise forms.ValidationError(
            f"Too short to review: write {what} in at least {min_words} words."
        )
    return text


# field -> (minimum words, what the message asks for)
REQUIRED_TEXT = {
    "title": (3, "a title of at least three words"),
    "summary": (8, "a summary of what changes and where"),
    "motivation": (8, "why this change is needed"),
    "change": (8, "the change itself: exact configuration, commands or procedure"),
    "components": (1, "the affected components"),
    "risk_assessment": (6, "what could go wrong and how likely it is"),
    "rollback_trigger": (5, "the observable condition that triggers a rollback"),
    "rollback_steps": (8, "the rollback steps, in order"),
    "rollback_verification": (6, "how to verify that the rollback worked"),
}


class ProposalForm(SingleLineTextMixin, forms.ModelForm):
    class Meta:
        model = Proposal
        fields = [
            "category", "title", "summary", "motivation", "change", "components",
            "environments", "risk", "risk_assessment", "planned_start", "planned_end",
            "rollback_trigger", "rollback_steps", "rollback_verification", "rollback_minutes",
            "review_hours",
        ]
        widgets = {
            "planned_start": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "planned_end": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "summary": forms.Textarea(attrs={"rows": 3}),
            "change": forms.Textarea(attrs={"rows": 10}),
        }
        labels = {
            "change": "The change (Markdown)",
            "rollback_minutes": "Rollback duration (minutes)",
            "review_hours": "Review deadline (hours)",
        }

    def __init__(self, *args, amending=False, **kwargs):
        super().__init__(*args, **kwargs)
        # The category decides who approves; an amendment cannot move a
        # proposal to a different set of approvers.
        if amending:
            del self.fields["category"]
        for name in ("planned_start", "planned_end"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    ROLLBACK_FIELDS = ("rollback_trigger", "rollback_steps", "rollback_verification", "rollback_minutes")

    def fieldsets(self):
        """(legend, bound fields) pairs for the template: the proposal, then its rollback plan."""
        main = [f for f in self if f.name not in self.ROLLBACK_FIELDS]
        rollback = [f for f in self if f.name in self.ROLLBACK_FIELDS]
        return [("The proposal", main), ("Rollback plan", rollback)]

    def clean(self):
        data = super().clean()
        for name, (min_words, what) in REQUIRED_TEXT.items():
            if name in self.errors or name not in self.fields:
                continue
            try:
                data[name] = substantive(data.get(name, ""), min_words, what)
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        limit = settings.QPGOV_MAX_MARKDOWN_CHARS
        for name in ("change", "summary", "motivation", "risk_assessment", "rollback_steps"):
            if len(data.get(name) or "") > limit:
                self.add_error(name, f"Keep this under {limit:,} characters.")
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", "The window must end after it starts.")
        minutes = data.get("rollback_minutes")
        if minutes is not None and not 1 <= minutes <= 7 * 24 * 60:
            self.add_error("rollback_minutes", "Give a duration between 1 minute and 7 days.")
        hours = data.get("review_hours")
        if hours is not None and not policy.MIN_REVIEW_HOURS <= hours <= policy.MAX_REVIEW_HOURS:
            self.add_error(
                "review_hours",
                f"The review window is {policy.MIN_REVIEW_HOURS} to {policy.MAX_REVIEW_HOURS} hours.",
            )
        if data.get("category") == policy.PROTOCOL:
            self.add_error("category", policy.FROZEN_MESSAGE)
        return data


class AmendForm(ProposalForm):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What changed, and why",
        help_text="Reviewers see this note; their earlier votes are set aside.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, amending=True, **kwargs)

    def clean_note(self):
        return substantive(self.cleaned_data.get("note", ""), 3, "what changed in this revision")


class VoteForm(SingleLineTextMixin, forms.Form):
    choice = forms.ChoiceField(choices=Vote.CHOICES, widget=forms.RadioSelect)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    revision_hash = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean(self):
        data = super().clean()
        if data.get("choice") == Vote.REJECT:
            try:
                data["reason"] = substantive(data.get("reason", ""), 3, "the reason for rejecting")
            except forms.ValidationError as exc:
                self.add_error("reason", exc)
        elif "\x00" in (data.get("reason") or ""):
            self.add_error("reason", "Remove the NUL character from this text.")
        return data


class WithdrawForm(SingleLineTextMixin, forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ImplementationForm(SingleLineTextMixin, forms.Form):
    IMPLEMENTED = "implemented"
    ROLLED_BACK = "rolled_back"
    outcome = forms.ChoiceField(
        choices=[(IMPLEMENTED, "Implemented and verified"),
                 (ROLLED_BACK, "Implementation failed; rollback carried out")],
        widget=forms.RadioSelect,
    )
    performed_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="When the work was done (UTC).",
    )
    verification_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How you verified the result (implementation or rollback).",
    )
    rollback_notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when rolled back: what failed and what the rollback did.",
    )
    public_changelog = forms.CharField(
        max_length=200, label="Public change-log line",
        help_text="One line for the public change log. Technical facts only.",
    )

    def clean(self):
        data = super().clean()
        for name, (words, what) in {
            "verification_notes": (4, "how the result was verified"),
            "public_changelog": (4, "a one-line public change-log entry"),
        }.items():
            if name in data:
                try:
                    data[name] = substantive(data[name], words, what)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        performed = data.get("performed_at")
        if performed and performed > timezone.now():
            self.add_error("performed_at", "That time is in the future.")
        line = data.get("public_changelog") or ""
        if "\n" in line:
            self.add_error("public_changelog", "Keep the change-log entry to one line.")
        for finding in compliance.check(line):
            # The public change log is technical communication only (playbook section 7).
            self.add_error(
                "public_changelog",
                f'Not for the public log ({finding.category}): "{finding.match}". '
                "State the technical change only.",
            )
        if data.get("outcome") == self.ROLLED_BACK:
            try:
                data["rollback_notes"] = substantive(
                    data.get("rollback_notes", ""), 5, "what failed and what the rollback did"
                )
            except forms.ValidationError as exc:
                self.add_error("rollback_notes", exc)
        return data
