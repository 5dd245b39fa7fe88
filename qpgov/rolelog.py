"""Every change to who holds which power goes to the event log.

A user's groups (the roles), `is_active`, `is_staff` and `is_superuser` can be
changed by the admin, by `manage.py shell`, by a data migration or by any other
code. STYLE keeps business logic out of signals; this is the exception that
proves it: model signals are the only hook that every one of those paths goes
through, so recording here is what makes the record complete. The receivers
only record; they decide nothing.

Who did it: the signed-in person for a web request (`ActorMiddleware`), else
"system", with the operating-system user and the command in the event data.

Paths that send no model signal (`QuerySet.update()`, `bulk_create` on the
groups table, raw SQL, `loaddata`) are caught afterwards by `reconcile`, which
the beat runs every few minutes: each event carries the user's whole role state
after the change, and any user whose state differs from their last event gets
an event saying so.
"""

from __future__ import annotations

import contextvars
import getpass
import os
import sys

from django.db import connection
from django.db.models.signals import m2m_changed

ROLE_FLAGS = ("is_active", "is_staff", "is_superuser")
KIND = "roles_changed"
_MIGRATIONS_UID = "qpgov.rolelog.groups.migrations"

_actor: contextvars.ContextVar = contextvars.ContextVar("qpgov_actor", default=None)


class ActorMiddleware:
    """Remember the signed-in user for the request, as the actor of role changes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _actor.set(request)
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)


def _acting_user():
    request = _actor.get()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user._wrapped if hasattr(user, "_wrapped") else user
    return None


def _origin() -> dict:
    """Where a change without a signed-in actor came from."""
    try:
        os_user = getpass.getuser()
    except Exception:  # no passwd entry, e.g. in some containers
        os_user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    command = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:2]) if sys.argv else ""
    return {"os_user": os_user, "command": command}


def _is_user(model) -> bool:
    # Historical models in migrations are different classes with the same label.
    return model._meta.label_lower == "auth.user"


def _log_ready(model) -> bool:
    """False inside a migration that runs before the event log's tables exist."""
    from django.contrib.auth import get_user_model

    if model is get_user_model():
        return True
    return "qpgov_chainhead" in connection.introspection.table_names()


def _record(user, data: dict, state: dict | None) -> None:
    """Append a role event on `user`; `state` is the power they hold after it (None: deleted)."""
    from . import eventlog

    actor = _acting_user()
    if actor is not None and state is None and actor.pk == user.pk:
        # An event whose actor is the account being deleted would stop the delete
        # (the log keeps its actors): say so in the data instead.
        actor, data = None, {**data, "deleted_by_self": True}
    # The name too, so the record still says whose it was once the account is gone.
    data = {"username": user.__dict__.get("username", ""), **data, "state": state}
    if actor is None:
        data["by"] = _origin()
    eventlog.append(user, KIND, actor=actor, data=data)


def _flags(values) -> dict:
    return {flag: values[flag] for flag in ROLE_FLAGS}


def _state(user, groups: list[str]) -> dict:
    """Everything that says what power a user holds."""
    return {"groups": groups, **_flags(user.__dict__)}


def remember_flags(sender, instance, raw=False, update_fields=None, **kwargs):
    """pre_save on User: note the role flags as stored, to compare after the save."""
    if not _is_user(sender) or raw:
        return
    instance._qpgov_flags_before = None
    if update_fields is not None and not set(update_fields) & set(ROLE_FLAGS):
        return  # e.g. the last_login update at every sign-in
    if instance.pk is not None:
        stored = sender._base_manager.filter(pk=instance.pk).values(*ROLE_FLAGS).first()
        instance._qpgov_flags_before = stored


def record_flags(sender, instance, created, raw=False, update_fields=None, **kwargs):
    """post_save on User: log a change of is_active, is_staff or is_superuser."""
    if not _is_user(sender) or raw:
        return
    before = getattr(instance, "_qpgov_flags_before", None)
    after = _flags(instance.__dict__)
    if created or before is None:
        if not created:
            return
        # A new account: only a privileged one is a grant worth a record.
        if not (instance.is_staff or instance.is_superuser):
            return
        before = {"is_active": False, "is_staff": False, "is_superuser": False}
    changed = {f: {"before": before[f], "after": after[f]} for f in ROLE_FLAGS
               if before[f] != after[f]}
    if changed and _log_ready(sender):
        groups = _group_names(sender, [instance.pk])[instance.pk]
        _record(instance, {"flags": changed, "created": bool(created)}, _state(instance, groups))


