"""What people and the sweep do to proposals.

Each function is one transaction: it locks the proposal row, checks who may act
and whether the proposal's state and window allow it, applies the change,
writes its event to the shared log, and queues e-mail for after the commit.
Callers get PermissionDenied (403) for the wrong person and Conflict (409) for
the wrong moment; either way nothing is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, F, Func, IntegerField, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from qpgov import eventlog, pagecache, roles, wording
from qpgov.http import Conflict

from . import notify, policy
from .models import CONTENT_FIELDS, Proposal, Revision, State, Vote

log = logging.getLogger(__name__)


def _locked(proposal_id: int) -> Proposal:
    return Proposal.objects.select_for_update().get(pk=proposal_id)


def _transition(proposal: Proposal, method: str, actor, now, note: str = "", *, events=None,
                **data) -> None:
    """Run an FSM transition, save, and log it with the revision hash in force.

    With `events` (a list), the event is added to it for the caller to append
    in one batch before its transaction commits; otherwise it is appended now.
    """
    before = proposal.state
    getattr(proposal, method)(now)
    proposal.updated_at = now
    proposal.save()
    event = eventlog.entry(
        proposal, "transition", actor=actor, from_state=before, to_state=proposal.state,
        note=note, revision_hash=proposal.content_hash, data=data,
    )
    if events is None:
        eventlog.append_many([event])
    else:
        events.append(event)


def electorate(proposal: Proposal):
    """Who may vote now: active holders of the approver role, never the proposer."""
    return roles.holders(proposal.policy_rules.approver_role).exclude(pk=proposal.proposer_id)


def unreachable_reason(proposal: Proposal, eligible: int | None = None) -> str | None:
    """Why the policy could never be met with `eligible` voters (default: counted now)."""
    rules = proposal.policy_rules
    if rules.frozen:
        return policy.FROZEN_MESSAGE
    if eligible is None:
        eligible = electorate(proposal).count()
    required = policy.required_approvals(rules.rule, eligible)
    if eligible < required:
        return (
            f"This proposal could never be approved: it needs {wording.count(required, 'approval')} from "
            f"{rules.approver_role}, and only {wording.count(eligible, 'member')} other than you "
            "can vote. "
            f"Ask an administrator to staff {rules.approver_role} first."
        )
    return None


# --- drafts -------------------------------------------------------------------


def create_draft(user, cleaned: dict) -> Proposal:
    roles.require(user, "propose_change")
    now = timezone.now()
    with transaction.atomic():
        proposal = Proposal(proposer=user, created_at=now, updated_at=now)
        _apply_content(proposal, cleaned)
        proposal.save()
        eventlog.append(proposal, "created", actor=user, to_state=proposal.state)
    return proposal


def update_draft(proposal_id: int, user, cleaned: dict) -> Proposal:
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _require_proposer(proposal, user)
        if proposal.state != State.DRAFT:
            raise Conflict("Only a draft can be edited. A proposal in review is changed by amending it.")
        _apply_content(proposal, cleaned)
        proposal.updated_at = timezone.now()
        proposal.save()
        eventlog.append(proposal, "edited", actor=user, data={"hash": proposal.compute_content_hash()})
    return proposal


def _apply_content(proposal: Proposal, cleaned: dict) -> None:
    for name in (*CONTENT_FIELDS, "review_hours"):
        if name in cleaned:
            setattr(proposal, name, cleaned[name])


def _require_proposer(proposal: Proposal, user) -> None:
    if proposal.proposer_id != user.pk or not roles.can(user, "propose_change"):
        raise PermissionDenied("Only the proposer may do this.")


def _new_revision(proposal: Proposal, user, now, note: str = "") -> Revision:
    proposal.revision += 1
    proposal.content_hash = proposal.compute_content_hash()
    return Revision.objects.create(
        proposal=proposal, number=proposal.revision, content=proposal.content(),
        content_hash=proposal.content_hash, author=user, note=note, created_at=now,
    )


# --- review -------------------------------------------------------------------


def submit(proposal_id: int, user) -> Proposal:
    """Open the review window: freeze the content as revision 1 and the policy in force."""
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _require_proposer(proposal, user)
        if proposal.state != State.DRAFT:
            raise Conflict(f"This proposal is {proposal.get_state_display().lower()}, not a draft.")
        if proposal.category == policy.PROTOCOL:
            raise Conflict(policy.FROZEN_MESSAGE)
        proposal.policy_in_force = policy.snapshot(proposal.category)
        # The majority is of those who may vote, counted now and kept: a
        # later change to the role never moves the bar of a running review.
        eligible = electorate(proposal).count()
        reason = unreachable_reason(proposal, eligible)
        if reason:
            raise Conflict(reason, links=[("Edit the draft", reverse("changes:edit", args=[proposal.pk]))])
        proposal.required_approvals = policy.required_approvals(
            proposal.policy_rules.rule, eligible
        )
        _new_revision(proposal, user, now)
        _transition(proposal, "submit", user, now, policy=proposal.policy_in_force,
                    required_approvals=proposal.required_approvals,
                    eligible_at_submission=eligible)
        notify.on_commit(notify.review_opened, proposal.pk)
    return proposal


def withdraw(proposal_id: int, user, note: str = "") -> Proposal:
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _require_proposer(proposal, user)
        if not proposal.is_open:
            raise Conflict(f"This proposal is already {proposal.get_state_display().lower()}.")
        _transition(proposal, "withdraw", user, now, note=note)
    return proposal


def amend(proposal_id: int, user, cleaned: dict, note: str) -> Proposal:
    """Replace the content under review: new revision, earlier votes set aside, window restarts."""
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _require_proposer(proposal, user)
        if not proposal.window_is_open(now):
            raise Conflict("Only a proposal whose review window is open can be amended.")
        old_hash = proposal.content_hash
        cleaned = {k: v for k, v in cleaned.items() if k != "category"}
        _apply_content(proposal, cleaned)
        if proposal.compute_content_hash() == old_hash:
            raise Conflict("The amendment changes nothing; the proposal is as it was.")
        set_aside = proposal.votes.filter(revision=proposal.revision).count()
        _new_revision(proposal, user, now, note=note)
        proposal.open_window(now)
        proposal.updated_at = now
        proposal.save()
        eventlog.append(
            proposal, "amended", actor=user, note=note, revision_hash=proposal.content_hash,
            data={"revision": proposal.revision, "previous_hash": old_hash,
                  "votes_set_aside": set_aside, "deadline": proposal.deadline.isoformat()},
        )
        notify.on_commit(notify.review_opened, proposal.pk)
    return proposal


def may_vote(proposal: Proposal, user) -> bool:
    """Role and four-eyes check only; the window and state are checked by cast_vote."""
    action = proposal.policy_rules.vote_action
    return bool(action) and roles.can(user, action) and proposal.proposer_id != user.pk


def cast_vote(proposal_id: int, user, choice: str, reason: str, revision_hash: str) -> Vote:
    """Record or change `user`'s vote on the current revision."""
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if proposal.proposer_id == user.pk:
            raise PermissionDenied("You cannot vote on your own proposal.")
        if not may_vote(proposal, user):
            raise PermissionDenied(
                f"Only {proposal.policy_rules.approver_role or 'nobody'} may vote on this proposal."
            )
        if proposal.state != State.IN_REVIEW:
            raise Conflict(f"Voting is closed: the proposal is {proposal.get_state_display().lower()}.")
        if not proposal.window_is_open(now):
            raise Conflict("Voting is closed: the review window has ended.")
        if revision_hash != proposal.content_hash:
            raise Conflict(
                "The proposal was amended after you loaded it. Read the new revision and vote again."
            )
        if choice == Vote.REJECT and not reason.strip():
            raise Conflict("A rejection needs a reason.")
        vote, created = Vote.objects.get_or_create(
            proposal=proposal, voter=user, revision=proposal.revision,
            defaults={"choice": choice, "reason": reason, "revision_hash": revision_hash,
                      "cast_at": now},
        )
        if created:
            kind, data = "vote", {"choice": choice}
        elif vote.choice == choice and vote.reason == reason:
            return vote  # the same vote again: nothing to record
        else:
            data = {"choice": choice, "previous_choice": vote.choice}
            vote.choice, vote.reason, vote.changed_at = choice, reason, now
            vote.save(update_fields=["choice", "reason", "changed_at"])
            kind = "vote_changed"
        eventlog.append(proposal, kind, actor=user, note=reason,
                        revision_hash=proposal.content_hash, data=data)
    return vote


