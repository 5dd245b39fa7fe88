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
from datetime import UTC

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from qpgov import eventlog, pagecache, roles, wording
from qpgov.http import Conflict
from qpgov.models import Event

from . import conflicts, content, freezes, notify, policy
from .models import (
    CONTENT_FIELDS,
    LATER_CONTENT_FIELDS,
    VOTING_STATES,
    Freeze,
    Proposal,
    Revision,
    State,
    Vote,
)

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
        _apply_nodes(proposal, cleaned)
        eventlog.append(proposal, "created", actor=user, to_state=proposal.state)
    return proposal


def update_draft(proposal_id: int, user, cleaned: dict) -> Proposal:
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _require_proposer(proposal, user)
        if proposal.state != State.DRAFT:
            raise Conflict("Only a draft can be edited. A proposal in review is changed by amending it.")
        _apply_content(proposal, cleaned)
        _apply_nodes(proposal, cleaned)
        proposal.updated_at = timezone.now()
        proposal.save()
        eventlog.append(proposal, "edited", actor=user, data={"hash": proposal.compute_content_hash()})
    return proposal


def _apply_content(proposal: Proposal, cleaned: dict) -> None:
    for name in (*CONTENT_FIELDS, *LATER_CONTENT_FIELDS, "review_hours"):
        if name in cleaned:
            setattr(proposal, name, cleaned[name])
    if "incident" in cleaned:
        proposal.incident = cleaned["incident"]


def _apply_nodes(proposal: Proposal, cleaned: dict) -> None:
    """The nodes are a relation: set once the proposal has a primary key."""
    if "nodes" in cleaned:
        proposal.nodes.set(cleaned["nodes"])


def emergency_problem(proposal: Proposal) -> str | None:
    """Why `proposal` cannot be an emergency change now, or None if it can."""
    if proposal.category != policy.OPS:
        return ("Only an Ops change can be an emergency change: Protocol changes are never "
                "emergency changes and Governance changes cannot be.")
    reasons = policy.council_reasons(proposal.category, proposal.config_keys,
                                     proposal.adds_feature, proposal.routing_text())
    if reasons:
        return ("An emergency change is approved by Core Ops alone, but this one needs the "
                "Governance Council: " + "; ".join(reasons) + ".")
    incident = proposal.incident
    if incident is None:
        return "An emergency change must link the open incident it responds to."
    if incident.state not in conflicts.OPEN_INCIDENT_STATES:
        return (f"INC-{incident.pk} is {incident.get_state_display()}: an emergency change is "
                "possible only while its incident is open.")
    node_ids = set(proposal.nodes.values_list("pk", flat=True))
    if not node_ids & set(incident.nodes.values_list("pk", flat=True)):
        return (f"INC-{incident.pk} is on none of the nodes this change touches: name the "
                "incident's nodes the change acts on.")
    return None


def content_problem(proposal: Proposal) -> str | None:
    """Why `proposal`'s content cannot go to review as it is (what the form would have said)."""
    found = content.problems(proposal)
    if not found:
        return None
    return "Not ready for review. " + " ".join(
        f"{str(Proposal._meta.get_field(name).verbose_name).capitalize()}: {message}"
        for name, message in found)


