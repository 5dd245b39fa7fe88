import pytest
from django.contrib.auth.models import Group

from qpgov import roles

# The whole matrix, written out: (action, roles that may take it).
EXPECTED = {
    "view_changes": {roles.PROPOSERS, roles.CORE_OPS, roles.COUNCIL},
    "propose_change": {roles.PROPOSERS},
    "vote_ops_change": {roles.CORE_OPS},
    "vote_governance_change": {roles.COUNCIL},
    "record_implementation": {roles.CORE_OPS},
    "manage_freezes": {roles.CORE_OPS, roles.COUNCIL},
    "approve_emergency_change": {roles.CORE_OPS},
    "view_incidents": {roles.RESPONDERS, roles.CORE_OPS, roles.COUNCIL},
    "declare_incident": {roles.RESPONDERS, roles.CORE_OPS},
    "run_response": {roles.RESPONDERS},
    "download_evidence": {roles.RESPONDERS},
    "manage_nodes": {roles.CORE_OPS},
    "view_alerts": {roles.CORE_OPS, roles.RESPONDERS, roles.COUNCIL},
    "view_fleet": {roles.CORE_OPS, roles.RESPONDERS, roles.COUNCIL},
    "run_node_checks": {roles.CORE_OPS},
    "acknowledge_incident": {roles.COUNCIL},
    "edit_postmortem": {roles.RESPONDERS},
    "approve_postmortem": {roles.COUNCIL},
    "draft_notice": {roles.RESPONDERS},
    "publish_notice": {roles.RESPONDERS},
    "view_role_changes": {roles.COUNCIL},
}


def test_the_matrix_is_exactly_as_documented():
    assert {a: set(r) for a, r in roles.ACTIONS.items()} == EXPECTED


@pytest.mark.django_db
def test_the_migration_creates_every_role_without_admin_permissions():
    for name in roles.ROLES:
        group = Group.objects.get(name=name)
        assert group.permissions.count() == 0


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_each_role_gets_exactly_its_actions(action, alice, olga, carol, rita, eve, staff):
    holders = {roles.PROPOSERS: alice, roles.CORE_OPS: olga, roles.COUNCIL: carol,
               roles.RESPONDERS: rita}
    for role, user in holders.items():
        assert roles.can(user, action) == (role in EXPECTED[action]), (role, action)
    # No role, no power: neither an outsider nor a superuser without a role.
    assert not roles.can(eve, action)
    assert not roles.can(staff, action)


def test_ops_and_governance_powers_do_not_overlap():
    ops = {a for a, r in roles.ACTIONS.items() if roles.CORE_OPS in r}
    council = {a for a, r in roles.ACTIONS.items() if roles.COUNCIL in r}
    # Both may read (the issue names the council), and both may declare a change
    # freeze (a blackout window); the approving powers stay apart.
    assert ops & council == {"view_changes", "view_incidents", "view_alerts", "view_fleet",
                             "manage_freezes"}


@pytest.mark.django_db
def test_an_inactive_member_can_do_nothing(olga):
    olga.is_active = False
    assert not roles.can(olga, "vote_ops_change")


def test_an_unknown_action_is_a_programming_error(db, alice):
    with pytest.raises(KeyError):
        roles.can(alice, "launch_rockets")


def test_require_gives_a_plain_reason(db, eve):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match="Only Core Ops may do this"):
        roles.require(eve, "manage_nodes")
