"""The fleet: the nodes that Quantumpay runs and that responses, checks and restores act on.

Core Ops keep the registry. Incidents use nodes, they do not own them; the node
driver that acts on them lives next to it (fleet.drivers).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from . import paths

# Node fields end up in shell commands (quoted, but still): keep them plain.
NAME_RE = RegexValidator(r"^[a-z0-9][a-z0-9.-]{0,62}$", "Lowercase letters, digits, dots, dashes.")
# ssh reads "host:2222" as a host name, not a port: refuse it, and say where a port goes.
NO_PORT = RegexValidator(
    r":", inverse_match=True,
    message="No port here: ssh would read host:2222 as the host name. Give the port in the "
            "worker's ~/.ssh/config (Host validator-7.internal / Port 2222).",
)
TARGET_RE = RegexValidator(
    r"^([A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*$",
    "An SSH target like ops@validator-1.internal, or blank for this machine.",
)
UNIT_RE = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,99}$", "A systemd unit name.")
PATH_RE = RegexValidator(r"^/[A-Za-z0-9._/-]*$", "An absolute path of plain characters.")


class Node(models.Model):
    """A Quantumpay node that a response can act on. Core Ops keep this registry."""

    MAINNET, TESTNET = "mainnet", "testnet"
    ENVIRONMENTS = [(MAINNET, "mainnet"), (TESTNET, "testnet")]
    ROLES = [("validator", "validator"), ("full", "full node"), ("rpc", "RPC node")]

    name = models.CharField(max_length=63, unique=True, validators=[NAME_RE])
    environment = models.CharField(max_length=10, choices=ENVIRONMENTS, default=MAINNET)
    role = models.CharField(max_length=10, choices=ROLES, default="validator")
    target = models.CharField(
        max_length=200, blank=True, validators=[NO_PORT, TARGET_RE],
        help_text="SSH target (user@host); blank runs the commands on the worker's machine.",
    )
    unit = models.CharField(max_length=100, default="quantumpay-node", validators=[UNIT_RE])
    data_dir = models.CharField(
        max_length=300, default="/var/lib/quantumpay", validators=[PATH_RE],
        help_text="The node's state directory, inside a configured data root "
                  "(QPGOV_NODE_DATA_ROOTS); the snapshot command tars it.",
    )
    frozen = models.BooleanField(default=False)
    frozen_at = models.DateTimeField(null=True, blank=True)

    # The node standard (playbook section 2): what the daily checks hold each
    # node to. Environment and unit above are part of it too.
    TIME_SYNC_SERVICES = [("chrony", "chrony"), ("ntpd", "ntpd")]
    dedicated_host = models.BooleanField(
        default=False, help_text="The node runs alone on its host, sharing it with no other service.",
    )
    time_sync = models.CharField(
        "time-sync service", max_length=10, choices=TIME_SYNC_SERVICES, default="chrony",
    )
    height_url = models.CharField(
        "block height URL", max_length=300, blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Fetched on the node's host by the height check; answers the block height "
                  "as a bare number or JSON with a \"height\". Blank: the height is not checked.",
    )

    class Meta:
        ordering = ["environment", "name"]

    # What the node driver's command templates receive: what an incident copies
    # when it is declared.
    DRIVER_FIELDS = ("name", "target", "unit", "data_dir")
    # Everything Core Ops edit in the registry: what an edit saves and what its
    # event records. `frozen` is left out: responses set it, not the registry form.
    REGISTRY_FIELDS = ("name", "environment", "role", "target", "unit", "data_dir",
                       "dedicated_host", "time_sync", "height_url")

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        for field in self.DRIVER_FIELDS:
            if str(getattr(self, field)).startswith("-"):
                errors[field] = "May not start with '-': a command would read it as an option."
        # Symlinks can be followed here only for a node on this machine; the
        # driver checks again on the worker, right before each command.
        if problem := paths.data_dir_problem(self.data_dir, resolve=not self.target):
            errors.setdefault("data_dir", problem)
        if errors:
            raise ValidationError(errors)

    @property
    def reach(self) -> str:
        return f"ssh {self.target}" if self.target else "local"


# --- Alerts from Prometheus Alertmanager (playbook section 4) -----------------------------
#
# The webhook stores each request body as an AlertDelivery before anything else;
# a task (fleet.tasks.process_alert_delivery) then upserts its alerts into
# AlertGroup and Alert rows. Policy rows (AlertRule) say what an alert should lead
# to; incidents.alerts acts on them (incidents use alerts, fleet never reaches up).


def hash_token(token: str) -> str:
    """SHA-256 of a receiver token: enough for a 256-bit random secret, which no one can guess."""
    return hashlib.sha256(token.encode()).hexdigest()


class AlertReceiver(models.Model):
    """One Alertmanager (or HA pair) allowed to post alerts, known by its bearer token's hash."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def issue_token(self) -> str:
        """Set a fresh random token and return it; only its hash is kept, so show it once."""
        token = "qpa_" + secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_rotated_at = timezone.now()
        return token

    @classmethod
    def for_token(cls, token: str) -> AlertReceiver | None:
        """The active receiver whose token this is, compared in constant time, or None."""
        if not token:
            return None
        presented = hash_token(token)
        found = None
        # Every active receiver is compared (there are a handful), without stopping
        # early, so the time taken says nothing about which hash came close.
        for receiver in cls.objects.filter(active=True).exclude(token_hash=""):
            if hmac.compare_digest(receiver.token_hash, presented):
                found = receiver
        return found


