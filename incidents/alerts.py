"""From alerts to incidents: what a firing or cleared alert does to the incident record.

fleet.alerts stores the alerts and calls `on_alert_changes` (registered in
IncidentsConfig.ready) inside its transaction, with the alert group locked. Per
alert rule (fleet.models.AlertRule, by alertname and the environment and role of
the alert's node) a firing alert is recorded only, waits for a human to confirm
on the alert page, or declares an incident at once through services.declare. A
group already attached to an open incident adds to that incident's timeline
instead of opening another. A cleared alert only says so on the timeline: it
never resolves an incident or unfreezes a node.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

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


SEVERITY_RANK = {code: rank for rank, (code, _) in enumerate(AlertRule.SEVERITIES)}


class Policy(NamedTuple):
    action: str  # the strongest action the alerts' rules ask for
    severity: str  # the most severe severity among the rules asking for it
    rules: list[AlertRule]  # the rule that applies to each alert (no duplicates)
    alerts: list[Alert]  # the alerts whose rule asks for `action`: what it acts on


def rule_for(alert: Alert, rules: list[AlertRule]) -> AlertRule | None:
    """The rule for one alert: of the rules for its alertname that fit its node, the most
    specific (environment and role, then one of them, then neither); among equally specific
    ones the strongest, then the most severe. None: no rule fits, the alert is recorded only."""
    fitting = [r for r in rules if r.alertname == alert.alertname and r.applies_to(alert.node)]
    return max(fitting, default=None, key=lambda r: (
        r.specificity, STRENGTH[r.action], -SEVERITY_RANK[r.severity]))


def _where(alerts: list[Alert], held: set[int]) -> str:
    """" on validator-1, validator-2 (not on this incident: not frozen by it)": which nodes fire.

    Incidents take no nodes after they are declared, so a node that starts firing
    in an attached group is named, for the commander to decide (declare it apart).
    """
    parts = [n.name if n.id in held else f"{n.name} (not on this incident: not frozen by it)"
             for n in _nodes(alerts)]
    label = settings.QPGOV_ALERT_NODE_LABEL
    unmatched = sorted({a.labels.get(label, "") for a in alerts if a.node is None} - {""})
    parts += [f"{label}={value} (no registered node)" for value in unmatched[:5]]
    return f" on {', '.join(parts)}" if parts else ""


def policy_for(alerts: list[Alert]) -> Policy:
    """What these alerts lead to, each judged by the rule that fits its node (`rule_for`)."""
    rules = list(AlertRule.objects.filter(alertname__in={a.alertname for a in alerts}))
    # Pairs, not a dict: an alert just upserted may have no primary key to hash by.
    chosen = [(alert, rule) for alert in alerts if (rule := rule_for(alert, rules))]
    action = max((r.action for _, r in chosen), key=STRENGTH.__getitem__, default=AlertRule.RECORD)
    acting = [(a, r) for a, r in chosen if r.action == action]
    severity = min((r.severity for _, r in acting), key=SEVERITY_RANK.__getitem__, default="SEV2")
    applied = list({r.pk: r for _, r in chosen}.values())
    return Policy(action, severity, applied, [a for a, _ in acting])


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
                held = set(incident.nodes.values_list("id", flat=True))
                outside = [n.name for n in _nodes(changes.fired) if n.id not in held]
                events.append(eventlog.entry(
                    incident, "alert_firing", data={**data, "nodes_not_on_incident": outside},
                    note=f"{count(len(changes.fired), 'alert')} firing: {_names(changes.fired)}"
                         f"{_where(changes.fired, held)}"))
        else:
            _act_on_firing(group, changes.fired)
    if changes.cleared and group.awaiting_confirmation:
        # Nothing left firing that a rule asks to act on: there is nothing to confirm.
        still = list(group.alerts.filter(status=Alert.FIRING).select_related("node")[:500])
        if policy_for(still).action == AlertRule.RECORD:
            group.awaiting_confirmation = False
            AlertGroup.objects.filter(id=group.id).update(awaiting_confirmation=False)
    if changes.cleared:
        for incident in attached:
            events.append(eventlog.entry(
                incident, "alert_cleared",
                note=f"alert cleared: {_names(changes.cleared)} (the incident stays as it is)",
                data={"alert_group": group.id,
                      "alerts": sorted({a.alertname for a in changes.cleared})}))
    eventlog.append_many(events)


def _act_on_firing(group: AlertGroup, fired: list[Alert]) -> None:
    action, severity, _, acting = policy_for(fired)
    if action == AlertRule.RECORD:
        return
    if action == AlertRule.CONFIRM:
        _await_confirmation(group, f"{_names(acting)}: the rule asks a human to confirm ({severity})")
        return
    # Only the alerts whose rule asked for the declare: a node out of the rule's
    # scope (a testnet node in the same group) is not frozen on its word.
    draft = incident_draft(group, acting, severity)
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
    _await_confirmation(group, f"{_names(acting)}: could not declare at once: {reason}")


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
    policy = policy_for(firing)
    # The alerts the rules ask to act on; with none (recorded only), all of them.
    draft = incident_draft(group, policy.alerts or firing, policy.severity)
    return {**draft, "nodes": [n.id for n in draft["nodes"]],
            "detected_at": draft["detected_at"].strftime("%Y-%m-%d %H:%M:%S"), "alert_group": group.id}