def record_deletion(sender, instance, origin=None, **kwargs):
    """pre_delete on User: log the account's removal and the power it held, before the rows go."""
    if not _is_user(sender) or instance.pk is None or not _log_ready(sender):
        return
    stored = sender._base_manager.filter(pk=instance.pk).values(*ROLE_FLAGS).first()
    if stored is None:
        return  # already gone
    groups = _group_names(sender, [instance.pk])[instance.pk]
    _record(instance, {"deleted": True, "before": {"groups": groups, **stored}}, None)


def _group_names(user_model, user_ids) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {pk: [] for pk in user_ids}
    through = user_model.groups.through
    rows = through.objects.filter(user_id__in=user_ids).values_list("user_id", "group__name")
    for user_id, name in rows.order_by("group__name"):
        names[user_id].append(name)
    return names


def record_groups(sender, instance, action, reverse, model, pk_set, **kwargs):
    """m2m_changed on User.groups, from either side: log each user's groups before and after."""
    if sender._meta.label_lower != "auth.user_groups":
        return
    user_model = type(instance) if not reverse else model
    if action in ("pre_add", "pre_remove", "pre_clear"):
        if not reverse:
            user_ids = [instance.pk]
        elif pk_set is not None:
            user_ids = list(pk_set)
        else:  # group.user_set.clear()
            user_ids = list(instance.user_set.values_list("pk", flat=True))
        instance._qpgov_groups_before = _group_names(user_model, user_ids)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    before = getattr(instance, "_qpgov_groups_before", None) or {}
    instance._qpgov_groups_before = None
    after = _group_names(user_model, list(before))
    users = {u.pk: u for u in user_model._base_manager.filter(pk__in=list(before))}
    for user_id in sorted(before):
        if before[user_id] != after[user_id] and _log_ready(user_model):
            user = users[user_id]
            _record(user, {"groups": {"before": before[user_id], "after": after[user_id]}},
                    _state(user, after[user_id]))


def reconcile() -> int:
    """Log every user whose role state differs from their last role event; return how many.

    Catches changes made without model signals, deletions included (a user whose
    last event shows them existing, but who is gone). Runs under the event log's
    head lock, so a role change and its event are either both seen or both not.
    """
    from django.contrib.auth.models import User
    from django.db import transaction

    from . import eventlog
    from .models import ChainHead, Event

    with transaction.atomic():
        ChainHead.objects.select_for_update().get(pk=1)
        last: dict[int, dict | None] = {}
        usernames: dict[int, str] = {}
        events = Event.objects.filter(subject_type=User._meta.label_lower, kind=KIND)
        for subject_id, data in events.order_by("seq").values_list("subject_id", "data"):
            last[subject_id] = data.get("state")  # None after a deletion
            usernames[subject_id] = data.get("username", usernames.get(subject_id, ""))
        users = list(User.objects.order_by("pk"))
        groups = _group_names(User, [u.pk for u in users])
        entries = []
        gone = sorted(set(last) - {u.pk for u in users})
        for user_id in gone:
            if last[user_id] is not None:  # deleted without the pre_delete record (raw SQL)
                entries.append(eventlog.entry(User(pk=user_id), KIND, data={
                    "state": None, "deleted": True, "username": usernames[user_id],
                    "before": last[user_id], "found_by": "reconcile", "by": _origin()}))
        for user in users:
            now = _state(user, groups[user.pk])
            recorded = last.get(user.pk)
            if recorded == now:
                continue
            if recorded is None and not (now["groups"] or now["is_staff"] or now["is_superuser"]):
                continue  # never held a power, holds none now
            entries.append(eventlog.entry(user, KIND, data={
                "username": user.username, "state": now, "before": recorded,
                "found_by": "reconcile", "by": _origin()}))
        eventlog.append_many(entries)
    return len(entries)


def _record_historical_groups(sender, **kwargs):
    from django.contrib.auth.models import User

    if sender is not User.groups.through:  # the real one has its own receiver
        record_groups(sender, **kwargs)


def watch_migrations(**kwargs):
    """pre_migrate: also watch the historical groups tables that data migrations use."""
    m2m_changed.connect(_record_historical_groups, dispatch_uid=_MIGRATIONS_UID)


def stop_watching_migrations(**kwargs):
    """post_migrate: back to the real groups table only."""
    m2m_changed.disconnect(dispatch_uid=_MIGRATIONS_UID)
