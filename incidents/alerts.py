"""From alerts to incidents: what a firing or cleared alert does to the incident record.

fleet.alerts stores the alerts and calls `on_alert_changes` (registered in
IncidentsConfig.ready) inside its transaction, with the alert group locked. Per
alert rule (fleet.models.AlertRule, by alertname) a firing alert is recorded
only, waits for a human to confirm on the alert page, or declares an incident at
once through services.declare. A group already attached to an open incident adds
to that incident's timeline instead of opening another. A cleared alert only
says so on the timeline: it never resolves an incident or unfreezes a node.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from fleet.alerts import Changes
from fleet.models import Alert, AlertGroup, AlertRule
from qpgov import eventlog
from qpgov.wording import count

from . import services
from .models import Incident

log = logging.getLogger(__name__)

STRENGTH = {AlertRule.RECORD: 0, AlertRule.CONFIRM: 1, AlertRule.DECLARE: 2}
# Listed in fleet (which cannot import incidents) as well as here; they must agree.
assert [code for code, _ in AlertRule.SEVERITIES] == [code for code, _ in Incident.SEVERITIES]


def _names(alerts: list[Alert]) -> str:
    names = sorted({a.alertname or a.fingerprint for a in alerts})
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _nodes(alerts: list[Alert]):
    return sorted({a.node for a in alerts if a.node is not None}, key=lambda n: n.name)


def policy_for(alerts: list[Alert]) -> tuple[str, str, list[AlertRule]]:
    """The strongest action the alerts' rules ask for, its most severe severity, and the rules.

    An alertname without a rule is recorded only.
    """
    rules = list(AlertRule.objects.filter(alertname__in={a.alertname for a in alerts}))
    action = max((r.action for r in rules), key=STRENGTH.__getitem__, default=AlertRule.RECORD)
    severity = min((r.severity for r in rules if r.action == action), default="SEV2")
    return action, severity, rules


def incident_draft(group: AlertGroup, alerts: list[Alert], severity: str) -> dict:
    """The declare form's fields for these alerts: what the one-click and the automatic declare use."""
    first = min(alerts, key=lambda a: a.starts_at)
    nodes = _nodes(alerts)
    summary = first.annotations.get("summary") or first.annotations.get("description") or ""
    title = f"{first.alertname or 'Alert'}" + (f": {summary}" if summary else "")
    where = ", ".join(n.name for n in nodes) or "no registered node"
    lines = [f"Raised from Alertmanager group `{group.title}` ({count(len(alerts), 'firing alert')} "
             f"on {where})."]
    for alert in sorted(alerts, key=lambda a: a.starts_at)[:20]:
        text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        lines.append(f"- {alert.alertname} {alert.labels.get(settings.QPGOV_ALERT_NODE_LABEL, '')} "
                     f"since {alert.starts_at:%Y-%m-%d %H:%M:%S} UTC {text}".rstrip())
    return {"title": title[:200], "severity": severity, "nodes": nodes,
            "summary": "\n".join(lines), "detected_at": first.starts_at}


def _service_account() -> tuple[User | None, User | None]:
    wanted = {settings.QPGOV_ALERT_DECLARER, settings.QPGOV_ALERT_COMMANDER} - {""}
    users = {u.username: u for u in User.objects.filter(username__in=wanted, is_active=True)}
    return users.get(settings.QPGOV_ALERT_DECLARER), users.get(settings.QPGOV_ALERT_COMMANDER)


def _await_confirmation(group: AlertGroup, note: str) -> None:
    group.awaiting_confirmation = True
    group.confirmation_note = note[:300]
    AlertGroup.objects.filter(id=group.id).update(awaiting_confirmation=True,
                                                  confirmation_note=group.confirmation_note)


def on_alert_changes(changes: Changes) -> None:
    """Act on one delivery's newly firing and newly cleared alerts (see the module docstring)."""
    group = changes.group
    attached = list(group.incidents.all())
    open_incidents = [i for i in attached if i.state in Incident.OPEN_STATES]
    events = []
    if changes.fired:
        data = {"alert_group": group.id, "alerts": sorted({a.alertname for a in changes.fired}),
                "nodes": [n.name for n in _nodes(changes.fired)]}
        if open_incidents:
            for incident in open_incidents:
                events.append(eventlog.entry(
                    incident, "alert_firing", data=data,
                    note=f"{count(len(changes.fired), 'alert')} firing: {_names(changes.fired)}"))
        else:
            _act_on_firing(group, changes.fired)
    if changes.cleared:
        for incident in attached:
            events.append(eventlog.entry(
                incident, "alert_cleared",
                note=f"alert cleared: {_names(changes.cleared)} (the incident stays as it is)",
                data={"alert_group": group.id,
                      "alerts": sorted({a.alertname for a in changes.cleared})}))
    eventlog.append_many(events)


def _act_on_firing(group: AlertGroup, fired: list[Alert]) -> None:
    action, severity, _ = policy_for(fired)
    if action == AlertRule.RECORD:
        return
    if action == AlertRule.CONFIRM:
        _await_confirmation(group, f"{_names(fired)}: the rule asks a human to confirm ({severity})")
        return
    draft = incident_draft(group, fired, severity)
    declarer, commander = _service_account()
    reason = None
    if declarer is None:
        reason = f"no active account {settings.QPGOV_ALERT_DECLARER!r} (QPGOV_ALERT_DECLARER)"
    elif not draft["nodes"]:
        reason = "no alert names a registered node"
    else:
        try:
            with transaction.atomic():
                incident = services.declare(**draft, declared_by=declarer, commander=commander,
                                            alert_groups=[group])
        except (ValidationError, PermissionDenied) as exc:
            reason = " ".join(getattr(exc, "messages", [str(exc)]))
        else:
            log.info("alert group %s declared INC-%s", group.id, incident.pk)
            return
    # The rule wanted an incident at once and could not have one: a human must see it.
    _await_confirmation(group, f"{_names(fired)}: could not declare at once: {reason}")


def declare_initial(group_id: str) -> dict:
    """The declare form pre-filled from an alert group's firing alerts (the one-click declare)."""
    text = str(group_id)
    # isdecimal(): "²" is a digit int() refuses; 18 digits fit any database's id column.
    group = AlertGroup.objects.filter(id=text).first() if text.isdecimal() and len(text) < 19 else None
    if group is None:
        return {}
    firing = list(group.alerts.filter(status=Alert.FIRING).select_related("node")
                  .order_by("starts_at")[:500])
    if not firing:
        return {"alert_group": group.id}
    _, severity, _ = policy_for(firing)
    draft = incident_draft(group, firing, severity)
    return {**draft, "nodes": [n.id for n in draft["nodes"]],
            "detected_at": draft["detected_at"].strftime("%Y-%m-%d %H:%M:%S"), "alert_group": group.id}