class AlertDelivery(models.Model):
    """One webhook request as it arrived: the raw body is saved before it is processed."""

    RECEIVED, PROCESSING, PROCESSED, FAILED = "received", "processing", "processed", "failed"
    STATUSES = [(RECEIVED, "received"), (PROCESSING, "processing"), (PROCESSED, "processed"),
                (FAILED, "failed")]

    receiver = models.ForeignKey(AlertReceiver, models.PROTECT, related_name="deliveries")
    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField(help_text="The request body exactly as Alertmanager sent it; emptied "
                                      "QPGOV_ALERT_BODY_RETENTION_DAYS after it was processed.")
    # Kept when the body is pruned, so a copy Alertmanager's side kept can still be matched.
    body_sha256 = models.CharField(max_length=64, blank=True)
    body_bytes = models.PositiveIntegerField(null=True, blank=True)
    body_pruned_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=STATUSES, default=RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    group = models.ForeignKey("AlertGroup", models.SET_NULL, null=True, blank=True,
                              related_name="deliveries")
    alert_count = models.PositiveIntegerField(null=True, blank=True)
    truncated_alerts = models.PositiveIntegerField(default=0)
    skipped_alerts = models.PositiveIntegerField(
        default=0, help_text="Alerts in the body that could not be read (no fingerprint, a bad date).")
    # Alerts this delivery created or changed; the rest of alert_count (less the
    # skipped) were re-sends that changed nothing.
    changed_alerts = models.PositiveIntegerField(default=0)
    # It carried the always-firing watchdog alert: monitoring was alive when it came.
    heard_watchdog = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [models.Index(fields=["status", "received_at"]),
                   models.Index(fields=["heard_watchdog", "received_at"])]

    def __str__(self):
        return f"delivery {self.pk} from {self.receiver_id} ({self.status})"

    @classmethod
    def receive(cls, receiver, raw: bytes) -> AlertDelivery:
        return cls.objects.create(receiver=receiver, body=raw.decode("utf-8"),
                                  body_sha256=hashlib.sha256(raw).hexdigest(), body_bytes=len(raw))


