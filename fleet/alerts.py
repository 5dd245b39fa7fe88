"""Alert intake: check an Alertmanager webhook body, then turn a stored one into rows.

The webhook view calls `check_payload` before it saves the body as an
AlertDelivery; the task (fleet.tasks.process_alert_delivery) calls `ingest`,
which upserts the group and its alerts in a fixed number of statements however
many alerts there are, and hands what changed to the listeners. The listener
that turns alerts into incidents lives in incidents.alerts and registers itself
in incidents' AppConfig.ready(): fleet never imports the apps above it.

Payload format: Alertmanager's webhook "version 4" (notify/webhook/webhook.go,
template.Data): version, groupKey, truncatedAlerts, status, receiver,
groupLabels, commonLabels, commonAnnotations, externalURL, and alerts, each
with status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Alert, AlertDelivery, AlertGroup, Node

# A firing alert's endsAt, as Go writes the zero time.
GO_ZERO_YEAR = 1
# Rows per statement when reading existing alerts by fingerprint (SQLite's
# default limit is 999 parameters per statement).
CHUNK = 900


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload of version 4; the message says why."""


def check_payload(body: bytes) -> dict:
    """Parse `body` and check it is a version 4 payload; raise PayloadError if it is not."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("The body is not UTF-8 text.") from None
    except ValueError as exc:
        raise PayloadError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise PayloadError("The body must be a JSON object (an Alertmanager webhook payload).")
    version = data.get("version")
    if version != "4":
        raise PayloadError(f'Only Alertmanager webhook payload version "4" is accepted; '
                           f"this one has version {json.dumps(version)}.")
    if not isinstance(data.get("groupKey"), str) or not data["groupKey"]:
        raise PayloadError('A version 4 payload has a "groupKey" string; this one has none.')
    if not isinstance(data.get("alerts"), list):
        raise PayloadError('A version 4 payload has an "alerts" list; this one has none.')
    return data


@dataclass
class Changes:
    """What one delivery changed: alerts that started firing and alerts that were cleared."""

    delivery: AlertDelivery
    group: AlertGroup
    fired: list[Alert] = field(default_factory=list)
    cleared: list[Alert] = field(default_factory=list)


# Called inside ingest's transaction, with the group row locked, when a delivery
# fired or cleared anything. Apps above fleet register here (incidents does, in
# its AppConfig.ready); an exception rolls the whole delivery back for a retry.
listeners: list[Callable[[Changes], None]] = []


def _text(value, limit: int | None = None) -> str:
    """A string any database stores: no NUL, no lone surrogates (JSON allows both)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def _labels(value) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {_text(k): _text(v) for k, v in value.items()}


