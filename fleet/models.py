"""The fleet: the nodes that Quantumpay runs and that responses, checks and restores act on.

Core Ops keep the registry. Incidents use nodes, they do not own them; the node
driver that acts on them lives next to it (fleet.drivers).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

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
