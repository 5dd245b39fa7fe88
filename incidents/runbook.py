"""The incident runbook: which steps run, in what order, and how each one retries.

This is the one place that encodes playbook section 6. Each runbook is kept
under its version; an incident copies the current version when it is declared
and is driven by that version to the end, so editing the runbook never changes
a response already under way. To change the runbook, add a new version and
point CURRENT_VERSION at it; never edit a version that incidents have used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fleet.drivers import NODE_ERRORS

FREEZE = "freeze"
PRESERVE_LOGS = "preserve_logs"
SNAPSHOT = "snapshot"
NOTIFY_GOVERNANCE = "notify_governance"
POSTMORTEM = "postmortem"

STEP_LABELS = {
    FREEZE: "Freeze affected nodes",
    PRESERVE_LOGS: "Preserve logs",
    SNAPSHOT: "Snapshot state",
    NOTIFY_GOVERNANCE: "Notify governance",
    POSTMORTEM: "Draft the post-mortem",
}

# What a successful try of each step means, in the words the incident page uses
# (the driver's exit code is in the try's output, not the headline).
STEP_DONE_WORDS = {
    FREEZE: "stopped, confirmed inactive",
    PRESERVE_LOGS: "logs saved as evidence",
    SNAPSHOT: "state saved as evidence",
    NOTIFY_GOVERNANCE: "notices delivered",
    POSTMORTEM: "draft written",
}

# Error classes: the node driver's (NODE_ERRORS, from fleet.drivers) and a
# failed delivery. Anything else that escapes a step is treated as permanent:
# a human looks at it.
DELIVERY_FAILED = "DeliveryFailed"


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step is tried and how long to wait between tries."""

    attempts: int = 3
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(minutes=10)
    transient: frozenset[str] = field(default_factory=frozenset)
    # How long one try may run before the sweep assumes its worker died.
    lease: timedelta = timedelta(minutes=15)

    def delay_after(self, attempt: int) -> timedelta:
        """Capped exponential backoff: base, 2×base, 4×base, … never above the cap."""
        return min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempt - 1)))

    def should_retry(self, error_class: str, attempts_made: int) -> bool:
        return error_class in self.transient and attempts_made < self.attempts


@dataclass(frozen=True)
class Runbook:
    version: str
    steps: tuple[str, ...]
    policies: dict[str, RetryPolicy]
    # journalctl starts this long before the detection time, to catch the lead-up.
    log_margin: timedelta
    # Council reminders until someone acknowledges, by severity.
    reminder_interval: dict[str, timedelta]

    def policy(self, kind: str) -> RetryPolicy:
        return self.policies[kind]


RUNBOOKS: dict[str, Runbook] = {
    "2026.1": Runbook(
        version="2026.1",
        steps=(FREEZE, PRESERVE_LOGS, SNAPSHOT, NOTIFY_GOVERNANCE, POSTMORTEM),
        policies={
            FREEZE: RetryPolicy(attempts=3, transient=NODE_ERRORS, lease=timedelta(minutes=5)),
            PRESERVE_LOGS: RetryPolicy(attempts=3, transient=NODE_ERRORS),
            SNAPSHOT: RetryPolicy(attempts=3, transient=NODE_ERRORS, lease=timedelta(hours=1)),
            NOTIFY_GOVERNANCE: RetryPolicy(
                attempts=5, transient=frozenset({DELIVERY_FAILED}), lease=timedelta(minutes=5)
            ),
            POSTMORTEM: RetryPolicy(attempts=1, lease=timedelta(minutes=5)),
        },
        log_margin=timedelta(minutes=30),
        reminder_interval={
            "SEV1": timedelta(minutes=15),
            "SEV2": timedelta(hours=1),
            "SEV3": timedelta(hours=4),
        },
    ),
}

CURRENT_VERSION = "2026.1"


def get(version: str | None = None) -> Runbook:
    """The runbook `version`, or the one in force for new incidents."""
    return RUNBOOKS[version or CURRENT_VERSION]