class AlertGroup(models.Model):
    """Alertmanager's notification group, by its groupKey; re-sends land on the same row."""

    FIRING, RESOLVED = "firing", "resolved"
    STATUSES = [(FIRING, "firing"), (RESOLVED, "resolved")]

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    group_key = models.TextField()
    receiver_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=FIRING)
    group_labels = models.JSONField(default=dict, blank=True)
    common_labels = models.JSONField(default=dict, blank=True)
    common_annotations = models.JSONField(default=dict, blank=True)
    external_url = models.CharField(max_length=500, blank=True)
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    # Alertmanager left alerts out of a notification (webhook max_alerts): what
    # qpgov holds for this group is not all there was.
    incomplete = models.BooleanField(default=False)
    truncated_alerts = models.PositiveIntegerField(default=0)
    # Set when a firing alert's rule asks a human to confirm; cleared once declared.
    awaiting_confirmation = models.BooleanField(default=False)
    confirmation_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_received_at", "-id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("alerts:group", args=[self.pk])

    @staticmethod
    def hash_key(group_key: str) -> str:
        return hashlib.sha256(group_key.encode()).hexdigest()

    @property
    def title(self) -> str:
        labels = self.group_labels or self.common_labels
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or self.group_key[:80]


class Alert(models.Model):
    """One alert instance, identified by (fingerprint, startsAt); judged by its own status."""

    FIRING, RESOLVED = "firing", "resolved"
    STATUSES = [(FIRING, "firing"), (RESOLVED, "resolved")]

    group = models.ForeignKey(AlertGroup, models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES)
    alertname = models.CharField(max_length=200, blank=True, db_index=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    generator_url = models.CharField(max_length=1000, blank=True)
    node = models.ForeignKey(Node, models.SET_NULL, null=True, blank=True, related_name="alerts")
    first_received_at = models.DateTimeField(default=timezone.now)
    # The delivery that last changed this row: an older delivery processed late
    # (a re-dispatched one) never undoes what a newer one said.
    last_delivery = models.ForeignKey(AlertDelivery, models.SET_NULL, null=True, blank=True,
                                      related_name="+")

    class Meta:
        ordering = ["-starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="one_alert_per_start"),
        ]
        indexes = [models.Index(fields=["group", "status"])]

    def __str__(self):
        return f"{self.alertname or self.fingerprint} ({self.status})"


class AlertRule(models.Model):
    """What an alert with this alertname leads to: record it, ask a human, or declare at once.

    A rule may be scoped to the environment and/or role of the node the alert is
    on; for each alert the most specific rule that fits its node applies (see
    `applies_to`, `specificity`). An alert no rule fits is recorded only.
    """

    RECORD, CONFIRM, DECLARE = "record", "confirm", "declare"
    ACTIONS = [(RECORD, "record only"), (CONFIRM, "open for a human to confirm"),
               (DECLARE, "declare an incident at once")]
    # The incident severities (incidents.models.Incident.SEVERITIES), named here
    # because fleet does not import incidents; incidents.alerts checks they agree.
    SEVERITIES = [("SEV1", "SEV1"), ("SEV2", "SEV2"), ("SEV3", "SEV3")]

    alertname = models.CharField(max_length=200)
    environment = models.CharField(
        max_length=10, choices=Node.ENVIRONMENTS, blank=True,
        help_text="Only alerts on nodes of this environment. Blank: any node, and alerts that "
                  "name no registered node.")
    node_role = models.CharField(
        max_length=10, choices=Node.ROLES, blank=True,
        help_text="Only alerts on nodes with this role. Blank: any node, and alerts that name "
                  "no registered node.")
    action = models.CharField(max_length=10, choices=ACTIONS, default=RECORD)
    severity = models.CharField(max_length=4, choices=SEVERITIES, default="SEV2",
                                help_text="For confirm (pre-filled) and declare.")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["alertname", "environment", "node_role"]
        constraints = [models.UniqueConstraint(fields=["alertname", "environment", "node_role"],
                                               name="one_alert_rule_per_scope")]

    def __str__(self):
        return f"{self.alertname}{self.scope_text}: {self.get_action_display()}"

    @property
    def scope_text(self) -> str:
        """" on mainnet validator nodes", or "" for a rule on any node."""
        if not (self.environment or self.node_role):
            return ""
        return f" on {' '.join(filter(None, [self.environment, self.node_role]))} nodes"

    @property
    def specificity(self) -> int:
        return bool(self.environment) + bool(self.node_role)

    def applies_to(self, node: Node | None) -> bool:
        """Whether this rule fits an alert on `node` (None: the alert names no registered node)."""
        if self.environment and (node is None or node.environment != self.environment):
            return False
        return not (self.node_role and (node is None or node.role != self.node_role))


class MonitoringSilence(models.Model):
    """A stretch of time when the always-firing watchdog alert was not heard."""

    started_at = models.DateTimeField(help_text="When the watchdog was last heard (or expected).")
    detected_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    # True while open, NULL once ended: the unique index then allows one open
    # silence at most (NULLs never collide), whatever two sweeps do at once.
    open = models.BooleanField(null=True, default=True, unique=True, editable=False)

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self):
        return f"monitoring silent since {self.started_at:%Y-%m-%d %H:%M}"