def _when(value):
    """startsAt/endsAt; None for Go's zero time (a firing alert's endsAt) or a missing one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"not a timestamp: {value[:40]!r}")
    if parsed.year <= GO_ZERO_YEAR:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.UTC)
    return parsed


class NodeIndex:
    """Finds the node an alert is about from one label (settings.QPGOV_ALERT_NODE_LABEL).

    The label's value, less any ":port" (instance="validator-1:9100"), is matched
    against each node's name, then against the host of its SSH target. The
    registry is small: it is read once per delivery.
    """

    def __init__(self):
        self.label = settings.QPGOV_ALERT_NODE_LABEL
        nodes = list(Node.objects.all())
        self.by_name = {n.name: n for n in nodes}
        self.by_host: dict[str, Node] = {}
        for node in nodes:
            if node.target:
                self.by_host.setdefault(self.host(node.target.rsplit("@", 1)[-1]), node)

    @staticmethod
    def host(value: str) -> str:
        value = value.strip().lower()
        if value.startswith("[") and "]" in value:  # [2001:db8::1]:9100
            return value[1:value.index("]")]
        if value.count(":") == 1:  # host:port; a bare IPv6 address keeps its colons
            value = value.split(":", 1)[0]
        return value

    def find(self, labels: dict[str, str]) -> Node | None:
        value = labels.get(self.label)
        if not value:
            return None
        host = self.host(value)
        return self.by_name.get(host) or self.by_host.get(host)


def _read_alerts(raw_alerts: list, nodes: NodeIndex) -> tuple[dict, int]:
    """The payload's alerts as unsaved Alert rows keyed by (fingerprint, startsAt); and how
    many could not be read. A later duplicate in the same body wins."""
    alerts: dict[tuple, Alert] = {}
    skipped = 0
    for raw in raw_alerts:
        try:
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            fingerprint = _text(raw.get("fingerprint"))
            if not fingerprint or len(fingerprint) > 64:
                raise ValueError("no fingerprint")
            starts_at = _when(raw.get("startsAt"))
            if starts_at is None:
                raise ValueError("no startsAt")
            status = raw.get("status")
            if status not in (Alert.FIRING, Alert.RESOLVED):
                raise ValueError(f"status {status!r}")
            ends_at = _when(raw.get("endsAt"))
        except ValueError:
            skipped += 1
            continue
        labels = _labels(raw.get("labels"))
        alerts[(fingerprint, starts_at)] = Alert(
            fingerprint=fingerprint, starts_at=starts_at, status=status,
            ends_at=ends_at if status == Alert.RESOLVED else None,
            alertname=labels.get("alertname", "")[:200], labels=labels,
            annotations=_labels(raw.get("annotations")),
            generator_url=_text(raw.get("generatorURL"), 1000), node=nodes.find(labels),
        )
    return alerts, skipped


def _existing(keys) -> dict[tuple, dict]:
    """The stored alerts with these (fingerprint, startsAt) keys, a few statements in all."""
    fingerprints = sorted({fp for fp, _ in keys})
    found = {}
    for i in range(0, len(fingerprints), CHUNK):
        rows = Alert.objects.filter(fingerprint__in=fingerprints[i:i + CHUNK]).values(
            "fingerprint", "starts_at", "status", "ends_at", "labels", "annotations",
            "generator_url", "node_id", "last_delivery_id")
        for row in rows:
            found[(row["fingerprint"], row["starts_at"])] = row
    return found


def _differs(alert: Alert, row: dict) -> bool:
    return (alert.status, alert.ends_at, alert.labels, alert.annotations, alert.generator_url,
            alert.node_id) != (row["status"], row["ends_at"], row["labels"], row["annotations"],
                               row["generator_url"], row["node_id"])


def ingest(delivery: AlertDelivery) -> Changes | None:
    """Upsert the delivery's group and alerts; mark it processed. Idempotent.

    Returns None if the delivery is no longer this caller's to process (its
    lease ran out and the sweep handed it to someone else).
    """
    data = json.loads(delivery.body)
    group_key = _text(data["groupKey"])
    watchdog = settings.QPGOV_ALERT_WATCHDOG_NAME
    nodes = NodeIndex()
    incoming, skipped = _read_alerts(data.get("alerts") or [], nodes)
    try:
        truncated = max(0, int(data.get("truncatedAlerts") or 0))
    except (TypeError, ValueError):
        truncated = 0
    with transaction.atomic():
        if not AlertDelivery.objects.select_for_update().filter(
            id=delivery.id, status=AlertDelivery.PROCESSING
        ).exists():
            return None
        group, _ = AlertGroup.objects.get_or_create(
            key_hash=AlertGroup.hash_key(group_key),
            defaults={"group_key": group_key, "first_received_at": delivery.received_at,
                      "last_received_at": delivery.received_at},
        )
        # Deliveries of one group are applied one at a time, in the order they take this lock.
        group = AlertGroup.objects.select_for_update().get(pk=group.pk)
        if delivery.received_at >= group.last_received_at or group.receiver_name == "":
            group.receiver_name = _text(data.get("receiver"), 200)
            group.status = (AlertGroup.RESOLVED if data.get("status") == AlertGroup.RESOLVED
                            else AlertGroup.FIRING)
            group.group_labels = _labels(data.get("groupLabels"))
            group.common_labels = _labels(data.get("commonLabels"))
            group.common_annotations = _labels(data.get("commonAnnotations"))
            # Shown as a link on the group's page: only a web address, never javascript: or data:.
            url = _text(data.get("externalURL"), 500)
            group.external_url = url if url.lower().startswith(("http://", "https://")) else ""
            group.last_received_at = delivery.received_at
        if truncated:
            group.incomplete = True
            group.truncated_alerts = truncated
        group.save()

        changes = Changes(delivery=delivery, group=group)
        stored = _existing(incoming.keys())
        write = []
        for key, alert in incoming.items():
            alert.group, alert.last_delivery = group, delivery
            row = stored.get(key)
            if row is None:
                write.append(alert)
                if alert.status == Alert.FIRING:
                    changes.fired.append(alert)
                continue
            if row["last_delivery_id"] and row["last_delivery_id"] > delivery.id:
                continue  # a newer delivery already said what this alert is
            if not _differs(alert, row):
                continue  # a re-send: nothing to change
            write.append(alert)
            if alert.status != row["status"]:
                (changes.fired if alert.status == Alert.FIRING else changes.cleared).append(alert)
        if write:
            # One upsert per batch: a row another delivery inserted meanwhile is updated, not duplicated.
            Alert.objects.bulk_create(
                write, batch_size=500, update_conflicts=True,
                unique_fields=["fingerprint", "starts_at"],
                update_fields=["status", "ends_at", "labels", "annotations", "generator_url",
                               "node", "alertname", "last_delivery"],
            )
        AlertDelivery.objects.filter(id=delivery.id).update(
            status=AlertDelivery.PROCESSED, processed_at=timezone.now(), lease_expires_at=None,
            group=group, alert_count=len(data.get("alerts") or []), truncated_alerts=truncated,
            skipped_alerts=skipped, changed_alerts=len(write), last_error="",
            heard_watchdog=any(a.alertname == watchdog and a.status == Alert.FIRING
                               for a in incoming.values()),
        )
        if changes.fired or changes.cleared:
            for listener in listeners:
                listener(changes)
    return changes
