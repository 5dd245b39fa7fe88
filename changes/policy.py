"""The approval policy table (playbook section 5), versioned.

The policy in force is copied onto a proposal when it is submitted
(`snapshot()`), and decisions read that copy, so changing this table never
rewrites a past or running decision. Bump POLICY_VERSION with every change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from qpgov import roles

POLICY_VERSION = "2026-11-30.1"

OPS = "ops"
GOVERNANCE = "governance"
PROTOCOL = "protocol"

CATEGORY_CHOICES = [
    (OPS, "Ops (config, ports, infrastructure)"),
    (GOVERNANCE, "Governance (validators, policy)"),
    (PROTOCOL, "Protocol (core logic)"),
]

# Rules a policy can use.
ONE_APPROVAL_NO_REJECTION = "one_approval_no_rejection"
MAJORITY_OF_ROLE = "majority_of_role"

FROZEN_MESSAGE = "Protocol changes are frozen during the mainnet phase."

MIN_REVIEW_HOURS = 24
MAX_REVIEW_HOURS = 72


@dataclass(frozen=True)
class Policy:
    category: str
    approver_role: str
    vote_action: str
    rule: str
    min_hours: int = MIN_REVIEW_HOURS
    max_hours: int = MAX_REVIEW_HOURS
    frozen: bool = False


POLICIES = {
    OPS: Policy(OPS, roles.CORE_OPS, "vote_ops_change", ONE_APPROVAL_NO_REJECTION),
    GOVERNANCE: Policy(GOVERNANCE, roles.COUNCIL, "vote_governance_change", MAJORITY_OF_ROLE),
    PROTOCOL: Policy(PROTOCOL, "", "", "", frozen=True),
}


def for_category(category: str) -> Policy:
    return POLICIES[category]


def snapshot(category: str) -> dict:
    """The policy as saved on a proposal at submission."""
    return {"version": POLICY_VERSION, **asdict(POLICIES[category])}


def required_approvals(rule: str, eligible: int) -> int:
    """How many approvals a rule needs, given how many may vote at submission.

    `eligible` is the electorate: the role's active members other than the
    proposer. A proposer on the council is not a voter, so the majority is of
    the others: a council of four including the proposer needs two of three.
    """
    if rule == ONE_APPROVAL_NO_REJECTION:
        return 1
    if rule == MAJORITY_OF_ROLE:
        return eligible // 2 + 1
    raise ValueError(f"unknown rule {rule!r}")


def outcome(rule: str, required: int, eligible: int, approvals: int, rejections: int) -> str:
    """'approved', 'rejected' or 'open' for the standing votes under `rule`.

    `eligible` is the electorate now (the role's active members minus the
    proposer); `approvals` and `rejections` count only votes cast by them.
    """
    if rule == ONE_APPROVAL_NO_REJECTION:
        # Any standing rejection blocks; it outweighs any number of approvals.
        if rejections:
            return "rejected"
        return "approved" if approvals >= required else "open"
    if rule == MAJORITY_OF_ROLE:
        if approvals >= required:
            return "approved"
        # Rejected once the approvals still possible cannot reach the majority.
        if eligible - rejections < required:
            return "rejected"
        return "open"
    raise ValueError(f"unknown rule {rule!r}")