def _route(proposal: Proposal, now) -> int:
    """Fix the policy for the content as it is now; return the electorate counted for it.

    Raises Conflict if the policy could never be met. Called at submission and
    whenever the content or its classification changes who must approve it.
    """
    proposal.policy_in_force = policy.snapshot(proposal.route())
    # The majority is of those who may vote, counted now and kept: a
    # later change to the role never moves the bar of a running review.
    eligible = electorate(proposal).count()
    reason = unreachable_reason(proposal, eligible)
    if reason:
        raise Conflict(reason, links=[("Edit the draft", reverse("changes:edit", args=[proposal.pk]))])
    proposal.required_approvals = policy.required_approvals(proposal.policy_rules.rule, eligible)
    return eligible


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
        if problem := content_problem(proposal):
            raise Conflict(problem, links=[("Edit the draft",
                                            reverse("changes:edit", args=[proposal.pk]))])
        if proposal.emergency and (problem := emergency_problem(proposal)):
            raise Conflict(problem)
        eligible = _route(proposal, now)
        _new_revision(proposal, user, now)
        # What it collides with is listed now, and kept with the submission.
        found = conflicts.for_proposal(proposal)
        _transition(proposal, "submit", user, now, note=proposal.policy_rules.reason,
                    policy=proposal.policy_in_force,
                    required_approvals=proposal.required_approvals,
                    eligible_at_submission=eligible,
                    conflicts=[c.as_data() for c in found])
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
        if not (proposal.state == State.IN_REVIEW and proposal.window_is_open(now)):
            raise Conflict("Only a proposal whose review window is open can be amended.")
        old_hash = proposal.content_hash
        old_role = proposal.policy_rules.approver_role
        # The category and the emergency are fixed at submission.
        fixed = ("category", "emergency", "incident", "emergency_justification", "on_call")
        cleaned = {k: v for k, v in cleaned.items() if k not in fixed}
        _apply_content(proposal, cleaned)
        _apply_nodes(proposal, cleaned)
        if proposal.compute_content_hash() == old_hash:
            raise Conflict("The amendment changes nothing; the proposal is as it was.")
        set_aside = proposal.votes.filter(revision=proposal.revision).count()
        if problem := content_problem(proposal):
            raise Conflict(problem)
        if proposal.emergency and (problem := emergency_problem(proposal)):
            raise Conflict(problem)
        # A new config key may send it to other approvers (or back).
        _route(proposal, now)
        _new_revision(proposal, user, now, note=note)
        proposal.open_window(now)
        proposal.updated_at = now
        proposal.save()
        eventlog.append(
            proposal, "amended", actor=user, note=note, revision_hash=proposal.content_hash,
            data={"revision": proposal.revision, "previous_hash": old_hash,
                  "votes_set_aside": set_aside, "deadline": proposal.deadline.isoformat(),
                  **({"approver_role": proposal.policy_rules.approver_role,
                      "routing": proposal.policy_rules.reason}
                     if proposal.policy_rules.approver_role != old_role else {})},
        )
        notify.on_commit(notify.review_opened, proposal.pk)
    return proposal


def may_vote(proposal: Proposal, user) -> bool:
    """Role and four-eyes check only; the window and state are checked by cast_vote."""
    action = proposal.policy_rules.vote_action
    return bool(action) and roles.can(user, action) and proposal.proposer_id != user.pk


def attestation_required(proposal: Proposal) -> bool:
    """An Ops change carries a determinism attestation that every approval re-confirms."""
    return proposal.category == policy.OPS


def cast_vote(proposal_id: int, user, choice: str, reason: str, revision_hash: str,
              confirms_determinism: bool = False) -> Vote:
    """Record or change `user`'s vote on the current revision.

    The second approval of an emergency change approves it there and then,
    under the same row lock: an emergency change has no waiting period.
    """
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if proposal.proposer_id == user.pk:
            raise PermissionDenied("You cannot vote on your own proposal.")
        if not may_vote(proposal, user):
            raise PermissionDenied(
                f"Only {proposal.policy_rules.approver_role or 'nobody'} may vote on this proposal."
            )
        if proposal.state not in VOTING_STATES:
            raise Conflict(f"Voting is closed: the proposal is {proposal.get_state_display().lower()}.")
        if not proposal.window_is_open(now):
            raise Conflict("Voting is closed: the review window has ended.")
        if revision_hash != proposal.content_hash:
            raise Conflict(
                "The proposal was amended after you loaded it. Read the new revision and vote again."
            )
        if choice == Vote.REJECT and not reason.strip():
            raise Conflict("A rejection needs a reason.")
        confirmed = choice == Vote.APPROVE and attestation_required(proposal)
        if confirmed and not confirms_determinism:
            raise Conflict("An approval of an Ops change must re-confirm its determinism "
                           "attestation: that it cannot affect block production or state "
                           "transitions.")
        vote, created = Vote.objects.get_or_create(
            proposal=proposal, voter=user, revision=proposal.revision,
            defaults={"choice": choice, "reason": reason, "revision_hash": revision_hash,
                      "cast_at": now, "determinism_confirmed": confirmed},
        )
        if created:
            kind, data = "vote", {"choice": choice}
        elif vote.choice == choice and vote.reason == reason:
            return vote  # the same vote again: nothing to record
        else:
            data = {"choice": choice, "previous_choice": vote.choice}
            vote.choice, vote.reason, vote.changed_at = choice, reason, now
            vote.determinism_confirmed = confirmed
            vote.save(update_fields=["choice", "reason", "changed_at", "determinism_confirmed"])
            kind = "vote_changed"
        if confirmed:
            data["determinism_confirmed"] = True
        events = [eventlog.entry(proposal, kind, actor=user, note=reason,
                                 revision_hash=proposal.content_hash, data=data)]
        if proposal.is_emergency_review:
            _decide_locked(proposal.pk, now, events)
        eventlog.append_many(events)
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