@dataclass(frozen=True)
class Tally:
    """The votes on the current revision, as the decision counts them.

    Only the current electorate's votes count. Anyone else's vote (a voter
    since deactivated or removed from the role) is set aside, with the reasons.
    """

    approvals: int
    rejections: int
    eligible: int  # the electorate now
    set_aside: tuple[dict, ...]  # {"voter", "voter_id", "choice", "reasons"}, in casting order

    def event_data(self, required: int) -> dict:
        return {"approvals": self.approvals, "rejections": self.rejections,
                "required": required, "eligible": self.eligible,
                "set_aside": list(self.set_aside)}


def tally(proposal: Proposal) -> Tally:
    """Count the current revision's votes against the electorate as it is now.

    The votes, each voter's standing and the electorate's size come from one
    statement, so from one snapshot: a role change committed meanwhile is seen
    wholly or not at all, never as a departed voter's vote without their seat.
    """
    role = proposal.policy_rules.approver_role
    holds_role = roles.holders(role, include_inactive=True).filter(pk=OuterRef("voter_id"))
    votes = list(
        proposal.votes.filter(revision=proposal.revision)
        .annotate(holds_role=Exists(holds_role), eligible=_electorate_size(proposal))
        .order_by("cast_at", "pk")
        .values("voter_id", "voter__username", "voter__is_active", "choice", "holds_role",
                "eligible")
    )
    # No votes, nothing to be inconsistent with: the size alone will do.
    eligible = votes[0]["eligible"] if votes else electorate(proposal).count()
    counted, set_aside = [], []
    for v in votes:
        reasons = _set_aside_reasons(proposal, role, v)
        if reasons:
            set_aside.append({"voter": v["voter__username"], "voter_id": v["voter_id"],
                              "choice": v["choice"], "reasons": reasons})
        else:
            counted.append(v["choice"])
    return Tally(counted.count(Vote.APPROVE), counted.count(Vote.REJECT), eligible,
                 tuple(set_aside))


