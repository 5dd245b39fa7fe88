"""Changes to alert rules and receivers, made by staff in the admin. Each appends an event.

Rules decide whether an alert declares a SEV1 (and its freeze) with nobody
looking; receivers hold the credentials Alertmanager posts with. So every change
goes on the event log with who made it and the values before and after, like the
node registry's (fleet.registry). A token is never logged, nor its hash: only
that it was issued or rotated, and when.
"""

from __future__ import annotations

from django.db import transaction

from qpgov import eventlog

from .models import AlertReceiver, AlertRule

RULE_FIELDS = ("alertname", "environment", "node_role", "action", "severity", "description")
# token_hash is left out on purpose: the log is readable by more people than the admin.
RECEIVER_FIELDS = ("name", "active")


def _values(obj, fields) -> dict:
    return {field: getattr(obj, field) for field in fields}


def _save_logged(obj, fields, actor, kinds: tuple[str, str], *, force: bool = False, data=None):
    """Save `obj` and log what changed in `fields`; an unchanged edit writes no event."""
    model = type(obj)
    with transaction.atomic():
        before = {}
        if obj.pk is not None:
            # Read under a lock, so two editors' events describe one change each.
            before = _values(model.objects.select_for_update().get(pk=obj.pk), fields)
        after = _values(obj, fields)
        changed = [f for f in after if before.get(f) != after[f]]
        obj.save()
        if before and not changed and not force:
            return obj
        eventlog.append(obj, kinds[1] if before else kinds[0], actor=actor,
                        note=f"{obj}: {', '.join(changed) or 'no field changed'}",
                        data={"before": {f: before[f] for f in changed if f in before},
                              "after": {f: after[f] for f in changed}, **(data or {})})
    return obj


def _delete_logged(obj, fields, actor, kind: str) -> None:
    with transaction.atomic():
        obj = type(obj).objects.select_for_update().get(pk=obj.pk)
        eventlog.append(obj, kind, actor=actor, note=str(obj),
                        data={"before": _values(obj, fields), "after": {}})
        obj.delete()


def save_rule(rule: AlertRule, actor) -> AlertRule:
    """Save a new or edited alert rule and log it (alert_rule_added / alert_rule_changed)."""
    return _save_logged(rule, RULE_FIELDS, actor, ("alert_rule_added", "alert_rule_changed"))


def delete_rule(rule: AlertRule, actor) -> None:
    _delete_logged(rule, RULE_FIELDS, actor, "alert_rule_deleted")


def save_receiver(receiver: AlertReceiver, actor, *, token_issued: bool = False) -> AlertReceiver:
    """Save a new or edited receiver and log it; `token_issued` says a token was (re)issued."""
    extra = {"token_issued_at": receiver.token_rotated_at.isoformat()} if token_issued else None
    return _save_logged(receiver, RECEIVER_FIELDS, actor,
                        ("alert_receiver_added", "alert_receiver_changed"), data=extra)


def rotate_token(receiver: AlertReceiver, actor) -> str:
    """Issue a fresh token (the old one stops working at once), log the rotation, return it."""
    with transaction.atomic():
        receiver = AlertReceiver.objects.select_for_update().get(pk=receiver.pk)
        token = receiver.issue_token()
        receiver.save(update_fields=["token_hash", "token_rotated_at"])
        eventlog.append(receiver, "alert_receiver_token_rotated", actor=actor,
                        note=f"{receiver}: token rotated; the old one no longer works",
                        data={"token_issued_at": receiver.token_rotated_at.isoformat()})
    return token


def delete_receiver(receiver: AlertReceiver, actor) -> None:
    _delete_logged(receiver, RECEIVER_FIELDS, actor, "alert_receiver_deleted")
