"""Change proposals, their reviewed revisions, and votes (playbook section 5).

The state field is protected: it changes only through the transition methods
below, which the service functions in `changes/services.py` call while holding
the proposal's row lock, together with an event in the shared log.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from . import policy


class State(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"
    IMPLEMENTED = "implemented", "Implemented"
    ROLLED_BACK = "rolled_back", "Rolled back"
    LAPSED = "lapsed", "Lapsed"
    # Emergency changes, implemented before their full review (docs/changes.md).
    IN_RATIFICATION = "in_ratification", "Implemented, in ratification"
    RATIFIED = "ratified", "Implemented and ratified"
    UNRATIFIED = "unratified", "Not ratified: rollback required"


# States whose review window takes votes: the review, and an emergency change's
# retrospective review after it was implemented.
VOTING_STATES = (State.IN_REVIEW, State.IN_RATIFICATION)


class Risk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Environment(models.TextChoices):
    MAINNET = "mainnet", "Mainnet"
    TESTNET = "testnet", "Testnet"
    BOTH = "both", "Mainnet and testnet"


# The fields a reviewer judges. Their hash is what a vote binds to.
CONTENT_FIELDS = (
    "category", "title", "summary", "motivation", "change", "components", "environments",
    "risk", "risk_assessment", "planned_start", "planned_end", "rollback_trigger",
    "rollback_steps", "rollback_verification", "rollback_minutes",
)
# Fields added later (issue 15). They join the hashed content only when set, so
# the hash of every proposal written before them stays what it was.
LATER_CONTENT_FIELDS = (
    "config_keys", "determinism_attestation", "adds_feature", "emergency", "incident_id",
    "emergency_justification", "on_call",
)


class Proposal(FSMModelMixin, models.Model):
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, db_index=True)
    category = models.CharField(max_length=20, choices=policy.CATEGORY_CHOICES)
    proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="proposals"
    )

    # The written proposal.
    title = models.CharField(max_length=200)
    summary = models.TextField(help_text="Two or three sentences: what changes, where.")
    motivation = models.TextField(help_text="Why this change, and why now.")
    change = models.TextField(help_text="The change itself, in Markdown: exact config, commands.")
    components = models.CharField(
        max_length=300, help_text="Affected components, comma separated (e.g. p2p, rpc)."
    )
    environments = models.CharField(max_length=10, choices=Environment.choices)
    risk = models.CharField(max_length=10, choices=Risk.choices)
    risk_assessment = models.TextField(help_text="What could go wrong and how likely it is.")
    planned_start = models.DateTimeField(help_text="Planned implementation window start (UTC).")
    planned_end = models.DateTimeField(help_text="Planned implementation window end (UTC).")

    # The rollback plan (required, structured).
    rollback_trigger = models.TextField(help_text="When to roll back: the observable trigger.")
    rollback_steps = models.TextField(help_text="The exact steps, in order.")
    rollback_verification = models.TextField(help_text="How to verify the rollback worked.")
    rollback_minutes = models.PositiveIntegerField(help_text="How long the rollback takes.")

    # What it touches, and the determinism attestation (playbook section 1).
    nodes = models.ManyToManyField(
        "fleet.Node", blank=True, related_name="+",
        help_text="The nodes this change touches; leave empty if it touches no particular node.",
    )
    config_keys = models.CharField(
        max_length=500, blank=True,
        help_text="Config keys it changes, comma separated (e.g. p2p.max_peers).",
    )
    determinism_attestation = models.TextField(
        blank=True,
        help_text="Ops changes: why this change cannot affect block production or state "
                  "transitions.",
    )
    adds_feature = models.BooleanField(
        default=False, help_text="It adds a feature: it then needs the Governance Council.",
    )

    # Emergency changes (ITIL emergency change; docs/changes.md).
    emergency = models.BooleanField(default=False)
    incident = models.ForeignKey(
        "incidents.Incident", models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The open incident this emergency change responds to.",
    )
    emergency_justification = models.TextField(
        blank=True, help_text="Why it cannot wait for the normal 24-hour review.",
    )
    on_call = models.CharField(max_length=300, blank=True, help_text="Who was on call.")
    ratification = models.CharField(
        max_length=12, blank=True,
        choices=[("pending", "pending"), ("ratified", "ratified"), ("unratified", "not ratified")],
    )
    rollback_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    rollback_recorded_at = models.DateTimeField(null=True, blank=True)

    review_hours = models.PositiveSmallIntegerField(
        default=policy.MAX_REVIEW_HOURS,
        help_text="Review deadline in hours after submission: 24 to 72.",
    )

    # Review, set at submission and reset by an amendment.
    revision = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    policy_in_force = models.JSONField(default=dict, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=0)
    submitted_at = models.DateTimeField(null=True, blank=True)
    window_opens_at = models.DateTimeField(null=True, blank=True)
    earliest_decision_at = models.DateTimeField(null=True, blank=True, db_index=True)
    deadline = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    # After approval.
    lapses_at = models.DateTimeField(null=True, blank=True, db_index=True)
    implemented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    implemented_at = models.DateTimeField(null=True, blank=True)
    verification_notes = models.TextField(blank=True)
    rollback_notes = models.TextField(blank=True)
    public_changelog = models.CharField(max_length=200, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "earliest_decision_at"]),  # the decision sweep
            models.Index(fields=["state", "lapses_at"]),  # the lapse sweep
            models.Index(fields=["state", "implemented_at"]),  # the public change log
            models.Index(fields=["state", "updated_at"]),  # its Last-Modified
            models.Index(fields=["created_at", "id"]),  # the internal list, newest first
            models.Index(fields=["state", "proposer"]),  # its count, index-only
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self):
        return reverse("changes:detail", args=[self.pk])

    # --- content ---------------------------------------------------------

    def content(self) -> dict:
        """The reviewed content as plain JSON-able values."""
        data = {}
        for name in CONTENT_FIELDS:
            value = getattr(self, name)
            data[name] = value.isoformat() if hasattr(value, "isoformat") else value
        for name in LATER_CONTENT_FIELDS:
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.pk and (names := sorted(self.nodes.values_list("name", flat=True))):
            data["nodes"] = names
        return data

    def compute_content_hash(self) -> str:
        raw = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def policy_rules(self) -> policy.Policy:
        """The policy saved at submission, or the one that would apply now for a draft."""
        if self.policy_in_force:
            fields = {k: v for k, v in self.policy_in_force.items()
                      if k not in ("version", "consensus_keys_version")}
            return policy.Policy(**fields)
        return self.route()

    def route(self) -> policy.Policy:
        """Who would approve this content now (consensus keys and features go to the Council)."""
        return policy.route(self.category, self.config_keys, self.adds_feature, self.emergency,
                            self.routing_text())

    def routing_text(self) -> str:
        """The text searched for consensus-sensitive keys it does not declare."""
        return "\n".join((self.title, self.summary, self.change))

    def component_set(self) -> set[str]:
        return {c.strip().lower() for c in self.components.split(",") if c.strip()}

    @property
    def is_emergency_review(self) -> bool:
        return self.state == State.IN_REVIEW and self.policy_rules.rule == policy.EMERGENCY_RULE

    # --- the review window -------------------------------------------------

    def open_window(self, now) -> None:
        rules = self.policy_rules
        hours = max(rules.min_hours, min(self.review_hours, rules.max_hours))
        self.window_opens_at = now
        self.earliest_decision_at = now + timedelta(hours=rules.min_hours)
        self.deadline = now + timedelta(hours=hours)
        self.reminder_sent_at = None

    def window_is_open(self, now) -> bool:
        return self.state in VOTING_STATES and self.window_opens_at <= now < self.deadline

    def decision_is_due(self, now) -> bool:
        return self.state in VOTING_STATES and now >= self.earliest_decision_at

    @property
    def is_open(self) -> bool:
        return self.state in (State.DRAFT, State.IN_REVIEW)

    # --- transitions (called by services.py under the row lock) -------------

    @transition(field=state, source=State.DRAFT, target=State.IN_REVIEW)
    def submit(self, now):
        self.submitted_at = now
        self.open_window(now)

    @transition(field=state, source=[State.DRAFT, State.IN_REVIEW], target=State.WITHDRAWN)
    def withdraw(self, now):
        self.decided_at = now

    @transition(field=state, source=State.IN_REVIEW, target=State.APPROVED)
    def approve(self, now):
        self.decided_at = now
        self.lapses_at = now + timedelta(days=settings.QPGOV_APPROVAL_LAPSE_DAYS)

    @transition(field=state, source=State.IN_REVIEW, target=State.APPROVED)
    def approve_emergency(self, now):
        """Two Core Ops approved an emergency change: no waiting period."""
        self.decided_at = now
        self.lapses_at = now + timedelta(days=settings.QPGOV_APPROVAL_LAPSE_DAYS)

    @transition(field=state, source=State.IN_REVIEW, target=State.IN_REVIEW)
    def fall_back(self, now):
        """An emergency change not approved in its short window becomes a normal one."""
        self.emergency = False

    @transition(field=state, source=State.IN_REVIEW, target=State.IN_REVIEW)
    def reclassify(self, now):
        """An approver said it does (or does not) add a feature: the window restarts."""
        self.open_window(now)

    @transition(field=state, source=State.IN_REVIEW, target=State.REJECTED)
    def reject(self, now):
        self.decided_at = now

    @transition(field=state, source=State.IN_REVIEW, target=State.EXPIRED)
    def expire(self, now):
        self.decided_at = now

    @transition(field=state, source=State.APPROVED, target=State.IMPLEMENTED)
    def mark_implemented(self, now):
        """The caller has set who implemented it, when, and the public change-log line."""

    @transition(field=state, source=State.APPROVED, target=State.IN_RATIFICATION)
    def begin_ratification(self, now):
        """An emergency change was implemented: its retrospective review opens now."""
        self.ratification = "pending"
        self.open_window(now)

    @transition(field=state, source=State.IN_RATIFICATION, target=State.RATIFIED)
    def ratify(self, now):
        self.ratification = "ratified"

    @transition(field=state, source=State.IN_RATIFICATION, target=State.UNRATIFIED)
    def unratify(self, now):
        self.ratification = "unratified"

    @transition(field=state, source=[State.APPROVED, State.UNRATIFIED], target=State.ROLLED_BACK)
    def mark_rolled_back(self, now):
        """The caller has set who rolled it back, when, and what the rollback did."""

    @transition(field=state, source=State.APPROVED, target=State.LAPSED)
    def lapse(self, now):
        """Only the state changes; the log event records when."""


class Revision(models.Model):
    """An exact, immutable copy of the content that reviewers judged."""

    proposal = models.ForeignKey(Proposal, models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "number"], name="one_revision_number")
        ]

    def __str__(self):
        return f"{self.proposal_id} r{self.number}"


class Vote(models.Model):
    """One person's standing vote on one revision. Changing it is logged as an event."""

    APPROVE = "approve"
    REJECT = "reject"
    CHOICES = [(APPROVE, "Approve"), (REJECT, "Reject")]

    proposal = models.ForeignKey(Proposal, models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    revision = models.PositiveIntegerField()
    revision_hash = models.CharField(max_length=64)
    choice = models.CharField(max_length=10, choices=CHOICES)
    reason = models.TextField(blank=True)
    # An approval of an Ops change re-confirms its determinism attestation.
    determinism_confirmed = models.BooleanField(default=False)
    cast_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cast_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "voter", "revision"], name="one_vote_per_person_per_revision"
            )
        ]

    def __str__(self):
        return f"{self.voter_id} {self.choice} #{self.proposal_id} r{self.revision}"


