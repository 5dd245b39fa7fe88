"""Changes to the node registry. Each one appends an event with the values before and after.

The event's subject is the node, so the log keeps a node's history even after
the node is deleted. Callers check the role (Core Ops) first; `actor=None`
means the system did it (manage.py demo_node).
"""

from __future__ import annotations

from django.db import transaction

from qpgov import eventlog
from qpgov.http import Conflict

from .models import Node


def _values(node: Node) -> dict:
    return {field: getattr(node, field) for field in Node.REGISTRY_FIELDS}


def save_node(node: Node, actor=None) -> Node:
    """Save a new or edited node and log what changed; an unchanged node writes nothing."""
    with transaction.atomic():
        before = {}
        if node.pk is not None:
            # Read under a lock, so two editors' events describe one change each.
            before = _values(Node.objects.select_for_update().get(pk=node.pk))
        after = _values(node)
        changed = [field for field in after if before.get(field) != after[field]]
        if before and not changed:
            return node
        # An edit writes only the registry's fields, so a freeze set meanwhile by a
        # response is not put back by a form that read the node before it.
        node.save(update_fields=changed if before else None)
        kind = "node_changed" if before else "node_added"
        eventlog.append(node, kind, actor=actor, note=f"{node.name}: {', '.join(changed)}",
                        data={"before": {f: before[f] for f in changed if f in before},
                              "after": {f: after[f] for f in changed}})
    return node


def delete_node(node: Node, actor=None) -> None:
    """Delete a node nothing refers to; one with a history (an incident, evidence) stays."""
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=node.pk)
        if users := referrers(node):
            raise Conflict(f"{node.name} cannot be deleted: {', '.join(users)} refer to it, and "
                           "their record must keep naming it.")
        eventlog.append(node, "node_deleted", actor=actor, note=node.name,
                        data={"before": _values(node), "after": {}})
        node.delete()


def referrers(node: Node, limit: int = 5) -> list[str]:
    """Up to `limit` records that refer to the node, from whichever apps keep such records."""
    found: list[str] = []
    # Hidden relations too (related_name="+"): evidence and tries keep a node.
    for relation in Node._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete):
            continue
        rows = relation.related_model._default_manager.filter(**{relation.field.name: node})
        found += [str(row) for row in rows.distinct()[: limit - len(found)]]
        if len(found) >= limit:
            break
    return found
