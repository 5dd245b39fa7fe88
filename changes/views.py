"""Change-control pages. Views translate HTTP to service calls and back."""

import hashlib
import operator
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from qpgov import pagecache, roles, wording
from qpgov.http import Conflict, ready_to_act, refusal_kept_in, refused_status
from qpgov.models import Event

from . import conflicts, freezes, inbox, policy, services, status
from .forms import (
    AmendForm,
    FreezeForm,
    ImplementationForm,
    LiftFreezeForm,
    ProposalForm,
    ReclassifyForm,
    RollbackForm,
    VoteForm,
    WithdrawForm,
)
from .models import EmailDelivery, Freeze, Proposal, State, Vote

PAGE_SIZE = 25


def _get_proposal(request: HttpRequest, pk: int) -> Proposal:
    """The proposal if the user may see it: role holders see all but others' drafts."""
    roles.require(request.user, "view_changes")
    proposal = get_object_or_404(Proposal.objects.select_related("proposer"), pk=pk)
    if proposal.state == State.DRAFT and proposal.proposer_id != request.user.pk:
        raise Http404
    return proposal


@require_safe
@login_required
def proposal_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "view_changes")
    user = request.user
    qs = Proposal.objects.select_related("proposer").exclude(~Q(proposer=user), state=State.DRAFT)
    state = request.GET.get("state", "")
    category = request.GET.get("category", "")
    mine = request.GET.get("mine") == "1"
    awaiting = request.GET.get("awaiting") == "1"
    if state in State.values:
        qs = qs.filter(state=state)
    if category in policy.POLICIES:
        qs = qs.filter(category=category)
    if mine:
        qs = qs.filter(proposer=user)
    if awaiting:
        qs = inbox.awaiting_vote(qs, user, timezone.now())
    qs = qs.only(*LIST_COLUMNS).order_by("-created_at", "-pk")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "changes/list.html", {
        "page": page, "states": State.choices, "categories": policy.CATEGORY_CHOICES,
        "f": {"state": state, "category": category, "mine": mine, "awaiting": awaiting},
        "query": query.urlencode(), "rows_shown": _rows_shown(page.object_list),
    })


# Exactly what a row of the list shows (templates/changes/list.html): the columns
# it loads and, read through the same names, the values its cached HTML is keyed by.
LIST_COLUMNS = ("pk", "title", "category", "state", "deadline", "proposer__username")
_shown_values = operator.attrgetter(*(c.replace("__", ".") for c in LIST_COLUMNS))


def _rows_shown(proposals) -> str:
    """A digest of every value the rows show: the key of their cached HTML.

    Rendering 25 rows is most of the page's time. Keyed by what is shown, a
    cached fragment cannot be stale, whatever changed the data and however.
    """
    shown = [_shown_values(p) for p in proposals]
    return hashlib.sha256(repr(shown).encode()).hexdigest()


@require_safe
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, _get_proposal(request, pk))


