"""Where a proposal stands, in one or two sentences: what has happened, what is still
needed, and when the decision will be taken.

It reads the same count the decision takes (`services.tally`, only the current
electorate's votes) and the same rule (`policy.outcome`, `services.due_decision`),
so the page can never promise what the sweep will not do. Decisions are taken only
by the beat sweep, never by reading a page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import policy, services
from .models import Proposal, State


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _count(n: int, word: str) -> str:
    if n == 0:
        return f"no {word}"
    return f"{n} {word}{'' if n == 1 else 's'}"


def status_line(proposal: Proposal, now: datetime, counted: services.Tally | None = None) -> str:
    """The proposal's standing as a sentence a person can act on."""
    p = proposal
    state = p.state
    if state == State.DRAFT:
        return "Draft: only you can see it. Submit it for review to open the review window."
    if state == State.APPROVED:
        return (f"Approved {_at(p.decided_at)}. Waiting for Core Ops to record the "
                f"implementation; the approval lapses {_at(p.lapses_at)} if it is not done by then.")
    if state != State.IN_REVIEW:
        when = p.decided_at or p.updated_at
        return {
            State.REJECTED: f"Rejected {_at(when)}. To try again, propose the change anew.",
            State.EXPIRED: f"Expired {_at(when)}: the policy was not met by the deadline.",
            State.WITHDRAWN: f"Withdrawn by the proposer {_at(when)}.",
            State.LAPSED: f"The approval lapsed {_at(when)}: not implemented in time.",
            State.IMPLEMENTED: "Implemented; it is on the public change log.",
            State.ROLLED_BACK: "Implemented, then rolled back; it is on the public change log.",
        }.get(state, p.get_state_display())

    counted = counted or services.tally(p)
    rules = p.policy_rules
    role = rules.approver_role
    one_blocks = rules.rule == policy.ONE_APPROVAL_NO_REJECTION
    happened = (f"{_count(counted.approvals, 'approval')} from {role}; "
                f"{_count(counted.rejections, 'rejection')}.")
    if services.due_decision(p, now, counted) is not None:
        return f"{happened} The decision is due and is being taken (the sweep runs every minute)."
    outcome = services.current_outcome(p, counted)
    decided_at = max(p.earliest_decision_at, now)
    if outcome == "approved":
        unless = "someone rejects" if one_blocks else "votes change"
        return (f"{happened} Policy met. Approved automatically at {_at(decided_at)} unless "
                f"{unless} before then.")
    if outcome == "rejected":
        why = ("A standing rejection blocks it" if one_blocks
               else "Too few voters remain to reach the majority")
        return (f"{why}. Rejected automatically at {_at(decided_at)} unless votes change "
                "before then.")
    still = p.required_approvals - counted.approvals
    needed = f"Still needed: {_count(still, 'more approval')} from {role}"
    needed += " and no rejection." if one_blocks else f" (a majority: {p.required_approvals})."
    parts = [happened, needed]
    if p.earliest_decision_at > now:
        parts.append(f"No decision before {_at(p.earliest_decision_at)}.")
    parts.append(f"If the policy is not met by {_at(p.deadline)}, the proposal expires.")
    return " ".join(parts)
