"""Words for numbers on pages and in notes: "1 node", "3 deliveries", never "node(s)"."""


def count(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in the right number: count(1, "try", "tries") == "1 try"."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


# What each event-log kind means, as the timelines and histories show it. The log
# keeps the code (it is hashed); pages show these words. A kind missing here is
# shown with its underscores turned into spaces.
EVENT_TITLES = {
    # Change control.
    "created": "draft created",
    "edited": "draft edited",
    "transition": "state changed",
    "vote": "vote cast",
    "vote_changed": "vote changed",
    "amended": "amended",
    "votes_set_aside": "votes set aside",
    "reminded": "approvers reminded",
    "decision_held": "decision held by a freeze",
    # Incident response.
    "declared": "declared",
    "detected": "detected",
    "responding": "response started",
    "contained": "contained",
    "resolved": "resolved",
    "step_started": "step started",
    "step_succeeded": "step done",
    "step_retry_scheduled": "step failed; it will be tried again",
    "step_needs_human": "step needs a human",
    "step_retried": "step retried by a responder",
    "step_skipped": "step skipped",
    "step_lease_expired": "step's worker went silent; it will be tried again",
    "redispatched": "step sent to a worker again",
    "node_frozen": "node frozen",
    "node_unfrozen": "node started again",
    "unfreeze_confirmed": "node start confirmed",
    "unfreeze_failed": "node could not be started",
    "evidence_collected": "evidence collected",
    "manifest": "evidence manifest stored",
    "governance_notified": "Governance Council notified",
    "council_reminded": "Governance Council reminded",
    "acknowledged": "acknowledged",
    "postmortem_drafted": "post-mortem drafted",
    "postmortem_edited": "post-mortem edited",
    "postmortem_submitted": "submitted for council review",
    "postmortem_sent_back": "sent back to its authors",
    "postmortem_published": "post-mortem published",
    "amendment_published": "amendment published",
    "compliance_overridden": "check findings overridden",
    "roles_changed": "roles changed",
    # The fleet registry.
    "node_added": "node added",
    "node_changed": "node settings changed",
    "node_deleted": "node deleted",
}


def event_title(kind: str) -> str:
    return EVENT_TITLES.get(kind, kind.replace("_", " "))


def state_name(state: str) -> str:
    """A stored state code as words: "in_review" -> "in review"."""
    return (state or "").replace("postmortem", "post-mortem").replace("_", " ")