class EmailDelivery(models.Model):
    """One e-mail about a proposal to one person, kept until it is accepted by the mail server.

    The row is written with the change that calls for it; changes.notify sends it
    after commit, and the beat sweep retries a failed send with backoff, so the
    review window never depends on a single SMTP call (changes.notify).
    """

    REVIEW, REMINDER, DECISION = "review", "reminder", "decision"
    UNRATIFIED = "unratified"
    PURPOSES = [(REVIEW, "review opened"), (REMINDER, "vote reminder"), (DECISION, "decision"),
                (UNRATIFIED, "emergency change not ratified")]
    PENDING, SENT, FAILED = "pending", "sent", "failed"
    STATUSES = [(PENDING, "pending"), (SENT, "sent"), (FAILED, "gave up")]

    proposal = models.ForeignKey(Proposal, models.CASCADE, related_name="deliveries")
    purpose = models.CharField(max_length=10, choices=PURPOSES)
    revision = models.PositiveIntegerField()
    recipient = models.CharField(max_length=300)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next try is due; a claimed try pushes it out by a lease, so a
    # sender that died is retried by the sweep. None once sent or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="changes_delivery_due")]

    def __str__(self):
        return f"{self.get_purpose_display()} to {self.recipient}: {self.get_status_display()}"


class Freeze(models.Model):
    """A change freeze declared by hand: a blackout window, e.g. around a network upgrade.

    Freezes while incidents are open are not stored here: they are derived from
    the open incidents themselves (changes.freezes). In force from `starts_at`
    (inclusive) until `ends_at` or its lifting, whichever is first (exclusive).
    """

    title = models.CharField(max_length=200)
    reason = models.TextField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Leave empty for a freeze in force until it is lifted."
    )
    categories = models.JSONField(default=list, help_text="The proposal categories it freezes.")
    nodes = models.ManyToManyField(
        "fleet.Node", blank=True, related_name="+",
        help_text="Only changes to these nodes; leave empty for every node.",
    )
    source = models.CharField(max_length=40, help_text="The role of whoever declared it.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_note = models.TextField(blank=True)

    class Meta:
        ordering = ["starts_at", "pk"]

    def __str__(self):
        return f"Freeze #{self.pk}: {self.title}"

    @property
    def effective_end(self):
        """When it stops being in force: its end or its lifting, whichever is first."""
        ends = [t for t in (self.ends_at, self.lifted_at) if t is not None]
        return min(ends) if ends else None