class CheckRun(models.Model):
    """One pass of the daily checks over some nodes: a row a task claims, like a response step.

    A run has two stages: the first takes every reading (and the first block
    height), the second, `QPGOV_NODE_CHECK_HEIGHT_INTERVAL` seconds later, the
    second height. Between them the run waits as a queued row, not in a worker.
    """

    QUEUED, RUNNING, DONE = "queued", "running", "done"
    STATUSES = [(QUEUED, "queued"), (RUNNING, "running"), (DONE, "done")]
    FIRST_READINGS, SECOND_READINGS = 1, 2
    SCHEDULE, DEMAND = "schedule", "demand"
    TRIGGERS = [(SCHEDULE, "daily schedule"), (DEMAND, "on demand")]
    # What the first scheduled run follows: no run started before it.
    NO_EARLIER_RUN = datetime(1970, 1, 1, tzinfo=UTC)

    trigger = models.CharField(max_length=10, choices=TRIGGERS)
    # A scheduled run's place in the schedule: when the scheduled run before it
    # started (NO_EARLIER_RUN for the first). Unique among scheduled runs, so two
    # beats' sweeps that both found the daily run due after the same run start it
    # once between them; the database refuses the second (fleet.tasks.sweep_checks).
    follows_scheduled_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                     blank=True, related_name="+")
    nodes = models.ManyToManyField(Node, related_name="check_runs")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    stage = models.PositiveSmallIntegerField(default=FIRST_READINGS)
    due_at = models.DateTimeField(default=timezone.now)
    task_id = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "due_at"])]
        constraints = [models.UniqueConstraint(
            fields=["follows_scheduled_at"], condition=models.Q(trigger="schedule"),
            name="one_scheduled_check_run_after_each")]

    def __str__(self):
        return f"check run {self.pk} ({self.get_trigger_display()})"


class NodeCheck(models.Model):
    """One check of one node in one run: the raw reading, its verdict and the command's traces.

    A check that could not run or whose output could not be read is UNKNOWN,
    never PASS. `kind` is open-ended so that snapshots, restore tests and
    drills can record through the same rows and driver.
    """

    PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
    STATUSES = [(PASS, "pass"), (FAIL, "fail"), (UNKNOWN, "unknown")]
    KINDS = [("service", "service"), ("height", "block height"), ("disk", "disk"),
             ("memory", "memory"), ("time_sync", "time sync")]

    run = models.ForeignKey(CheckRun, models.CASCADE, related_name="checks")
    node = models.ForeignKey(Node, models.CASCADE, related_name="checks")
    kind = models.CharField(max_length=20, choices=KINDS)
    status = models.CharField(max_length=10, choices=STATUSES)
    reading = models.JSONField(default=dict, blank=True)  # the values read, parsed
    raw = models.TextField(blank=True)  # the command's output (an excerpt if long)
    exit_code = models.IntegerField(null=True, blank=True)  # None: it did not finish
    output_sha256 = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-checked_at", "kind"]
        constraints = [models.UniqueConstraint(fields=["run", "node", "kind"],
                                               name="one_check_per_node_kind_run")]
        indexes = [models.Index(fields=["node", "kind", "checked_at"])]

    def __str__(self):
        return f"{self.node} {self.kind}: {self.status}"
