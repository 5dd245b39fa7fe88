"""Role changes reach the event log (issue 12, item 3): groups, is_active, is_staff and
is_superuser, from the admin, the shell, the group's side and a data migration, with who
did it; and the Council has a page listing them."""

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import pre_migrate
from django.urls import reverse

from qpgov import eventlog, rolelog, roles
from qpgov.models import Event


def role_events(user):
    return list(Event.objects.filter(subject_type="auth.user", subject_id=user.pk,
                                     kind=rolelog.KIND).order_by("seq"))


def group(name):
    return Group.objects.get(name=name)


def test_a_superuser_granting_itself_roles_in_the_admin_is_logged_as_its_doing(client, staff):
    client.force_login(staff)
    url = reverse("admin:auth_user_change", args=[staff.pk])
    before = len(role_events(staff))
    wanted = [group(roles.CORE_OPS), group(roles.COUNCIL), group(roles.RESPONDERS)]
    response = client.post(url, {
        "username": "stan", "first_name": "", "last_name": "", "email": "stan@example.invalid",
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": [g.pk for g in wanted], "user_permissions": [],
        "last_login_0": "", "last_login_1": "",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    })
    assert response.status_code == 302, response.content[:2000]
    events = role_events(staff)[before:]
    assert len(events) == 1
    assert events[0].actor == staff and events[0].actor_name == "stan"
    assert events[0].data["groups"] == {
        "before": [], "after": sorted([roles.CORE_OPS, roles.COUNCIL, roles.RESPONDERS])}
    assert eventlog.verify()[1] is None