def tallies(proposals) -> dict[int, Tally]:
    """`tally` for each of `proposals`, in three queries however many there are.

    For lists (the home page), where a tally per row would cost a query per row. It
    counts exactly as `tally` does (tests/test_home_inbox.py compares the two); the
    decision itself always uses `tally`, read in one snapshot under the row lock.
    """
    proposals = list(proposals)
    if not proposals:
        return {}
    votes = list(Vote.objects.filter(proposal__in=proposals, revision=F("proposal__revision"))
                 .order_by("cast_at", "pk")
                 .values("proposal_id", "voter_id", "voter__username", "voter__is_active",
                         "choice"))
    people = {v["voter_id"] for v in votes} | {p.proposer_id for p in proposals}
    held, active = {}, {}
    for user_id, group, is_active in (User.groups.through.objects.filter(user_id__in=people)
                                      .values_list("user_id", "group__name", "user__is_active")):
        held.setdefault(user_id, set()).add(group)
        active[user_id] = is_active
    wanted = {p.policy_rules.approver_role for p in proposals}
    size = dict(User.objects.filter(is_active=True, groups__name__in=wanted)
                .values_list("groups__name").annotate(n=Count("pk", distinct=True)))
    found = {}
    for p in proposals:
        role = p.policy_rules.approver_role
        proposer_counted = active.get(p.proposer_id) and role in held.get(p.proposer_id, ())
        counted, set_aside = [], []
        for v in (v for v in votes if v["proposal_id"] == p.pk):
            reasons = _set_aside_reasons(p, role, {**v, "holds_role": role in held.get(
                v["voter_id"], ())})
            if reasons:
                set_aside.append({"voter": v["voter__username"], "voter_id": v["voter_id"],
                                  "choice": v["choice"], "reasons": reasons})
            else:
                counted.append(v["choice"])
        found[p.pk] = Tally(counted.count(Vote.APPROVE), counted.count(Vote.REJECT),
                            size.get(role, 0) - bool(proposer_counted), tuple(set_aside))
    return found


def decision_expected_at(proposal: Proposal, now, counted: Tally):
    """When the sweep will decide `proposal` if no vote changes: as soon as the window
    allows once the policy is met or cannot be met, otherwise at the deadline.

    (A freeze may hold it longer; the proposal's page says so.)
    """
    if current_outcome(proposal, counted) in ("approved", "rejected"):
        return max(proposal.earliest_decision_at, now)
    return proposal.deadline


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


def due_decision(proposal: Proposal, now, counted: Tally | None = None,
                 active_freezes: list | None = None) -> tuple[str, str] | None:
    """The transition due now and its note, or None. Reads only, writes nothing.

    The sweep takes what it returns; a page uses it only to say that a
    decision is due and being taken (reading a page never decides).
    """
    if proposal.state == State.APPROVED and proposal.lapses_at and now >= proposal.lapses_at:
        return "lapse", "Approval lapsed: not implemented in time."
    if not proposal.decision_is_due(now):
        return None
    if proposal.state == State.IN_RATIFICATION:
        return _due_ratification(proposal, now, counted)
    if proposal.is_emergency_review:
        return _due_emergency(proposal, now, counted)
    if freezes.holding(proposal, now, active_freezes):
        return None  # the decision waits until the freeze ends; the window keeps running
    result = current_outcome(proposal, counted)
    if result == "approved":
        return "approve", "Policy met."
    if result == "rejected":
        return "reject", "Policy cannot be met."
    if now >= proposal.deadline:
        return "expire", "Review deadline passed without meeting the policy."
    return None


