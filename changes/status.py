"""Where a proposal stands, in one or two sentences: what has happened, what is still
needed, and when the decision will be taken.

It reads the same count the decision takes (`services.tally`, only the current
electorate's votes) and the same rule (`policy.outcome`, `services.due_decision`),
so the page can never promise what the sweep will not do. Decisions are taken only
by the beat sweep, never by reading a page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import freezes, policy, services
from .models import Proposal, State


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _count(n: int, word: str) -> str:
    if n == 0:
        return f"no {word}"
    return f"{n} {word}{'' if n == 1 else 's'}"


def status_line(proposal: Proposal, now: datetime, counted: services.Tally | None = None,
                windows: list | None = None) -> str:
    """The proposal's standing as a sentence a person can act on.

    `windows`, if given, are the freeze windows (`freezes.windows`) over at least
    `now` to its earliest decision, already read by the caller.
    """
    p = proposal

    def active(at):
        return None if windows is None else [w for w in windows if w.in_force(at)]

    state = p.state
    if state == State.DRAFT:
        return "Draft: only you can see it. Submit it for review to open the review window."
    if state == State.APPROVED:
        line = (f"Approved {_at(p.decided_at)}. Waiting for Core Ops to record the "
                f"implementation; the approval lapses {_at(p.lapses_at)} if it is not done by then.")
        if held := freezes.holding(p, now, active(now)):
            line += f" Nothing is implemented while {_held(held)} holds it."
        return line
    if state == State.IN_REVIEW and p.is_emergency_review:
        return _emergency_line(p, now, counted or services.tally(p))
    if state == State.RATIFIED:
        return "Implemented as an emergency change and ratified; it is on the public change log."
    if state == State.UNRATIFIED:
        return (f"Not ratified {_at(p.updated_at)}: a rollback is required. Core Ops carry out "
                "its rollback plan and record the rollback.")
    if state not in (State.IN_REVIEW, State.IN_RATIFICATION):
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
    ratifying = state == State.IN_RATIFICATION
    if ratifying:
        happened = f"Implemented as an emergency change; in its ratification review. {happened}"
    if services.due_decision(p, now, counted) is not None:
        return f"{happened} The decision is due and is being taken (the sweep runs every minute)."
    outcome = services.current_outcome(p, counted)
    decided_at = max(p.earliest_decision_at, now)
    # A freeze in force when the decision falls due holds it: say so, never a time it will not keep.
    held = services.decision_held_by(p, decided_at, active(decided_at))
    when = f"when {_held(held)} ends" if held else f"at {_at(decided_at)}"
    wait = (" The review window keeps running and votes still count; the decision waits."
            if held and now < p.deadline else "")
    if outcome == "approved":
        unless = "someone rejects" if one_blocks else "votes change"
        verb = "Ratified" if ratifying else "Approved"
        return (f"{happened} Policy met. {verb} automatically {when} unless {unless} before "
                f"then.{wait}")
    if outcome == "rejected":
        why = ("A standing rejection blocks it" if one_blocks
               else "Too few voters remain to reach the majority")
        verb = "Not ratified (rollback required)" if ratifying else "Rejected automatically"
        return f"{why}. {verb} {when} unless votes change before then.{wait}"
    still = p.required_approvals - counted.approvals
    needed = f"Still needed: {_count(still, 'more approval')} from {role}"
    needed += " and no rejection." if one_blocks else f" (a majority: {p.required_approvals})."
    parts = [happened, needed]
    if held and now >= p.deadline:
        return (f"{happened} The review closed {_at(p.deadline)} without meeting the policy: it "
                f"expires when {_held(held)} ends.")
    if p.earliest_decision_at > now:
        parts.append(f"No decision before {_at(p.earliest_decision_at)}.")
    if held:
        parts.append(f"The decision is held by {_held(held)}.")
    if ratifying:
        parts.append(f"If it is not ratified by {_at(p.deadline)}, a rollback is required.")
    else:
        parts.append(f"If the policy is not met by {_at(p.deadline)}, the proposal expires.")
    return " ".join(parts)


def _held(found) -> str:
    """The freezes holding a decision, each with when it ends."""
    return "; ".join(f"{w.name} ({w.until})" for w in found)


def _emergency_line(p: Proposal, now: datetime, counted: services.Tally) -> str:
    """An emergency change: two Core Ops at once, or it becomes a normal Ops review."""
    still = p.required_approvals - counted.approvals
    return (f"Emergency change: {_count(counted.approvals, 'approval')} from Core Ops; "
            f"{_count(counted.rejections, 'rejection')}. Still needed: "
            f"{_count(still, 'more approval')} from Core Ops other than the proposer, with no "
            "waiting period; the second approval approves it at once. Without them by "
            f"{_at(p.deadline)}, or once INC-{p.incident_id} is no longer open, it becomes a "
            "normal Ops review (it does not expire).")
