"""Proposal forms. Validation says exactly what is missing, field by field."""

import re

from django import forms
from django.conf import settings
from django.utils import timezone

from fleet.models import Node
from incidents.models import Incident
from qpgov import compliance, sensitive
from qpgov.text import SingleLineTextMixin

from . import conflicts, policy, services
from .content import ATTESTATION, EMERGENCY_RECORD, REQUIRED_TEXT, substantive
from .models import Freeze, Proposal, Vote

_CONFIG_KEY = re.compile(r"^[a-z0-9_][a-z0-9_.\-]*$")


class ProposalForm(SingleLineTextMixin, forms.ModelForm):
    class Meta:
        model = Proposal
        fields = [
            "category", "title", "summary", "motivation", "change", "components",
            "environments", "risk", "risk_assessment", "planned_start", "planned_end",
            "rollback_trigger", "rollback_steps", "rollback_verification", "rollback_minutes",
            "review_hours", "nodes", "config_keys", "determinism_attestation", "adds_feature",
            "emergency", "incident", "emergency_justification", "on_call",
        ]
        widgets = {
            "planned_start": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "planned_end": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "summary": forms.Textarea(attrs={"rows": 3}),
            "change": forms.Textarea(attrs={"rows": 10}),
            "nodes": forms.CheckboxSelectMultiple,
            "determinism_attestation": forms.Textarea(attrs={"rows": 3}),
            "emergency_justification": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {
            "change": "The change (Markdown)",
            "rollback_minutes": "Rollback duration (minutes)",
            "review_hours": "Review deadline (hours)",
            "config_keys": "Config keys changed",
            "determinism_attestation": "Determinism attestation",
            "adds_feature": "This change adds a feature",
            "emergency": "Emergency change (an incident is open and the fix cannot wait)",
            "incident": "The open incident it responds to",
            "emergency_justification": "Why it cannot wait for a normal review",
            "on_call": "Who is on call",
        }

    def __init__(self, *args, amending=False, **kwargs):
        super().__init__(*args, **kwargs)
        # The category decides who approves; an amendment cannot move a
        # proposal to a different set of approvers.
        if amending:
            # The emergency is fixed at submission too.
            for name in ("category", "emergency", "incident", "emergency_justification", "on_call"):
                del self.fields[name]
        else:
            self.fields["incident"].queryset = Incident.objects.filter(
                state__in=conflicts.OPEN_INCIDENT_STATES).order_by("-declared_at")
        self.fields["nodes"].queryset = Node.objects.order_by("environment", "name")
        self.fields["determinism_attestation"].help_text = (
            "Required for Ops changes: why this change cannot affect block production or state "
            "transitions, naming the configs and components it touches. Every approver "
            "re-confirms it."
        )
        self.fields["config_keys"].help_text = (
            "Comma separated, e.g. p2p.max_peers. A consensus-sensitive key (such as "
            "consensus.* or genesis.*) sends the change to the Governance Council."
        )
        for name in ("planned_start", "planned_end"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    ROLLBACK_FIELDS = ("rollback_trigger", "rollback_steps", "rollback_verification", "rollback_minutes")
    SCOPE_FIELDS = ("nodes", "config_keys", "determinism_attestation", "adds_feature")
    EMERGENCY_FIELDS = ("emergency", "incident", "emergency_justification", "on_call")

    def fieldsets(self):
        """(legend, bound fields) pairs for the template: the proposal, what it touches, the
        emergency, then its rollback plan."""
        grouped = (*self.ROLLBACK_FIELDS, *self.SCOPE_FIELDS, *self.EMERGENCY_FIELDS)
        main = [f for f in self if f.name not in grouped]
        sets = [("The proposal", main),
                ("What it touches, and determinism", [f for f in self if f.name in self.SCOPE_FIELDS])]
        emergency = [f for f in self if f.name in self.EMERGENCY_FIELDS]
        if emergency:
            sets.append(("Emergency change (Ops only, while an incident is open)", emergency))
        sets.append(("Rollback plan", [f for f in self if f.name in self.ROLLBACK_FIELDS]))
        return sets

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
        self._clean_scope(data)
        self._clean_emergency(data)
        return data

    def _category(self, data):
        # A refused category (Protocol) is gone from `data`; what was asked for still counts.
        if "category" in self.fields:
            return data.get("category") or self.data.get("category")
        return self.instance.category

    def _clean_scope(self, data):
        keys = data.get("config_keys") or ""
        bad = [k for k in policy.parse_keys(keys) if not _CONFIG_KEY.match(k)]
        if bad:
            self.add_error("config_keys", f"Not a config key: {', '.join(bad)}. Use names like "
                                          "p2p.max_peers, comma separated.")
        else:
            data["config_keys"] = ", ".join(policy.parse_keys(keys))
        name, min_words, what = ATTESTATION
        if self._category(data) == policy.OPS and name in self.fields:
            try:
                data[name] = substantive(data.get(name, ""), min_words, what)
            except forms.ValidationError as exc:
                self.add_error(name, exc)

    def _clean_emergency(self, data):
        if "emergency" not in self.fields or not data.get("emergency"):
            return
        category = self._category(data)
        if category == policy.PROTOCOL:
            self.add_error("emergency", "A Protocol change is never an emergency change.")
        elif category == policy.GOVERNANCE:
            self.add_error("emergency", "A Governance change cannot be an emergency change.")
        elif reasons := policy.council_reasons(
                category, data.get("config_keys", ""), data.get("adds_feature", False),
                "\n".join(data.get(name) or "" for name in ("title", "summary", "change"))):
            self.add_error("emergency", "An emergency change is approved by Core Ops alone, but "
                                        "this one needs the Governance Council: "
                                        + "; ".join(reasons) + ".")
        incident = data.get("incident")
        if incident is None and "incident" not in self.errors:
            self.add_error("incident", "Link the open incident this emergency change responds to.")
        elif incident is not None:
            nodes = data.get("nodes") or []
            if not set(n.pk for n in nodes) & set(incident.nodes.values_list("pk", flat=True)):
                self.add_error("nodes", f"Name the nodes of INC-{incident.pk} this emergency "
                                        "change acts on.")
        for name, (words, what) in EMERGENCY_RECORD.items():
            try:
                data[name] = substantive(data.get(name, ""), words, what)
            except forms.ValidationError as exc:
                self.add_error(name, exc)


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
    confirm_determinism = forms.BooleanField(
        required=False,
        label="I re-confirm the determinism attestation: this change cannot affect block "
              "production or state transitions.",
    )

    def __init__(self, *args, attestation_required=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.attestation_required = attestation_required

    def clean(self):
        data = super().clean()
        if (self.attestation_required and data.get("choice") == Vote.APPROVE
                and not data.get("confirm_determinism")):
            self.add_error("confirm_determinism", "To approve an Ops change, re-confirm its "
                                                  "determinism attestation.")
        if data.get("choice") == Vote.REJECT:
            try:
                data["reason"] = substantive(data.get("reason", ""), 3, "the reason for rejecting")
            except forms.ValidationError as exc:
                self.add_error("reason", exc)
        elif "\x00" in (data.get("reason") or ""):
            self.add_error("reason", "Remove the NUL character from this text.")
        return data


class ReclassifyForm(SingleLineTextMixin, forms.Form):
    adds_feature = forms.TypedChoiceField(
        choices=[("yes", "It adds a feature (needs the Governance Council)"),
                 ("no", "It adds no feature")],
        coerce=lambda v: v == "yes", widget=forms.RadioSelect, label="Classification",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    revision_hash = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_reason(self):
        return substantive(self.cleaned_data.get("reason", ""), 5, "why you reclassify it")


class FreezeForm(SingleLineTextMixin, forms.ModelForm):
    categories = forms.MultipleChoiceField(
        choices=[(policy.OPS, "Ops"), (policy.GOVERNANCE, "Governance")],
        widget=forms.CheckboxSelectMultiple, initial=[policy.OPS, policy.GOVERNANCE],
    )

    class Meta:
        model = Freeze
        fields = ["title", "reason", "starts_at", "ends_at", "categories", "nodes"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "reason": forms.Textarea(attrs={"rows": 3}),
            "nodes": forms.CheckboxSelectMultiple,
        }
        labels = {"starts_at": "Starts (UTC, inclusive)", "ends_at": "Ends (UTC, exclusive)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("starts_at", "ends_at"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def clean(self):
        data = super().clean()
        for name, (words, what) in {"title": (2, "a title"),
                                    "reason": (5, "why changes are frozen")}.items():
            if name in data:
                try:
                    data[name] = substantive(data[name], words, what)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        start, end = data.get("starts_at"), data.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", "The freeze must end after it starts.")
        if end and end <= timezone.now():
            self.add_error("ends_at", "That time has passed: a freeze cannot be declared for the past.")
        # Times are taken to the minute: the current minute means "now" (the service
        # starts it at the moment it is declared); an earlier one is the past.
        if start and start < timezone.now().replace(second=0, microsecond=0):
            self.add_error("starts_at", "That time has passed: a freeze starts now or later, "
                                        "never over decisions already taken.")
        return data


class LiftFreezeForm(SingleLineTextMixin, forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why it is lifted")

    def clean_note(self):
        return substantive(self.cleaned_data.get("note", ""), 3, "why the freeze is lifted")


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
    conflict_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        label="Why implement over the conflicts listed",
        help_text="Required when conflicts are listed above; it goes on the change log.",
    )

    def __init__(self, *args, conflicts=(), proposal=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.proposal = proposal
        self.conflicts = list(conflicts)
        if not self.conflicts:
            del self.fields["conflict_reason"]

    def clean(self):
        data = super().clean()
        if self.conflicts:
            try:
                data["conflict_reason"] = substantive(
                    data.get("conflict_reason", ""), 5,
                    "why it is safe to implement over the conflicts listed")
            except forms.ValidationError as exc:
                self.add_error("conflict_reason", exc)
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
        if performed and self.proposal is not None:
            # The service checks the same again under the row lock (409).
            if problem := services.implementation_time_problem(self.proposal, performed,
                                                               timezone.now()):
                self.add_error("performed_at", problem)
        elif performed and performed > timezone.now():
            self.add_error("performed_at", "That time is in the future.")
        line = data.get("public_changelog") or ""
        if "\n" in line:
            self.add_error("public_changelog", "Keep the change-log entry to one line.")
        # The public change log is technical communication only (playbook section 7), and
        # names no host, person or secret: the checks a post-mortem or a notice passes.
        findings = compliance.check(line) + (sensitive.check(line, **sensitive.known_names())
                                             if line.strip() else [])
        for finding in findings:
            self.add_error(
                "public_changelog",
                f'Not for the public log ({finding.category}): "{finding.match}". '
                + ("Name roles and components, never hosts, people or secrets."
                   if finding.category == sensitive.SENSITIVE else "State the technical change only."),
            )
        if data.get("outcome") == self.ROLLED_BACK:
            try:
                data["rollback_notes"] = substantive(
                    data.get("rollback_notes", ""), 5, "what failed and what the rollback did"
                )
            except forms.ValidationError as exc:
                self.add_error("rollback_notes", exc)
        return data


class RollbackForm(SingleLineTextMixin, forms.Form):
    """The rollback record an unratified emergency change requires."""

    performed_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="When the rollback was carried out (UTC).",
    )
    rollback_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the rollback did, following the rollback plan, and how it was verified.",
    )

    def __init__(self, *args, proposal=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.proposal = proposal

    def clean(self):
        data = super().clean()
        if "rollback_notes" in data:
            try:
                data["rollback_notes"] = substantive(
                    data["rollback_notes"], 6, "what the rollback did and how it was verified")
            except forms.ValidationError as exc:
                self.add_error("rollback_notes", exc)
        performed = data.get("performed_at")
        if performed and self.proposal is not None:
            if problem := services.rollback_time_problem(self.proposal, performed, timezone.now()):
                self.add_error("performed_at", problem)
        elif performed and performed > timezone.now():
            self.add_error("performed_at", "That time is in the future.")
        return data