def _due_emergency(proposal: Proposal, now, counted: Tally | None) -> tuple[str, str] | None:
    """Two Core Ops approve it at once; without them, or once its incident is over, it
    falls back to a normal Ops review (like a Cosmos expedited proposal)."""
    if proposal.incident.state not in conflicts.OPEN_INCIDENT_STATES:
        return "fall_back", (f"INC-{proposal.incident_id} is no longer open: reviewed as a "
                             "normal Ops change.")
    result = current_outcome(proposal, counted)
    if result == "approved":
        return "approve_emergency", "Emergency change approved by two Core Ops."
    if result == "rejected":
        return "reject", "Policy cannot be met: a Core Ops member rejected the emergency change."
    if now >= proposal.deadline:
        return "fall_back", ("Not approved by two Core Ops within the emergency window: "
                             "reviewed as a normal Ops change.")
    return None


def _due_ratification(proposal: Proposal, now, counted: Tally | None) -> tuple[str, str] | None:
    result = current_outcome(proposal, counted)
    if result == "approved":
        return "ratify", "Emergency change ratified."
    if result == "rejected":
        return "unratify", "Not ratified: rollback required, and the Council is notified."
    if now >= proposal.deadline:
        return "unratify", ("Not ratified by the deadline: rollback required, and the Council "
                            "is notified.")
    return None


def decision_held_by(proposal: Proposal, now, active_freezes: list | None = None) -> list:
    """The freezes that hold a due decision of `proposal` now (for its page)."""
    if proposal.state != State.IN_REVIEW or proposal.is_emergency_review:
        return []
    if not proposal.decision_is_due(now):
        return []
    return freezes.holding(proposal, now, active_freezes)


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


def _decide_locked(proposal_id: int, now, events: list,
                   active_freezes: list | None = None, holds: dict | None = None) -> str | None:
    """The body of `decide`, inside the caller's transaction; its event goes into `events`.

    `active_freezes`, if given, was read after this proposal's row was locked:
    a freeze declared meanwhile locks the proposals it may hold first (see
    `declare_freeze`), so it is either seen here or committed after this decision.
    `holds`, if given, is `_holds_of` for the batch, read under the same locks.
    """
    proposal = _locked(proposal_id)
    # Counted under the row lock, at the moment of deciding: no vote can land
    # in between, and a voter who left the electorate since voting is set aside.
    counted = tally(proposal) if proposal.decision_is_due(now) else None
    step = due_decision(proposal, now, counted, active_freezes)
    if step is None:
        _log_hold(proposal, now, events, active_freezes)
        return None
    method, note = step
    data = counted.event_data(proposal.required_approvals) if counted else {}
    if method in ("approve", "reject", "expire"):
        # The decision names the freezes that made it wait (logged by _log_hold).
        logged = _holds_of([proposal.pk])[proposal.pk] if holds is None else holds[proposal.pk]
        held_by = [h["freeze"] for h in logged if h["revision"] == proposal.revision]
        if held_by:
            data["held_by"] = held_by
            note += f" The decision waited for {'; '.join(held_by)}."
    if method == "fall_back":
        # The votes cast stay (the same revision); the normal window runs from the
        # submission, as a failed expedited proposal keeps its voting start.
        emergency_policy = proposal.policy_in_force
        proposal.emergency = False
        try:
            _route(proposal, now)
        except Conflict as exc:
            # Core Ops has shrunk so far that a normal review could never approve it
            # either: it expires with the reason, rather than failing every sweep.
            proposal.emergency, proposal.policy_in_force = True, emergency_policy
            method, note = "expire", f"{note.rstrip('.')}, but it cannot be. {exc}"
        else:
            proposal.open_window(proposal.window_opens_at)
            data = {**data, "policy": proposal.policy_in_force,
                    "required_approvals": proposal.required_approvals,
                    "deadline": proposal.deadline.isoformat()}
    _transition(proposal, method, None, now, events=events, note=note, **data)
    if method == "unratify":
        pagecache.touch("changes:public")
        notify.on_commit(notify.unratified, proposal.pk)
    elif method == "ratify":
        pagecache.touch("changes:public")
    elif method not in ("lapse", "fall_back"):
        notify.on_commit(notify.decision, proposal.pk)
    return proposal.state


