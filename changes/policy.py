"""The approval policy table (playbook section 5), versioned.

The policy in force is copied onto a proposal when it is submitted
(`snapshot()`), and decisions read that copy, so changing this table never
rewrites a past or running decision. Bump POLICY_VERSION with every change.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, replace

from qpgov import roles

POLICY_VERSION = "2026-11-30.2"

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
# An emergency change: two Core Ops other than the proposer, no waiting period,
# any standing Core Ops rejection blocks (ITIL's emergency CAB, in small).
EMERGENCY_RULE = "two_approvals_no_rejection"

FROZEN_MESSAGE = "Protocol changes are frozen during the mainnet phase."

MIN_REVIEW_HOURS = 24
MAX_REVIEW_HOURS = 72
# An emergency change not approved within this many hours falls back to a
# normal Ops review (as a Cosmos expedited proposal falls back to a normal one).
EMERGENCY_WINDOW_HOURS = 4


@dataclass(frozen=True)
class Policy:
    category: str
    approver_role: str
    vote_action: str
    rule: str
    min_hours: int = MIN_REVIEW_HOURS
    max_hours: int = MAX_REVIEW_HOURS
    frozen: bool = False
    reason: str = ""  # why it is routed to these approvers, when not by its category alone


POLICIES = {
    OPS: Policy(OPS, roles.CORE_OPS, "vote_ops_change", ONE_APPROVAL_NO_REJECTION),
    GOVERNANCE: Policy(GOVERNANCE, roles.COUNCIL, "vote_governance_change", MAJORITY_OF_ROLE),
    PROTOCOL: Policy(PROTOCOL, "", "", "", frozen=True),
}


EMERGENCY = Policy(OPS, roles.CORE_OPS, "approve_emergency_change", EMERGENCY_RULE,
                   min_hours=0, max_hours=EMERGENCY_WINDOW_HOURS,
                   reason="Emergency change: two Core Ops other than the proposer, no waiting "
                          "period; ratified by a normal review after it is implemented.")

# Config keys whose change can alter block production or state transitions
# (playbook section 1). An Ops change touching one goes to the Governance
# Council. Shell-style patterns; bump the version with every change.
# 2026-12-07.1: keys named in the proposal's text count too, not only the declared ones.
CONSENSUS_KEYS_VERSION = "2026-12-07.1"
CONSENSUS_SENSITIVE_KEYS = (
    "consensus.*",
    "genesis.*",
    "state_sync.*",
    "app.halt_height",
    "app.halt_time",
    "app.pruning*",
    "app.min_gas_prices",
    "mempool.max_tx_bytes",
    "mempool.max_txs_bytes",
    "block.max_bytes",
    "block.max_gas",
    "evidence.*",
)


def for_category(category: str) -> Policy:
    return POLICIES[category]


def parse_keys(config_keys: str) -> list[str]:
    return [k.strip().lower() for k in (config_keys or "").split(",") if k.strip()]


def sensitive_keys(config_keys: str) -> list[str]:
    """The keys in `config_keys` that the consensus-sensitive list names."""
    return [key for key in parse_keys(config_keys)
            if any(fnmatch.fnmatchcase(key, pattern) for pattern in CONSENSUS_SENSITIVE_KEYS)]


# A dotted config key written anywhere in a text, e.g. `consensus.timeout_commit`.
_DOTTED_KEY = re.compile(r"(?<![\w.])[a-z0-9_]+(?:\.[a-z0-9_\-]+)+", re.IGNORECASE)


def sensitive_keys_in_text(text: str) -> list[str]:
    """Consensus-sensitive keys the text names, whether or not they are declared as config keys.

    A proposer who leaves the field empty but writes "set consensus.timeout_commit = 3s"
    in the change still changes it. A false alarm sends the change to the Council,
    the safe side.
    """
    found = dict.fromkeys(m.group(0).lower().rstrip(".-") for m in _DOTTED_KEY.finditer(text or ""))
    return sensitive_keys(", ".join(found))


def council_reasons(category: str, config_keys: str, adds_feature: bool,
                    text: str = "") -> list[str]:
    """Why an Ops change needs the Governance Council instead of Core Ops; empty if it does not.

    `text` is the proposal's written content (see `Proposal.routing_text`).
    """
    if category != OPS:
        return []
    reasons = []
    keys = sensitive_keys(config_keys)
    named = [k for k in sensitive_keys_in_text(text) if k not in keys]
    if keys or named:
        listed = ", ".join([*keys, *(f"{k} (named in its text)" for k in named)])
        reasons.append(f"it changes consensus-sensitive config {listed} "
                       f"(list {CONSENSUS_KEYS_VERSION})")
    if adds_feature:
        reasons.append("it adds a feature, and no feature is added during the mainnet phase "
                       "without governance approval")
    return reasons


def route(category: str, config_keys: str = "", adds_feature: bool = False,
          emergency: bool = False, text: str = "") -> Policy:
    """The policy for this content: its category's, unless it must go to the Council, or is
    an emergency Ops change."""
    reasons = council_reasons(category, config_keys, adds_feature, text)
    if reasons:
        return replace(POLICIES[GOVERNANCE], category=category,
                       reason="Routed to the Governance Council: " + "; ".join(reasons) + ".")
    if emergency and category == OPS:
        return EMERGENCY
    return POLICIES[category]


def snapshot(rules: Policy | str) -> dict:
    """The policy as saved on a proposal at submission."""
    if isinstance(rules, str):
        rules = POLICIES[rules]
    return {"version": POLICY_VERSION, "consensus_keys_version": CONSENSUS_KEYS_VERSION,
            **asdict(rules)}


def required_approvals(rule: str, eligible: int) -> int:
    """How many approvals a rule needs, given how many may vote at submission.

    `eligible` is the electorate: the role's active members other than the
    proposer. A proposer on the council is not a voter, so the majority is of
    the others: a council of four including the proposer needs two of three.
    """
    if rule == ONE_APPROVAL_NO_REJECTION:
        return 1
    if rule == EMERGENCY_RULE:
        return 2
    if rule == MAJORITY_OF_ROLE:
        return eligible // 2 + 1
    raise ValueError(f"unknown rule {rule!r}")


def outcome(rule: str, required: int, eligible: int, approvals: int, rejections: int) -> str:
    """'approved', 'rejected' or 'open' for the standing votes under `rule`.

    `eligible` is the electorate now (the role's active members minus the
    proposer); `approvals` and `rejections` count only votes cast by them.
    """
    if rule in (ONE_APPROVAL_NO_REJECTION, EMERGENCY_RULE):
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