def _detail_page(request: HttpRequest, proposal: Proposal, *, vote_form=None,
                 code: int = 200) -> HttpResponse:
    """The proposal page; with `vote_form`, the vote as posted, its problems at the top."""
    now = timezone.now()
    # Reading never decides (a GET must change nothing): the beat sweep takes
    # a due decision within a minute; until then the page says it is due.
    reviewing = proposal.state in (State.IN_REVIEW, State.IN_RATIFICATION)
    counted = services.tally(proposal) if reviewing else None
    decision_due = services.due_decision(proposal, now, counted) is not None
    events = list(Event.objects.for_subject(proposal).select_related("actor"))

    votes = list(proposal.votes.select_related("voter").order_by("-revision", "cast_at"))
    current = [v for v in votes if v.revision == proposal.revision]
    my_vote = next((v for v in current if v.voter_id == request.user.pk), None)
    is_proposer = proposal.proposer_id == request.user.pk
    can_vote = proposal.window_is_open(now) and services.may_vote(proposal, request.user)
    if counted is not None:
        # In review: the votes that would be set aside if the decision were taken now.
        set_aside, set_aside_when = counted.set_aside, "now"
        approvals, rejections = counted.approvals, counted.rejections
    else:
        # Decided: what the decision itself recorded, whatever happened to the voters since.
        decided = _decision_data(events)
        set_aside, set_aside_when = decided.get("set_aside", []), "decision"
        approvals = decided.get("approvals", sum(v.choice == Vote.APPROVE for v in current))
        rejections = decided.get("rejections", sum(v.choice == Vote.REJECT for v in current))
    reasons = {entry["voter_id"]: "; ".join(entry["reasons"]) for entry in set_aside}
    for v in current:
        v.set_aside_reasons = reasons.get(v.voter_id, "")
    ctx = {
        "p": proposal,
        "now": now,
        "current_votes": current,
        "set_aside_votes": [v for v in votes if v.revision != proposal.revision],
        "approvals": approvals,
        "rejections": rejections,
        "revisions": proposal.revisions.select_related("author"),
        "events": events,
        "decision_due": decision_due,
        "set_aside_count": len(set_aside),
        "set_aside_when": set_aside_when,
        "is_proposer": is_proposer,
        "can_vote": can_vote,
        "vote_form": vote_form or VoteForm(
            attestation_required=services.attestation_required(proposal), initial={
            "revision_hash": proposal.content_hash,
            "choice": my_vote.choice if my_vote else None,
            "reason": my_vote.reason if my_vote else "",
        }),
        "my_vote": my_vote,
        "can_edit": is_proposer and proposal.state == State.DRAFT,
        "can_amend": is_proposer and proposal.state == State.IN_REVIEW
        and proposal.window_is_open(now),
        "can_withdraw": is_proposer and proposal.is_open,
        "can_implement": proposal.state == State.APPROVED
        and roles.can(request.user, "record_implementation"),
        "unreachable": services.unreachable_reason(proposal)
        if is_proposer and proposal.state == State.DRAFT else None,
        # E-mail that has not reached the mail server is shown, never only logged.
        "undelivered": proposal.deliveries.exclude(status=EmailDelivery.SENT),
        **_pressure_context(request, proposal, now),
    }
    ctx["status_line"] = status.status_line(proposal, now, counted, ctx["freeze_windows"])
    if vote_form is not None:
        ctx["form"] = vote_form  # base.html summarises its errors at the top of the page
    return render(request, "changes/detail.html", ctx, status=code)


def _pressure_context(request, proposal: Proposal, now) -> dict:
    """Freezes, emergency, routing and conflicts, for the includes of the proposal page."""
    live = proposal.state in (State.DRAFT, State.IN_REVIEW, State.APPROVED)
    nodes = list(proposal.nodes.all())
    # One read of the freezes for every question: in force now, when its decision falls
    # due (the status line), and over its planned window.
    until = max(now, proposal.earliest_decision_at or now, proposal.planned_end)
    known = freezes.windows(min(now, proposal.planned_start),
                            until + timedelta(microseconds=1)) if live else None
    active = [w for w in known or [] if w.in_force(now)]
    can_reclassify = (proposal.state == State.IN_REVIEW and proposal.window_is_open(now)
                      and services.may_vote(proposal, request.user))
    return {
        # Every freeze in force that covers it (incident freezes included, even for an
        # emergency change, so that everyone sees them), and the ones holding its decision.
        "freezes_now": [w for w in active if w.covers(proposal, {n.pk for n in nodes})],
        "freeze_holds_decision": services.decision_held_by(proposal, now, active),
        "freeze_holds_implementation": freezes.holding(proposal, now, active)
        if proposal.state == State.APPROVED else [],
        "conflicts": conflicts.for_proposal(proposal, nodes, known) if live else [],
        "freeze_windows": known,
        "proposal_nodes": nodes,
        "routing_reason": proposal.policy_rules.reason,
        # Its own ids: the vote form on the same page has a `reason` field too.
        "reclassify_form": ReclassifyForm(
            initial={"adds_feature": "no" if proposal.adds_feature else "yes",
                     "revision_hash": proposal.content_hash},
            auto_id="id_reclassify_%s") if can_reclassify else None,
        "can_record_rollback": proposal.state == State.UNRATIFIED
        and roles.can(request.user, "record_implementation"),
    }


def _decision_data(events) -> dict:
    """The data of the event that took the review decision, or {} if none was taken."""
    for event in reversed(events):
        if event.kind == "transition" and event.from_state == State.IN_REVIEW and \
                event.to_state in (State.APPROVED, State.REJECTED, State.EXPIRED):
            return event.data
    return {}


@login_required
def create(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "propose_change")
    form = ProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        proposal = services.create_draft(request.user, form.cleaned_data)
        messages.success(request, "Draft saved. Read it through, then submit it for review.")
        return redirect(proposal)
    return render(request, "changes/form.html", {"form": form, "mode": "create"})


