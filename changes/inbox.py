"""Change-control work waiting for a person, for their home page (qpgov/inbox.py)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.timesince import timeuntil

from qpgov import roles
from qpgov.inbox import Item, Section, first

from . import policy, services
from .models import Proposal, State, Vote


def vote_actions_of(user) -> list[str]:
    """The vote actions `user` may take (an Ops change, a governance change, an emergency)."""
    actions = {p.vote_action for p in (*policy.POLICIES.values(), policy.EMERGENCY)}
    return sorted(a for a in actions if a and roles.can(user, a))


def awaiting_vote(proposals: QuerySet, user, now) -> QuerySet:
    """The proposals whose open window waits for `user`'s vote on the current revision.

    Who votes is the policy saved on each proposal: an Ops change routed to the
    Council, or an emergency change, is not decided by its category's role.
    """
    my_vote = Vote.objects.filter(proposal=OuterRef("pk"), voter=user, revision=OuterRef("revision"))
    return (proposals.filter(state__in=(State.IN_REVIEW, State.IN_RATIFICATION),
                             policy_in_force__vote_action__in=vote_actions_of(user),
                             deadline__gt=now)
            .exclude(proposer=user).exclude(Exists(my_vote)))


def _link(name: str, **query) -> str:
    return reverse(name) + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _vote_due(p: Proposal, now, counted) -> Item:
    """A vote waiting for someone: the time left is until the decision, which comes before
    the deadline once the votes already meet (or can no longer meet) the policy."""
    at = services.decision_expected_at(p, now, counted)
    if at >= p.deadline:
        when = f"{timeuntil(p.deadline, now)} left · deadline {p.deadline:%Y-%m-%d %H:%M} UTC"
    elif at <= now:
        when = "the decision is being taken now"
    else:
        when = (f"{timeuntil(at, now)} left · decided {at:%Y-%m-%d %H:%M} UTC unless votes "
                "change")
    return Item(p.title, p.get_absolute_url(), when,
                urgent=(at - now).total_seconds() < 12 * 3600)


def sections(user, now) -> list[Section]:
    if not roles.can(user, "view_changes"):
        return []
    found = []
    if vote_actions_of(user):
        rows, total = first(awaiting_vote(Proposal.objects.all(), user, now).order_by("deadline", "pk")
                            .only("pk", "title", "deadline", "category", "state", "revision",
                                  "proposer", "policy_in_force", "required_approvals",
                                  "earliest_decision_at"))
        counted = services.tallies(rows)
        found.append(Section(
            "Votes due", [_vote_due(p, now, counted[p.pk]) for p in rows],
            total, _link("changes:list", awaiting=1), "No vote waits for you."))
    if roles.can(user, "propose_change"):
        mine = (Proposal.objects.filter(proposer=user, state__in=(State.DRAFT, State.IN_REVIEW,
                                                                  State.APPROVED))
                .order_by("-updated_at", "-pk").only("pk", "title", "state", "deadline"))
        rows, total = first(mine)
        found.append(Section(
            "Your drafts and open proposals",
            [Item(p.title, p.get_absolute_url(), p.get_state_display()
                  + (f" · deadline {p.deadline:%Y-%m-%d %H:%M} UTC"
                     if p.state == State.IN_REVIEW else "")) for p in rows],
            total, _link("changes:list", mine=1), "You have no open proposal."))
    if roles.can(user, "record_implementation"):
        approved = (Proposal.objects.filter(state=State.APPROVED).order_by("lapses_at", "pk")
                    .only("pk", "title", "lapses_at", "planned_start"))
        rows, total = first(approved)
        found.append(Section(
            "Approved changes to implement",
            [Item(p.title, p.get_absolute_url(),
                  f"planned {p.planned_start:%Y-%m-%d %H:%M} UTC · approval lapses in "
                  f"{timeuntil(p.lapses_at, now)}") for p in rows],
            total, _link("changes:list", state=State.APPROVED)))
        # An emergency change that was not ratified must be rolled back; until the
        # rollback is recorded it waits here, not only in an e-mail to the Council.
        unratified = (Proposal.objects.filter(state=State.UNRATIFIED).order_by("updated_at", "pk")
                      .only("pk", "title", "updated_at"))
        rows, total = first(unratified)
        found.append(Section(
            "Rollbacks required",
            [Item(p.title, reverse("changes:rollback", args=[p.pk]),
                  f"emergency change not ratified {p.updated_at:%Y-%m-%d %H:%M} UTC · record "
                  "its rollback", urgent=True) for p in rows],
            total, _link("changes:list", state=State.UNRATIFIED)))
    return found
