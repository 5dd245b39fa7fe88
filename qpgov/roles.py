"""Who may do what: the one place that answers it.

The playbook asks for node, ops and governance access to be strictly
separated. Each role is a Django group (created by a data migration); each
action names the roles allowed to take it. Views, tasks and templates ask
`can(user, action)` and never test group names themselves. Rules that depend
on the object as well (a proposer never votes on their own proposal, only the
commander resolves) live with the object, in the domain code, and call `can`
first.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

PROPOSERS = "Proposers"
CORE_OPS = "Core Ops"
COUNCIL = "Governance Council"
RESPONDERS = "Incident Responders"

ROLES = (PROPOSERS, CORE_OPS, COUNCIL, RESPONDERS)

# action -> roles allowed to take it. Keep it small and explicit; anything not
# listed here is allowed to nobody.
ACTIONS: dict[str, frozenset[str]] = {
    # Change control (playbook section 5).
    "view_changes": frozenset({PROPOSERS, CORE_OPS, COUNCIL}),
    "propose_change": frozenset({PROPOSERS}),
    "vote_ops_change": frozenset({CORE_OPS}),
    "vote_governance_change": frozenset({COUNCIL}),
    "record_implementation": frozenset({CORE_OPS}),
    # Change control under pressure (issue 15): blackout windows and emergency changes.
    "manage_freezes": frozenset({CORE_OPS, COUNCIL}),
    "approve_emergency_change": frozenset({CORE_OPS}),
    # Incident response (playbook section 6).
    "view_incidents": frozenset({RESPONDERS, CORE_OPS, COUNCIL}),
    "declare_incident": frozenset({RESPONDERS, CORE_OPS}),
    "run_response": frozenset({RESPONDERS}),
    "download_evidence": frozenset({RESPONDERS}),
    "manage_nodes": frozenset({CORE_OPS}),
    # Alerts from monitoring (playbook section 4).
    "view_alerts": frozenset({CORE_OPS, RESPONDERS, COUNCIL}),
    # Fleet watch (playbook sections 2 and 4).
    "view_fleet": frozenset({CORE_OPS, RESPONDERS, COUNCIL}),
    "run_node_checks": frozenset({CORE_OPS}),
    "acknowledge_incident": frozenset({COUNCIL}),
    # Public transparency.
    "edit_postmortem": frozenset({RESPONDERS}),
    "approve_postmortem": frozenset({COUNCIL}),
    # Public incident notices: any responder drafts one; only the incident's
    # commander publishes (an object rule in incidents.notices), no council vote,
    # because a status update is worth little an hour late (docs/public.md).
    "draft_notice": frozenset({RESPONDERS}),
    "publish_notice": frozenset({RESPONDERS}),
    # Oversight: who was given or lost which power, and by whom (qpgov/rolelog.py).
    "view_role_changes": frozenset({COUNCIL}),
}

# What the navigation shows: (label, url name, action that reveals it).
# Each app adds its entries as it gains pages.
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("Changes", "changes:list", "view_changes"),
    ("New proposal", "changes:create", "propose_change"),
    ("Freezes", "changes:freezes", "view_changes"),
    ("Incidents", "incidents:list", "view_incidents"),
    ("Fleet", "fleet:nodes", "view_fleet"),
    ("Role changes", "role_changes", "view_role_changes"),
    ("Alerts", "alerts:list", "view_alerts"),
)


def roles_of(user: User | AnonymousUser) -> frozenset[str]:
    """The role names a user holds, cached on the user object for the request."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_qpgov_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._qpgov_roles = cached
    return cached


def holders(role: str, *, include_inactive: bool = False) -> QuerySet[User]:
    """The users who hold `role` now: active ones only, unless `include_inactive`.

    Only active holders may act in a role (see `roles_of`); the inactive ones
    are asked for only to say why someone's earlier act no longer counts.
    """
    users = User.objects.filter(groups__name=role)
    return users if include_inactive else users.filter(is_active=True)


def can(user: User | AnonymousUser, action: str) -> bool:
    """True if one of the user's roles allows `action`. Unknown actions raise."""
    allowed = ACTIONS[action]
    return bool(roles_of(user) & allowed)


def require(user: User | AnonymousUser, action: str) -> None:
    """Raise PermissionDenied (403) with a plain reason unless `can` allows it."""
    if not can(user, action):
        names = " or ".join(sorted(ACTIONS[action]))
        raise PermissionDenied(f"Only {names} may do this.")


def context_processor(request):
    """Expose `perms_qp` (action -> bool) and the visible navigation to templates."""
    # A request refused before the auth middleware ran (a bad Host header gets
    # its 400 page that way) has no user: it is shown the page as anyone would be.
    user = getattr(request, "user", None) or AnonymousUser()
    allowed = {action: can(user, action) for action in ACTIONS}
    nav = [(label, url) for label, url, action in NAVIGATION if allowed[action]]
    return {"perms_qp": allowed, "qp_nav": nav, "qp_roles": sorted(roles_of(user))}