@login_required
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    if proposal.proposer_id != request.user.pk:
        raise PermissionDenied("Only the proposer may edit a draft.")
    blocked = None if proposal.state == State.DRAFT else Conflict(
        "Only a draft can be edited. A proposal in review is changed by amending it.")
    form = ProposalForm(request.POST or None, instance=proposal)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            services.update_draft(proposal.pk, request.user, form.cleaned_data)
            messages.success(request, "Draft saved.")
            return redirect(proposal)
    return render(request, "changes/form.html", {"form": form, "mode": "edit", "p": proposal},
                  status=refused_status(form))


@login_required
def amend(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    if proposal.proposer_id != request.user.pk:
        raise PermissionDenied("Only the proposer may amend a proposal.")
    open_now = proposal.state == State.IN_REVIEW and proposal.window_is_open(timezone.now())
    blocked = None if open_now else Conflict(
        "Only a proposal whose review window is open can be amended.")
    form = AmendForm(request.POST or None, instance=proposal)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            data = form.cleaned_data
            services.amend(proposal.pk, request.user, data, data["note"])
            messages.success(request,
                             "Amended: a new revision is in review and the window restarted.")
            return redirect(proposal)
    return render(request, "changes/form.html", {"form": form, "mode": "amend", "p": proposal},
                  status=refused_status(form))


@login_required
@require_POST
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    proposal = services.submit(proposal.pk, request.user)
    messages.success(request, "Submitted for review. The approvers have been notified.")
    found = conflicts.for_proposal(proposal)
    if found:
        messages.warning(request, f"{wording.count(len(found), 'conflict')} listed on the page: "
                         + " ".join(c.text for c in found))
    return redirect(proposal)


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    form = WithdrawForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    services.withdraw(proposal.pk, request.user, note)
    messages.success(request, "Proposal withdrawn.")
    return redirect(proposal)


@login_required
@require_POST
def vote(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    form = VoteForm(request.POST, attestation_required=services.attestation_required(proposal))
    if not form.is_valid():
        if not services.may_vote(proposal, request.user):
            raise PermissionDenied("You may not vote on this proposal.")
        # The page again with the vote as posted: a redirect would drop the typed reason.
        return _detail_page(request, proposal, vote_form=form, code=400)
    data = form.cleaned_data
    with refusal_kept_in(form):
        services.cast_vote(proposal.pk, request.user, data["choice"], data["reason"],
                           data["revision_hash"], confirms_determinism=data["confirm_determinism"])
        messages.success(request, f"Vote recorded on revision {proposal.revision}.")
        return redirect(proposal)
    proposal.refresh_from_db()
    if not (proposal.window_is_open(timezone.now()) and services.may_vote(proposal, request.user)):
        raise form.refused  # no vote form on the page now: the 409 page keeps the reason
    # The page now shows the current revision: a second try votes on what is shown.
    form.data = form.data.copy()
    form.data["revision_hash"] = proposal.content_hash
    return _detail_page(request, proposal, vote_form=form, code=409)


@login_required
def implementation(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    roles.require(request.user, "record_implementation")
    blocked = None if proposal.state == State.APPROVED else Conflict(
        "Only an approved proposal can be implemented; this one is "
        f"{proposal.get_state_display().lower()}.")
    found = conflicts.for_proposal(proposal)
    form = ImplementationForm(request.POST or None, conflicts=found, proposal=proposal)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            services.record_implementation(proposal.pk, request.user, form.cleaned_data)
            messages.success(request, "Recorded.")
            return redirect(proposal)
    return render(request, "changes/implementation.html", {
        "form": form, "p": proposal, "conflicts": found,
        "held_by": freezes.holding(proposal, timezone.now()),
    }, status=refused_status(form))


@login_required
@require_POST
def reclassify(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _get_proposal(request, pk)
    if not services.may_vote(proposal, request.user):
        raise PermissionDenied("Only those who may vote on this proposal may reclassify it.")
    form = ReclassifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not reclassified: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect(proposal)
    proposal = services.reclassify(proposal.pk, request.user, form.cleaned_data["adds_feature"],
                                   form.cleaned_data["reason"], form.cleaned_data["revision_hash"])
    messages.success(request, "Reclassified: the window restarted. Approved by "
                     f"{proposal.policy_rules.approver_role}.")
    return redirect(proposal)


@login_required
def rollback(request: HttpRequest, pk: int) -> HttpResponse:
    """The rollback record of an emergency change that was not ratified."""
    proposal = _get_proposal(request, pk)
    roles.require(request.user, "record_implementation")
    blocked = None if proposal.state == State.UNRATIFIED else Conflict(
        "Only an emergency change that was not ratified needs a rollback record; "
        f"this one is {proposal.get_state_display().lower()}.")
    form = RollbackForm(request.POST or None, proposal=proposal)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            services.record_rollback(proposal.pk, request.user, form.cleaned_data)
            messages.success(request, "Rollback recorded.")
            return redirect(proposal)
    return render(request, "changes/rollback.html", {"form": form, "p": proposal},
                  status=refused_status(form))


# --- freezes ---------------------------------------------------------------------------


@require_safe
@login_required
def freeze_list(request: HttpRequest) -> HttpResponse:
    """Freezes in force and scheduled, as a calendar-like list by day, and recent ones."""
    roles.require(request.user, "view_changes")
    now = timezone.now()
    upcoming = freezes.windows(now)
    recent = [w for w in freezes.windows(now - timedelta(days=30), now) if not w.in_force(now)]
    days: dict = {}
    for window in upcoming:
        days.setdefault(max(window.starts_at, now).date(), []).append(window)
    return render(request, "changes/freezes.html", {
        "now": now, "days": sorted(days.items()), "in_force": [w for w in upcoming if w.in_force(now)],
        "recent": recent,
        "manual": {f.pk: f for f in Freeze.objects.filter(
            pk__in=[w.pk for w in upcoming if w.kind == freezes.MANUAL])},
        "lift_form": LiftFreezeForm(),
        "can_manage": roles.can(request.user, "manage_freezes"),
    })


@login_required
def freeze_new(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "manage_freezes")
    form = FreezeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        freeze = services.declare_freeze(request.user, form.cleaned_data)
        messages.success(request, f"{freeze} declared.")
        return redirect("changes:freezes")
    return render(request, "changes/freeze_form.html", {"form": form})


@login_required
@require_POST
def freeze_lift(request: HttpRequest, pk: int) -> HttpResponse:
    roles.require(request.user, "manage_freezes")
    freeze = get_object_or_404(Freeze, pk=pk)
    form = LiftFreezeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not lifted: " + " ".join(form.errors.get("note", [])))
        return redirect("changes:freezes")
    services.lift_freeze(freeze.pk, request.user, form.cleaned_data["note"])
    messages.success(request, f"{freeze} lifted.")
    return redirect("changes:freezes")


# --- the public change log (no sign-in) --------------------------------------------

# Emergency changes are public from their implementation on, ratified or not.
PUBLIC_STATES = (State.IMPLEMENTED, State.ROLLED_BACK, State.IN_RATIFICATION, State.RATIFIED,
                 State.UNRATIFIED)


def public_changes():
    """Implemented and rolled-back changes, newest first: only public fields are read."""
    return (
        Proposal.objects.filter(state__in=PUBLIC_STATES)
        .only("pk", "category", "state", "public_changelog", "implemented_at", "updated_at",
              "emergency", "ratification")
        .order_by("-implemented_at", "-pk")
    )


EMERGENCY_PUBLIC_STATES = (State.IN_RATIFICATION, State.RATIFIED, State.UNRATIFIED)


def public_log_changed_at():
    """When the public change log last changed: one indexed lookup per common public state,
    and one for the (few) emergency changes together."""
    latest = [
        Proposal.objects.filter(state=state).order_by("-updated_at")
        .values_list("updated_at", flat=True).first()
        for state in (State.IMPLEMENTED, State.ROLLED_BACK)
    ]
    latest.append(Proposal.objects.filter(state__in=EMERGENCY_PUBLIC_STATES)
                  .order_by("-updated_at").values_list("updated_at", flat=True).first())
    return max((t for t in latest if t), default=None)


@require_safe
def public_log(request: HttpRequest) -> HttpResponse:
    def render_page():
        page = Paginator(public_changes(), PAGE_SIZE).get_page(request.GET.get("page"))
        response = render(request, "changes/public_log.html", {"page": page})
        response.page_number = page.number
        return response

    return pagecache.serve(request, "changes:public", public_log_changed_at, render_page)