def _electorate_size(proposal: Proposal) -> Subquery:
    """The electorate's size as a scalar subquery, to read in the same statement as the votes."""
    count = Func(F("pk"), function="COUNT", output_field=IntegerField())
    return Subquery(electorate(proposal).order_by().annotate(n=count).values("n")[:1])


def _set_aside_reasons(proposal: Proposal, role: str, vote: dict) -> list[str]:
    """Why a vote does not count now; empty if its voter is in the electorate."""
    reasons = []
    if not vote["voter__is_active"]:
        reasons.append("deactivated")
    if not vote["holds_role"]:
        reasons.append(f"no longer holds {role}")
    if vote["voter_id"] == proposal.proposer_id:
        reasons.append("is the proposer")
    return reasons


def current_outcome(proposal: Proposal, counted: Tally | None = None) -> str:
    counted = counted or tally(proposal)
    return policy.outcome(
        proposal.policy_rules.rule, proposal.required_approvals,
        counted.eligible, counted.approvals, counted.rejections,
    )


# --- decisions (the beat sweep only) -------------------------------------------------


def due_decision(proposal: Proposal, now, counted: Tally | None = None) -> tuple[str, str] | None:
    """The transition due now and its note, or None. Reads only, writes nothing.

    The sweep takes what it returns; a page uses it only to say that a
    decision is due and being taken (reading a page never decides).
    """
    if proposal.state == State.APPROVED and proposal.lapses_at and now >= proposal.lapses_at:
        return "lapse", "Approval lapsed: not implemented in time."
    if not proposal.decision_is_due(now):
        return None
    result = current_outcome(proposal, counted)
    if result == "approved":
        return "approve", "Policy met."
    if result == "rejected":
        return "reject", "Policy cannot be met."
    if now >= proposal.deadline:
        return "expire", "Review deadline passed without meeting the policy."
    return None


