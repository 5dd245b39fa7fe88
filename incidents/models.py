"""Incident response records (playbook section 6).

An Incident owns one ResponseStep per runbook step, created together when it
is declared. Each step is a row with a status; Celery tasks claim steps with
conditional updates (see incidents.tasks), so the database, not the broker,
is the truth about how far a response has got. What happened and who did it
goes on the shared hash-chained event log (qpgov.eventlog), never in an
editable field here.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from fleet.models import AlertGroup, Node

from . import runbook


class IncidentQuerySet(models.QuerySet):
    def needing_attention(self):
        return self.filter(steps__status=ResponseStep.NEEDS_HUMAN).distinct()


class Incident(FSMModelMixin, models.Model):
    SEVERITIES = [("SEV1", "SEV1 — mainnet halted or funds at risk"),
                  ("SEV2", "SEV2 — degraded, no funds at risk"),
                  ("SEV3", "SEV3 — minor, one node")]

    DECLARED, RESPONDING, CONTAINED = "declared", "responding", "contained"
    RESOLVED, POSTMORTEM_DRAFTED = "resolved", "postmortem_drafted"
    STATES = [(DECLARED, "declared"), (RESPONDING, "responding"), (CONTAINED, "contained"),
              (RESOLVED, "resolved"), (POSTMORTEM_DRAFTED, "post-mortem drafted")]
    # While an incident is in one of these states it holds its nodes stopped.
    UNRESOLVED = (DECLARED, RESPONDING, CONTAINED)

    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=4, choices=SEVERITIES)
    summary = models.TextField(blank=True)
    nodes = models.ManyToManyField(Node, related_name="incidents", through="IncidentNode")
    detected_at = models.DateTimeField(default=timezone.now)
    declared_at = models.DateTimeField(default=timezone.now)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="incidents_declared"
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="incidents_commanded"
    )
    runbook_version = models.CharField(max_length=20, editable=False)
    state = FSMField(default=DECLARED, choices=STATES, protected=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    # The Alertmanager groups this incident was declared from or took in
    # (incidents.alerts): their later alerts go on its timeline.
    alert_groups = models.ManyToManyField(AlertGroup, blank=True, related_name="incidents")
    # A rehearsal (playbook section 8): run like any incident, never shown to the public.
    drill = models.BooleanField(default=False, help_text="A rehearsal: never shown publicly.")

    objects = IncidentQuerySet.as_manager()

    OPEN_STATES = (DECLARED, RESPONDING, CONTAINED)

    class Meta:
        ordering = ["-declared_at"]

    def __str__(self):
        return f"INC-{self.pk} {self.title}"

    def get_absolute_url(self):
        return reverse("incidents:detail", args=[self.pk])

    @property
    def runbook(self) -> runbook.Runbook:
        return runbook.get(self.runbook_version)

    @property
    def stage(self) -> str:
        """The state as people read it: once its post-mortem is public, the incident says so."""
        if self.state == self.POSTMORTEM_DRAFTED:
            postmortem = getattr(self, "postmortem", None)
            if postmortem is not None and postmortem.state == Postmortem.PUBLISHED:
                return "post-mortem published"
        return self.get_state_display()

    @property
    def needs_attention(self) -> bool:
        return self.steps.filter(status=ResponseStep.NEEDS_HUMAN).exists()

    # Transitions. They only move the state; the services that call them
    # append the timeline event in the same transaction.
    @transition(field=state, source=DECLARED, target=RESPONDING)
    def start_response(self):
        pass

    @transition(field=state, source=[DECLARED, RESPONDING], target=CONTAINED)
    def contain(self):
        pass

    @transition(field=state, source=CONTAINED, target=RESOLVED)
    def resolve(self):
        self.resolved_at = timezone.now()

    @transition(field=state, source=RESOLVED, target=POSTMORTEM_DRAFTED)
    def draft_postmortem(self):
        pass


class IncidentNode(models.Model):
    """One affected node of an incident, with what the driver uses copied when it was declared.

    Every step acts on this copy, not on the registry, so a registry edit during
    the response cannot move it (issue 12). It also holds the commander's
    request to start the node again, so the request names the incident that asked.
    """

    id = models.AutoField(primary_key=True)  # the table began as Django's own many-to-many table
    incident = models.ForeignKey(Incident, models.CASCADE, related_name="members")
    node = models.ForeignKey(Node, models.CASCADE, related_name="+")
    name = models.CharField(max_length=63)
    target = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=100)
    data_dir = models.CharField(max_length=300)
    # Set when the commander confirms unfreezing on resolve; cleared once done or refused.
    unfreeze_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "incidents_incident_nodes"
        unique_together = [("incident", "node")]

    def __str__(self):
        return f"{self.name} in INC-{self.incident_id}"

    @classmethod
    def copy_of(cls, incident: Incident, node: Node) -> IncidentNode:
        return cls(incident=incident, node=node,
                   **{field: getattr(node, field) for field in Node.DRIVER_FIELDS})

    def registry_changes(self) -> list[tuple[str, str, str]]:
        """(field, value copied at declaration, value in the registry now) for each that differs."""
        return [(field, getattr(self, field), getattr(self.node, field))
                for field in Node.DRIVER_FIELDS if getattr(self, field) != getattr(self.node, field)]

    @property
    def reach(self) -> str:
        return f"ssh {self.target}" if self.target else "local"


class ResponseStep(models.Model):
    PENDING, RUNNING, SUCCEEDED = "pending", "running", "succeeded"
    FAILED, NEEDS_HUMAN, SKIPPED = "failed", "needs_human", "skipped"
    STATUSES = [(PENDING, "pending"), (RUNNING, "running"), (SUCCEEDED, "succeeded"),
                (FAILED, "failed"), (NEEDS_HUMAN, "needs a human"), (SKIPPED, "skipped")]
    DONE = (SUCCEEDED, SKIPPED)
    KINDS = list(runbook.STEP_LABELS.items())

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=30, choices=KINDS)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A responder's "retry" gives the step a fresh set of tries; tries are
    # counted from here so attempt numbers on the record keep increasing.
    attempts_before_human_retry = models.PositiveSmallIntegerField(default=0)
    # When the step should run next. Null means "not yet": the step before it
    # has not finished (or, for the post-mortem, the incident is not resolved).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    skip_reason = models.TextField(blank=True)
    # A node step whose try finished with some nodes done and others failed (a
    # hung node, say): the later steps go on for the nodes that are through,
    # while this step retries the rest or waits for a human. Stays set once set,
    # so the engine knows to catch the held nodes up later (tasks.advance).
    partly_done = models.BooleanField(default=False)

    class Meta:
        ordering = ["incident", "position"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "position"], name="one_step_per_position"),
            models.UniqueConstraint(fields=["incident", "kind"], name="one_step_per_kind"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.incident_id}/{self.kind} ({self.status})"

    @property
    def label(self) -> str:
        return runbook.STEP_LABELS[self.kind]

    @property
    def policy(self) -> runbook.RetryPolicy:
        return self.incident.runbook.policy(self.kind)

    def previous(self) -> ResponseStep | None:
        return self.incident.steps.filter(position__lt=self.position).order_by("-position").first()

    def following(self) -> ResponseStep | None:
        return self.incident.steps.filter(position__gt=self.position).order_by("position").first()

    @property
    def nodes_holding(self) -> list[StepAttempt]:
        """The latest try of each node this step is not done on yet, while the step is not done
        (from the prefetched tries): which node holds it, and why."""
        if self.status in self.DONE:
            return []
        latest: dict[int, StepAttempt] = {}
        done = set()
        for attempt in self.tries.all():
            if attempt.node_id is None:
                continue
            if attempt.status == self.SUCCEEDED:
                done.add(attempt.node_id)
            if attempt.node_id not in latest or attempt.attempt >= latest[attempt.node_id].attempt:
                latest[attempt.node_id] = attempt
        return sorted((a for node_id, a in latest.items() if node_id not in done),
                      key=lambda a: a.node.name)

    def is_waiting_for_worker(self, now=None) -> bool:
        """Due and not picked up for longer than a worker needs: shown on the incident page,
        rescued by the sweep. A step queued a moment ago is just queued."""
        now = now or timezone.now()
        grace = timedelta(seconds=settings.QPGOV_WORKER_GRACE_SECONDS)
        return self.status == self.PENDING and self.next_attempt_at is not None and (
            self.next_attempt_at <= now - grace
        )


class StepAttempt(models.Model):
    """One try of one step on one node (node is empty for incident-wide steps)."""

    step = models.ForeignKey(ResponseStep, models.CASCADE, related_name="tries")
    node = models.ForeignKey(Node, models.PROTECT, null=True, blank=True, related_name="+")
    attempt = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=ResponseStep.STATUSES)
    task_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=60, blank=True)
    output_excerpt = models.TextField(blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["step", "attempt", "node__name"]

    def __str__(self):
        return f"{self.step} try {self.attempt} on {self.node or 'incident'}: {self.status}"

    @property
    def outcome(self) -> str:
        """What this try did, in plain words ("stopped, confirmed inactive", "failed: timeout")."""
        if self.status == ResponseStep.SUCCEEDED:
            return runbook.STEP_DONE_WORDS.get(self.step.kind, "done")
        if self.status == ResponseStep.FAILED:
            detail = self.error_class or "error"
            if self.exit_code is not None:
                detail += f", exit code {self.exit_code}"
            return f"failed ({detail})"
        return self.get_status_display()


class Evidence(models.Model):
    LOGS, SNAPSHOT = "logs", "snapshot"
    KINDS = [(LOGS, "logs"), (SNAPSHOT, "snapshot")]

    incident = models.ForeignKey(Incident, models.PROTECT, related_name="evidence")
    node = models.ForeignKey(Node, models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=KINDS)
    storage_name = models.CharField(max_length=300, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    collected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["collected_at", "id"]
        verbose_name_plural = "evidence"

    def __str__(self):
        return self.storage_name


class Acknowledgement(models.Model):
    incident = models.ForeignKey(Incident, models.CASCADE, related_name="acknowledgements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "user"], name="one_ack_per_member")
        ]

    def __str__(self):
        return f"{self.user} acknowledged {self.incident_id}"


class NotificationDelivery(models.Model):
    """One attempt to tell someone about an incident, with what came back."""

    EMAIL, WEBHOOK = "email", "webhook"
    CHANNELS = [(EMAIL, "email"), (WEBHOOK, "webhook")]
    NOTICE, REMINDER, RESPONDERS = "notice", "reminder", "responders"
    PURPOSES = [(NOTICE, "governance notice"), (REMINDER, "reminder"),
                (RESPONDERS, "needs attention")]

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=CHANNELS)
    purpose = models.CharField(max_length=12, choices=PURPOSES, default=NOTICE)
    recipient = models.CharField(max_length=300)
    attempted_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField(default=False)
    response_status = models.IntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    signature = models.CharField(max_length=80, blank=True)
    # The responders' "needs attention" mail is kept and retried by the sweep
    # (incidents.actions.resend_due_responder_mail): what to send, how often it
    # was tried, and when the next try is due (None once sent or given up).
    # The other purposes are a step's work, retried as the step.
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self):
        return f"{self.channel} to {self.recipient}: {'ok' if self.ok else 'failed'}"


class ReviewedText(FSMModelMixin, models.Model):
    """Public text that goes draft → in_review → published, and is frozen once published.

    The post-mortem and each of its amendments are reviewed the same way; the
    rules about who may move them live in incidents.postmortems.
    """

    DRAFT, IN_REVIEW, PUBLISHED = "draft", "in_review", "published"
    STATES = [(DRAFT, "draft"), (IN_REVIEW, "in review"), (PUBLISHED, "published")]

    state = FSMField(default=DRAFT, choices=STATES, protected=True)
    body = models.TextField(help_text="Markdown. Everything here is public once published.")
    internal_notes = models.TextField(
        blank=True, help_text="For responders and the council only; never published.")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True,
                                    blank=True, related_name="+")
    content_hash = models.CharField(max_length=64, blank=True)
    override_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # Published text is immutable: corrections are amendments.
        if self.content_hash and self.compute_hash() != self.content_hash:
            raise ValueError("Published text cannot change; add an amendment instead.")
        super().save(*args, **kwargs)

    def public_text(self) -> str:
        """Exactly the text that is published and hashed; subclasses add what frames it."""
        return self.body

    def compute_hash(self) -> str:
        return hashlib.sha256(self.public_text().encode()).hexdigest()

    # Transitions only move the state; incidents.postmortems checks who may
    # call them and appends the event in the same transaction.
    @transition(field="state", source=DRAFT, target=IN_REVIEW)
    def submit(self):
        self.submitted_at = timezone.now()

    @transition(field="state", source=IN_REVIEW, target=DRAFT)
    def send_back(self):
        self.submitted_at = None

    @transition(field="state", source=IN_REVIEW, target=PUBLISHED)
    def publish(self, approver, override_reason=""):
        self.approved_by = approver
        self.override_reason = override_reason
        self.published_at = timezone.now()
        self.content_hash = self.compute_hash()


class Postmortem(ReviewedText):
    """The post-mortem of one incident: drafted from the record when it is resolved."""

    incident = models.OneToOneField(Incident, models.CASCADE, related_name="postmortem")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    title = models.CharField(max_length=200, help_text="Public title.")
    # Set once, when first published; the public URL never changes afterwards.
    slug = models.SlugField(max_length=100, unique=True, null=True, blank=True)
    # When the public page last changed (publication or an amendment): what
    # Last-Modified, the ETag and the cache keys are built from.
    public_updated_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-published_at", "-id"]

    def __str__(self):
        return f"post-mortem for INC-{self.incident_id}"

    def get_absolute_url(self):
        return reverse("incidents:postmortem", args=[self.incident_id])

    def get_public_url(self):
        return reverse("postmortems:detail", args=[self.slug])

    def public_text(self) -> str:
        return f"{self.title}\n\n{self.body}"


class Amendment(ReviewedText):
    """A dated correction appended below a published post-mortem."""

    postmortem = models.ForeignKey(Postmortem, models.CASCADE, related_name="amendments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")

    class Meta:
        ordering = ["published_at", "id"]

    def __str__(self):
        return f"amendment {self.pk} to {self.postmortem}"

    def get_absolute_url(self):
        return reverse("incidents:amendment", args=[self.postmortem.incident_id, self.pk])

    @property
    def incident_id(self):
        return self.postmortem.incident_id

    def public_text(self) -> str:
        return f"Amendment to {self.postmortem.content_hash}\n\n{self.body}"


class Notice(models.Model):
    """A short public status update about an incident, in Statuspage's vocabulary.

    A responder drafts it; the incident's commander publishes it after the
    compliance and sensitive-data checks pass (incidents.notices). Once
    published it never changes: a correction is a new notice.
    """

    INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED = "investigating", "identified", "monitoring", "resolved"
    STATUSES = [(INVESTIGATING, "Investigating"), (IDENTIFIED, "Identified"),
                (MONITORING, "Monitoring"), (RESOLVED, "Resolved")]
    IMPACTS = [("none", "None"), ("minor", "Minor"), ("major", "Major"), ("critical", "Critical")]

    incident = models.ForeignKey(Incident, models.PROTECT, related_name="notices")
    status = models.CharField(max_length=13, choices=STATUSES)
    impact = models.CharField(max_length=8, choices=IMPACTS)
    title = models.CharField(max_length=200, help_text="The incident's public name.")
    body = models.TextField(help_text="Plain words for the public: what users see, what we do next.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                     related_name="+")
    content_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"notice {self.pk} on INC-{self.incident_id} ({self.status})"

    def save(self, *args, **kwargs):
        # Published notices are immutable, like post-mortems: corrections are new notices.
        # The stored row decides, not this instance, so neither clearing published_at
        # (which would take the notice off every public page) nor rewriting the text
        # together with its hash gets through.
        changed = self.content_hash and self.compute_hash() != self.content_hash
        stored = self._stored_if_published()
        if stored is not None:
            changed = changed or any(getattr(self, name) != value for name, value in stored.items())
        if changed:
            raise ValueError("A published notice cannot change; publish a new notice instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.content_hash or self._stored_if_published() is not None:
            raise ValueError("A published notice cannot be deleted.")
        return super().delete(*args, **kwargs)

    def _stored_if_published(self) -> dict | None:
        """The stored row, if it is a published notice; None for a draft or a new notice."""
        if self.pk is None:
            return None
        stored = type(self).objects.filter(pk=self.pk).values(
            *(f.attname for f in self._meta.concrete_fields)).first()
        if stored is None or (stored["published_at"] is None and not stored["content_hash"]):
            return None
        return stored

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def public_text(self) -> str:
        """What the checks read and the hash covers: everything the public sees."""
        return f"{self.title}\n\n{self.body}"

    def compute_hash(self) -> str:
        framed = f"{self.incident_id}\n{self.status}\n{self.impact}\n{self.public_text()}"
        return hashlib.sha256(framed.encode()).hexdigest()
