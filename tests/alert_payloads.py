"""Alertmanager webhook payloads (version 4) as Alertmanager 0.25 writes them.

The shape follows notify/webhook/webhook.go (Message) and template/template.go
(Data, Alert, KV): a firing alert's endsAt is Go's zero time, timestamps carry
nanoseconds, and the top-level status stays "firing" while any alert fires.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

ZERO = "0001-01-01T00:00:00Z"


def go_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds


def fingerprint(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def alert(alertname="BlockProductionStalled", instance="validator-1:9100", status="firing",
          starts_at=None, ends_at=None, **labels):
    labels = {"alertname": alertname, "instance": instance, "job": "quantumpay", **labels}
    starts_at = starts_at or datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)
    if status == "resolved" and ends_at is None:
        ends_at = starts_at + timedelta(minutes=5)
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{alertname} on {instance}",
                        "description": "No new block for more than two block intervals."},
        "startsAt": go_time(starts_at),
        "endsAt": go_time(ends_at) if ends_at else ZERO,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": fingerprint(labels),
    }


def payload(alerts, group_key='{}:{alertname="BlockProductionStalled"}', truncated=0,
            version="4", group_labels=None):
    group_labels = group_labels if group_labels is not None else {"alertname": alerts[0]["labels"]
                                                                  ["alertname"]} if alerts else {}
    return {
        "receiver": "qpgov",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": group_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": version,
        "groupKey": group_key,
        "truncatedAlerts": truncated,
    }