def decide(proposal_id: int, now=None) -> str | None:
    """Take the decision that is due for one proposal, exactly once.

    Returns the new state, or None when nothing was due. Two sweeps racing on
    the same proposal serialise on the row lock; the second finds the state
    already moved on and does nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        events: list[dict] = []
        state = _decide_locked(proposal_id, now, events)
        eventlog.append_many(events)
    return state


def _decide_locked(proposal_id: int, now, events: list) -> str | None:
    """The body of `decide`, inside the caller's transaction; its event goes into `events`."""
    proposal = _locked(proposal_id)
    # Counted under the row lock, at the moment of deciding: no vote can land
    # in between, and a voter who left the electorate since voting is set aside.
    counted = tally(proposal) if proposal.decision_is_due(now) else None
    step = due_decision(proposal, now, counted)
    if step is None:
        return None
    method, note = step
    data = counted.event_data(proposal.required_approvals) if counted else {}
    _transition(proposal, method, None, now, events=events, note=note, **data)
    if method != "lapse":
        notify.on_commit(notify.decision, proposal.pk)
    return proposal.state


def due_ids(now):
    """Ids of proposals whose decision or lapse is due. Both conditions are indexed.

    In id order, so two sweeps lock the proposals of a batch in the same order.
    """
    return Proposal.objects.filter(
        Q(state=State.IN_REVIEW, earliest_decision_at__lte=now)
        | Q(state=State.APPROVED, lapses_at__lte=now)
    ).order_by("pk").values_list("pk", flat=True)


# Decisions per transaction in the sweep: one lock of the chain head and one
# commit for the batch, while locking few enough proposals that a voter on one
# of them waits only briefly.
SWEEP_BATCH = 100


def decide_due(now=None) -> dict:
    """The sweep: decide every due proposal, SWEEP_BATCH to a transaction."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    due = list(due_ids(now))
    for start in range(0, len(due), SWEEP_BATCH):
        batch = due[start:start + SWEEP_BATCH]
        try:
            with transaction.atomic():
                events: list[dict] = []
                decided = [_decide_locked(proposal_id, now, events) for proposal_id in batch]
                eventlog.append_many(events)
        except Exception:
            # One proposal that cannot be decided must not hold back the rest
            # of its batch at every sweep: decide them one by one instead.
            log.exception("a sweep batch failed; deciding its %d proposals one by one", len(batch))
            decided = [_decide_alone(proposal_id, now) for proposal_id in batch]
        for state in filter(None, decided):
            counts[state] = counts.get(state, 0) + 1
    counts["reminded"] = send_due_reminders(now)
    return counts


def _decide_alone(proposal_id: int, now) -> str | None:
    try:
        return decide(proposal_id, now)
    except Exception:
        log.exception("could not decide proposal %s", proposal_id)
        return None


def send_due_reminders(now) -> int:
    """Remind approvers who have not voted, 12 h before the deadline, once per window."""
    sent = 0
    due = Proposal.objects.filter(
        state=State.IN_REVIEW, reminder_sent_at=None,
        deadline__lte=now + notify.REMINDER_BEFORE, deadline__gt=now,
    ).values_list("pk", flat=True)
    for proposal_id in list(due):
        # Claim the reminder with a conditional update so two sweeps send it once.
        claimed = Proposal.objects.filter(pk=proposal_id, reminder_sent_at=None).update(
            reminder_sent_at=now
        )
        if claimed:
            transaction.on_commit(lambda pk=proposal_id: notify.reminder(pk))
            sent += 1
    return sent


# --- after approval ----------------------------------------------------------------


def record_implementation(proposal_id: int, user, cleaned: dict) -> Proposal:
    roles.require(user, "record_implementation")
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if proposal.state != State.APPROVED:
            raise Conflict(
                f"Only an approved proposal can be implemented; this one is "
                f"{proposal.get_state_display().lower()}."
            )
        if proposal.lapses_at and now >= proposal.lapses_at:
            raise Conflict("The approval has lapsed; submit the change again.")
        proposal.implemented_by = user
        proposal.implemented_at = cleaned["performed_at"]
        proposal.verification_notes = cleaned["verification_notes"]
        proposal.public_changelog = cleaned["public_changelog"]
        proposal.rollback_notes = cleaned.get("rollback_notes", "")
        method = "mark_rolled_back" if cleaned["outcome"] == "rolled_back" else "mark_implemented"
        _transition(proposal, method, user, now, note=cleaned["verification_notes"],
                    performed_at=cleaned["performed_at"].isoformat(),
                    public_changelog=cleaned["public_changelog"])
        pagecache.touch("changes:public")
    return proposal