def _holds(proposal: Proposal):
    return Event.objects.for_subject(proposal).filter(kind="decision_held")


def _holds_of(proposal_ids) -> dict[int, list[dict]]:
    """The freezes logged as holding each proposal's decision, in one query."""
    found: dict[int, list[dict]] = {pk: [] for pk in proposal_ids}
    rows = (Event.objects.filter(subject_type=Proposal._meta.label_lower,
                                 subject_id__in=list(proposal_ids), kind="decision_held")
            .order_by("seq").values_list("subject_id", "data"))
    for subject_id, data in rows:
        found[subject_id].append(data)
    return found


def _log_hold(proposal: Proposal, now, events: list, active_freezes: list | None) -> None:
    """Put on the log, once per freeze, that a freeze holds this due decision.

    The freeze itself is not copied: the event names it and says what it did. Under
    the row lock, so two sweeps cannot both find it unlogged.
    """
    for window in decision_held_by(proposal, now, active_freezes):
        if _holds(proposal).filter(data__freeze_kind=window.kind,
                                   data__freeze_id=window.pk).exists():
            continue
        events.append(eventlog.entry(
            proposal, "decision_held", revision_hash=proposal.content_hash,
            note=f"The decision is due, but {window.name} holds it ({window.until}). The "
                 "review window keeps running; the decision is taken when the freeze ends.",
            data={"freeze_kind": window.kind, "freeze_id": window.pk, "freeze": window.name,
                  "revision": proposal.revision},
        ))