def test_a_flag_changed_in_the_admin_names_the_staff_member_who_did_it(client, staff, eve):
    client.force_login(staff)
    response = client.post(reverse("admin:auth_user_change", args=[eve.pk]), {
        "username": "eve", "email": "eve@example.invalid", "is_active": "on", "is_staff": "on",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    assert response.status_code == 302, response.content[:2000]
    event = role_events(eve)[-1]
    assert event.data["flags"] == {"is_staff": {"before": False, "after": True}}
    assert event.actor == staff and "by" not in event.data


@pytest.mark.parametrize("flag", rolelog.ROLE_FLAGS)
def test_a_shell_change_of_each_flag_is_logged_as_the_system(eve, flag):
    setattr(eve, flag, not getattr(eve, flag))
    eve.save()
    event = role_events(eve)[-1]
    assert event.actor is None and event.actor_name == "system"
    assert list(event.data["flags"]) == [flag]


def test_changes_from_the_groups_side_are_logged_for_each_user(olga, eve):
    council = group(roles.COUNCIL)
    council.user_set.add(olga, eve)
    assert role_events(eve)[-1].data["groups"] == {"before": [], "after": [roles.COUNCIL]}
    assert role_events(olga)[-1].data["groups"] == {
        "before": [roles.CORE_OPS], "after": sorted([roles.CORE_OPS, roles.COUNCIL])}
    council.user_set.clear()
    assert role_events(eve)[-1].data["groups"] == {"before": [roles.COUNCIL], "after": []}
    group(roles.CORE_OPS).user_set.remove(olga)
    assert role_events(olga)[-1].data["groups"] == {"before": [roles.CORE_OPS], "after": []}


def test_removing_clearing_and_setting_groups_are_logged(olga):
    olga.groups.add(group(roles.RESPONDERS))
    olga.groups.remove(group(roles.CORE_OPS))
    olga.groups.set([group(roles.COUNCIL)])
    olga.groups.clear()
    afters = [e.data["groups"]["after"] for e in role_events(olga)]
    assert afters[-5:] == [[roles.CORE_OPS, roles.RESPONDERS], [roles.RESPONDERS], [],
                           [roles.COUNCIL], []]


def test_what_does_not_change_a_role_is_not_logged(client, olga):
    count = len(role_events(olga))
    olga.first_name = "Olga"
    olga.save()
    olga.groups.add(group(roles.CORE_OPS))  # already a member
    olga.groups.remove(group(roles.COUNCIL))  # never was
    client.post(reverse("login"), {"username": "olga", "password": "pw-olga"})  # last_login
    assert client.session["_auth_user_id"] == str(olga.pk)
    assert len(role_events(olga)) == count


def test_a_new_superuser_is_logged_but_an_ordinary_account_is_not(db):
    root = User.objects.create_superuser("root", "root@example.invalid", "pw-root")
    plain = User.objects.create_user("plain", "plain@example.invalid", "pw-plain")
    assert role_events(root)[-1].data["flags"]["is_superuser"] == {"before": False, "after": True}
    assert role_events(plain) == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_data_migration_granting_a_role_is_logged():
    """A migration works on historical models, other classes than User and Group."""
    User.objects.create_user("olga", "olga@example.invalid", "pw-olga")
    qpgov_app = django_apps.get_app_config("qpgov")
    pre_migrate.send(sender=qpgov_app, app_config=qpgov_app, verbosity=0, interactive=False,
                     using="default", plan=[], apps=django_apps)  # as `migrate` does
    apps = MigrationExecutor(connection).loader.project_state().apps
    OldUser, OldGroup = apps.get_model("auth", "User"), apps.get_model("auth", "Group")
    assert OldUser is not User
    old_olga = OldUser.objects.get(username="olga")
    old_olga.groups.add(OldGroup.objects.get(name=roles.COUNCIL))
    old_olga.is_superuser = True
    old_olga.save()
    rolelog.stop_watching_migrations()  # what post_migrate does
    olga = User.objects.get(username="olga")
    groups_event, flags_event = role_events(olga)[-2:]
    assert groups_event.data["groups"]["after"] == [roles.COUNCIL]
    assert flags_event.data["flags"] == {"is_superuser": {"before": False, "after": True}}
    assert eventlog.verify()[1] is None


def test_deleting_a_user_in_the_admin_names_the_staff_member_who_did_it(client, staff, olga):
    olga_pk = olga.pk
    client.force_login(staff)
    response = client.post(reverse("admin:auth_user_delete", args=[olga_pk]), {"post": "yes"})
    assert response.status_code == 302, response.content[:2000]
    assert not User.objects.filter(pk=olga_pk).exists()
    event = role_events(olga)[-1]
    assert event.actor == staff and "by" not in event.data
    assert event.data["deleted"] is True and event.data["state"] is None
    assert event.data["username"] == "olga"
    assert event.data["before"] == {"groups": [roles.CORE_OPS], "is_active": True,
                                    "is_staff": False, "is_superuser": False}
    assert rolelog.reconcile() == 0  # recorded as it happened, not found again
    assert eventlog.verify()[1] is None


def test_a_staff_member_deleting_their_own_account_is_logged_without_blocking_it(client, staff):
    client.force_login(staff)
    response = client.post(reverse("admin:auth_user_delete", args=[staff.pk]), {"post": "yes"})
    assert response.status_code == 302, response.content[:2000]
    event = role_events(staff)[-1]
    # The log keeps its actors, so naming the account being deleted would stop the delete.
    assert event.actor is None and event.data["deleted_by_self"] is True
    assert event.data["username"] == "stan" and event.data["before"]["is_superuser"] is True


def test_deleting_any_user_in_the_shell_is_logged_as_the_system(eve, olga):
    eve_pk = eve.pk
    eve.delete()  # held no power
    User.objects.filter(pk=olga.pk).delete()  # a queryset delete sends the signal too
    for user in (User(pk=eve_pk), olga):
        event = role_events(user)[-1]
        assert event.actor is None and event.data["by"]["os_user"]
        assert event.data["deleted"] is True and event.data["state"] is None
    assert role_events(olga)[-1].data["before"]["groups"] == [roles.CORE_OPS]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_data_migration_deleting_a_user_is_logged():
    olga = User.objects.create_user("olga", "olga@example.invalid", "pw-olga")
    olga.groups.add(group(roles.COUNCIL))
    apps = MigrationExecutor(connection).loader.project_state().apps
    apps.get_model("auth", "User").objects.get(username="olga").delete()
    event = role_events(olga)[-1]
    assert event.data["deleted"] is True and event.data["before"]["groups"] == [roles.COUNCIL]


def test_a_user_deleted_without_a_signal_is_found_by_the_reconciliation(client, carol, olga):
    rolelog.reconcile()  # the seeded roles have no event yet: record them first
    olga_pk = olga.pk
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user_groups WHERE user_id = %s", [olga_pk])
        cursor.execute("DELETE FROM auth_user WHERE id = %s", [olga_pk])
    assert rolelog.reconcile() == 1
    found = role_events(olga)[-1]
    assert found.actor is None and found.data["found_by"] == "reconcile"
    assert found.data["deleted"] is True and found.data["state"] is None
    assert found.data["before"]["groups"] == [roles.CORE_OPS]
    assert found.data["username"] == "olga"
    assert rolelog.reconcile() == 0

    client.force_login(carol)
    page = client.get(reverse("role_changes")).content.decode()
    assert f"olga (deleted user #{olga_pk})" in page and "Account deleted" in page


def test_the_council_reads_the_role_changes_page(client, carol, olga, staff):
    olga.is_staff = True
    olga.save()
    client.force_login(staff)
    group(roles.RESPONDERS).user_set.add(olga)
    client.force_login(carol)
    response = client.get(reverse("role_changes"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "olga" in page and "is_staff" in page and roles.RESPONDERS in page
    assert reverse("role_changes") in page  # in the navigation


@pytest.mark.parametrize("who", ["olga", "alice", "rita", "eve", "staff"])
def test_only_the_council_may_read_it(client, db, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("role_changes")).status_code == 403


def test_visitors_are_sent_to_sign_in(client, db):
    assert client.get(reverse("role_changes")).status_code == 302


def test_a_change_that_sends_no_signal_is_found_by_the_reconciliation(olga, eve):
    olga.groups.add(group(roles.RESPONDERS))  # logged as it happens, with olga's whole state
    assert rolelog.reconcile() == 0  # eve holds nothing, olga's last event is current

    User.objects.filter(pk=eve.pk).update(is_superuser=True)
    User.groups.through.objects.bulk_create([User.groups.through(user=olga,
                                                                 group=group(roles.COUNCIL))])
    assert rolelog.reconcile() == 2
    found = role_events(eve)[-1]
    assert found.actor is None and found.data["found_by"] == "reconcile"
    assert found.data["before"] is None and found.data["state"]["is_superuser"] is True
    found = role_events(olga)[-1]
    assert found.data["before"]["groups"] == sorted([roles.CORE_OPS, roles.RESPONDERS])
    assert found.data["state"]["groups"] == sorted([roles.CORE_OPS, roles.COUNCIL,
                                                   roles.RESPONDERS])
    assert rolelog.reconcile() == 0  # found once, not again
    assert eventlog.verify()[1] is None


def test_the_page_shows_what_the_reconciliation_found(client, carol, eve):
    User.objects.filter(pk=eve.pk).update(is_staff=True)
    rolelog.reconcile()
    client.force_login(carol)
    page = client.get(reverse("role_changes")).content.decode()
    assert "found later" in page and "staff yes" in page and "(first record)" in page


def test_the_reconciliation_runs_as_a_command_and_on_the_beat(olga, settings):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("reconcile_roles", stdout=out)  # olga's seeded role has no event yet
    assert out.getvalue().strip() == "1 role change found and logged."
    assert settings.CELERY_BEAT_SCHEDULE["reconcile-roles"]["task"] == "qpgov.tasks.reconcile_roles"
