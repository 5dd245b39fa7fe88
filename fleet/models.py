"""The fleet: the nodes that Quantumpay runs and that responses, checks and restores act on.

Core Ops keep the registry. Incidents use nodes, they do not own them; the node
driver that acts on them lives next to it (fleet.drivers).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
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
    # when it is declared, and what the registry's events record.
    DRIVER_FIELDS = ("name", "target", "unit", "data_dir")
    REGISTRY_FIELDS = ("name", "environment", "role", "target", "unit", "data_dir")

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

    trigger = models.CharField(max_length=10, choices=TRIGGERS)
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