def due_ids(now):
    """Ids of proposals whose decision or lapse is due. Both conditions are indexed.

    In id order, so two sweeps lock the proposals of a batch in the same order.
    """
    return Proposal.objects.filter(
        Q(state__in=VOTING_STATES, earliest_decision_at__lte=now)
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
                # Lock the batch (in id order) before reading the freezes in force once for it.
                list(Proposal.objects.select_for_update().filter(pk__in=batch).order_by("pk")
                     .values_list("pk", flat=True))
                active = freezes.in_force(now)
                holds = _holds_of(batch)
                decided = [_decide_locked(proposal_id, now, events, active, holds)
                           for proposal_id in batch]
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
        state__in=VOTING_STATES, reminder_sent_at=None,
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


def record_implementation(proposal_id: int, user, cleaned: dict, now=None) -> Proposal:
    """Record the outcome of an approved change. `now` is for the demo history only, which
    takes decisions ahead of the clock (as `decide` allows) and records them then."""
    roles.require(user, "record_implementation")
    now = now or timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if proposal.state != State.APPROVED:
            raise Conflict(
                f"Only an approved proposal can be implemented; this one is "
                f"{proposal.get_state_display().lower()}."
            )
        if proposal.lapses_at and now >= proposal.lapses_at:
            raise Conflict("The approval has lapsed; submit the change again.")
        held = freezes.holding(proposal, now)
        if held:
            raise Conflict(f"A change freeze is in force: {freezes.names(held)}. Nothing is "
                           "implemented until it ends or is lifted.")
        if problem := implementation_time_problem(proposal, cleaned["performed_at"], now):
            raise Conflict(problem)
        found = conflicts.for_proposal(proposal)
        conflict_reason = (cleaned.get("conflict_reason") or "").strip()
        if found and not conflict_reason:
            raise Conflict("This change has unresolved conflicts: "
                           + " ".join(c.text for c in found)
                           + " Implementing over them needs a written reason.")
        proposal.implemented_by = user
        proposal.implemented_at = cleaned["performed_at"]
        proposal.verification_notes = cleaned["verification_notes"]
        proposal.public_changelog = cleaned["public_changelog"]
        proposal.rollback_notes = cleaned.get("rollback_notes", "")
        extra = {}
        note = cleaned["verification_notes"]
        if found:
            extra = {"conflicts": [c.as_data() for c in found], "conflict_reason": conflict_reason}
            note += f"\nImplemented over {wording.count(len(found), 'conflict')}: {conflict_reason}"
        data = {"performed_at": cleaned["performed_at"].isoformat(),
                "public_changelog": cleaned["public_changelog"], **extra}
        if cleaned["outcome"] == "rolled_back":
            _transition(proposal, "mark_rolled_back", user, now, note=note, **data)
        elif proposal.emergency:
            _begin_ratification(proposal, user, now, note, data)
        else:
            _transition(proposal, "mark_implemented", user, now, note=note, **data)
        pagecache.touch("changes:public")
    return proposal


def implementation_time_problem(proposal: Proposal, performed_at, now) -> str | None:
    """Why work on `proposal` cannot have been done at `performed_at`, or None.

    Not in the future, not before the approval (to the minute, as the form takes
    times), and not while a freeze in scope was in force: a freeze forbids the
    work, not only recording it, so work done during one is refused once it ends too.
    """
    if performed_at > now:
        return f"{_at(performed_at)} is in the future: record work once it is done."
    approved = proposal.decided_at and proposal.decided_at.replace(second=0, microsecond=0)
    if approved and performed_at < approved:
        return (f"{_at(performed_at)} is before the approval ({_at(proposal.decided_at)}): "
                "work done before a change was approved is not this change's implementation.")
    held = freezes.holding(proposal, performed_at)
    if held:
        return (f"At {_at(performed_at)} a change freeze was in force: {freezes.names(held)}. "
                "Nothing in its scope may be implemented during a freeze.")
    return None


def rollback_time_problem(proposal: Proposal, performed_at, now) -> str | None:
    """Why the rollback of `proposal` cannot have been done at `performed_at`, or None.

    A rollback repairs; a freeze does not hold it. It only cannot be in the future
    or before the implementation it undoes.
    """
    if performed_at > now:
        return f"{_at(performed_at)} is in the future: record the rollback once it is done."
    implemented = proposal.implemented_at
    if implemented and performed_at < implemented.replace(second=0, microsecond=0):
        return (f"{_at(performed_at)} is before the implementation it rolls back "
                f"({_at(implemented)}).")
    return None


def _at(moment) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _begin_ratification(proposal: Proposal, user, now, note: str, data: dict) -> None:
    """The implemented emergency change enters its retrospective review: the usual
    category rules, a fresh set of votes on a new revision, a 72-hour deadline."""
    rules = policy.route(proposal.category, proposal.config_keys, proposal.adds_feature,
                         text=proposal.routing_text())
    proposal.policy_in_force = policy.snapshot(rules)
    eligible = electorate(proposal).count()
    proposal.required_approvals = policy.required_approvals(rules.rule, eligible)
    proposal.review_hours = policy.MAX_REVIEW_HOURS
    _new_revision(proposal, user, now,
                  note="Retrospective review of the implemented emergency change.")
    _transition(proposal, "begin_ratification", user, now,
                note="Implemented as an emergency change; ratification review opened. " + note,
                policy=proposal.policy_in_force, required_approvals=proposal.required_approvals,
                eligible_at_submission=eligible, **data)
    notify.on_commit(notify.review_opened, proposal.pk)


def record_rollback(proposal_id: int, user, cleaned: dict) -> Proposal:
    """The rollback of an emergency change that was not ratified: the record it requires."""
    roles.require(user, "record_implementation")
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if proposal.state != State.UNRATIFIED:
            raise Conflict("Only an emergency change that was not ratified needs a rollback "
                           f"record; this one is {proposal.get_state_display().lower()}.")
        if problem := rollback_time_problem(proposal, cleaned["performed_at"], now):
            raise Conflict(problem)
        proposal.rollback_recorded_by = user
        proposal.rollback_recorded_at = cleaned["performed_at"]
        proposal.rollback_notes = cleaned["rollback_notes"]
        _transition(proposal, "mark_rolled_back", user, now, note=cleaned["rollback_notes"],
                    performed_at=cleaned["performed_at"].isoformat(), unratified=True)
        pagecache.touch("changes:public")
    return proposal


def reclassify(proposal_id: int, user, adds_feature: bool, reason: str,
               revision_hash: str) -> Proposal:
    """An approver says the change does (or does not) add a feature. New approvers may
    follow (a feature needs the Council); the window restarts and it is logged.

    Like a vote, it binds to the revision the approver read (`revision_hash`).
    """
    now = timezone.now()
    with transaction.atomic():
        proposal = _locked(proposal_id)
        if not may_vote(proposal, user):
            raise PermissionDenied(
                f"Only {proposal.policy_rules.approver_role or 'nobody'} may reclassify this "
                "proposal.")
        if not (proposal.state == State.IN_REVIEW and proposal.window_is_open(now)):
            raise Conflict("Only a proposal whose review window is open can be reclassified.")
        if revision_hash != proposal.content_hash:
            raise Conflict("The proposal was amended after you loaded it. Read the new revision "
                           "and reclassify it again if you still think so.")
        if proposal.adds_feature == adds_feature:
            raise Conflict("The proposal is already classified so.")
        old_role = proposal.policy_rules.approver_role
        proposal.adds_feature = adds_feature
        note = ("Reclassified as adding a feature: " if adds_feature
                else "Reclassified as not adding a feature: ") + reason
        if proposal.emergency and adds_feature:
            proposal.emergency = False  # a feature needs the Council, never an emergency path
        _route(proposal, now)
        _new_revision(proposal, user, now, note=note)
        _transition(proposal, "reclassify", user, now, note=note, adds_feature=adds_feature,
                    previous_approver_role=old_role,
                    approver_role=proposal.policy_rules.approver_role,
                    routing=proposal.policy_rules.reason,
                    deadline=proposal.deadline.isoformat())
        notify.on_commit(notify.review_opened, proposal.pk)
    return proposal


# --- freezes ------------------------------------------------------------------------


def declare_freeze(user, cleaned: dict) -> Freeze:
    """A manual freeze. The proposals it may hold are locked first, so a decision or an
    implementation taken at the same moment is wholly before it or waits for it."""
    roles.require(user, "manage_freezes")
    now = timezone.now()
    with transaction.atomic():
        _lock_proposals_a_freeze_may_hold(cleaned["categories"])
        source = " and ".join(sorted(roles.roles_of(user) & roles.ACTIONS["manage_freezes"]))
        # A freeze never starts before it is declared: one dated earlier would claim to
        # have held decisions already taken. An earlier start is clamped to now.
        asked = cleaned["starts_at"]
        starts_at = max(asked, now)
        if cleaned.get("ends_at") and cleaned["ends_at"] <= starts_at:
            raise Conflict("A freeze cannot be declared for the past: it would end before it "
                           "starts now.")
        freeze = Freeze.objects.create(
            title=cleaned["title"], reason=cleaned["reason"], starts_at=starts_at,
            ends_at=cleaned.get("ends_at"), categories=list(cleaned["categories"]),
            source=source, created_by=user, created_at=now,
        )
        freeze.nodes.set(cleaned.get("nodes") or [])
        eventlog.append(freeze, "freeze_declared", actor=user, note=cleaned["reason"], data={
            "title": freeze.title, "starts_at": freeze.starts_at.isoformat(),
            "ends_at": freeze.ends_at.isoformat() if freeze.ends_at else None,
            "categories": freeze.categories,
            "nodes": sorted(freeze.nodes.values_list("name", flat=True)), "source": source,
            **({"requested_starts_at": asked.isoformat()} if asked != starts_at else {}),
        })
    return freeze


def lift_freeze(freeze_id: int, user, note: str) -> Freeze:
    roles.require(user, "manage_freezes")
    now = timezone.now()
    with transaction.atomic():
        freeze = Freeze.objects.select_for_update().get(pk=freeze_id)
        if freeze.lifted_at is not None:
            raise Conflict(f"This freeze was already lifted at {freeze.lifted_at:%Y-%m-%d %H:%M} UTC.")
        if freeze.effective_end is not None and freeze.effective_end <= now:
            raise Conflict("This freeze has already ended.")
        freeze.lifted_at, freeze.lifted_by, freeze.lift_note = now, user, note
        freeze.save(update_fields=["lifted_at", "lifted_by", "lift_note"])
        eventlog.append(freeze, "freeze_lifted", actor=user, note=note)
    return freeze


def _lock_proposals_a_freeze_may_hold(categories) -> None:
    """Row-lock, in id order like the sweep, every proposal a new freeze could hold."""
    list(Proposal.objects.select_for_update()
         .filter(state__in=(State.IN_REVIEW, State.APPROVED), category__in=list(categories))
         .order_by("pk").values_list("pk", flat=True))
