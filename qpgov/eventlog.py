"""Append to and verify the hash-chained event log (see qpgov.models.Event)."""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

from django.db import transaction
from django.utils import timezone

from .models import GENESIS_HASH, HASHED_FIELDS, ChainHead, Event, canonical_bytes


def entry(
    subject,
    kind: str,
    *,
    actor=None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    revision_hash: str = "",
    data: dict | None = None,
    occurred_at=None,
) -> dict:
    """One event to append with `append_many`; `actor=None` means the system did it."""
    return {
        "subject_type": subject._meta.label_lower,
        "subject_id": subject.pk,
        "kind": kind,
        "actor": actor,
        "actor_name": actor.get_username() if actor is not None else "system",
        "from_state": from_state or "",
        "to_state": to_state or "",
        "note": note or "",
        "revision_hash": revision_hash or "",
        "data": data or {},
        "occurred_at": occurred_at,
    }


def append(subject, kind: str, **fields) -> Event:
    """Append one event about `subject` (see `entry` for the fields)."""
    return append_many([entry(subject, kind, **fields)])[0]


def append_many(entries: list[dict]) -> list[Event]:
    """Append `entries` (made by `entry`), in order, under one lock of the chain head.

    Runs inside the caller's transaction (opening one if there is none), so the
    events commit or roll back together with the change they describe. No
    savepoint: if the append fails, the caller's whole change must fail too.
    """
    if not entries:
        return []
    with transaction.atomic(savepoint=False):
        # Locking the head row serialises all appends: no two events can claim
        # the same predecessor, so the chain never forks. Callers lock their own
        # rows first and the head last, so holders of the head never wait on them.
        head = ChainHead.objects.select_for_update().get(pk=1)
        now = timezone.now()
        seq, prev_hash = head.seq, head.hash
        events = []
        for fields in entries:
            seq += 1
            event = Event(**{**fields, "occurred_at": fields["occurred_at"] or now},
                          seq=seq, recorded_at=now, prev_hash=prev_hash)
            event.hash = prev_hash = event.compute_hash()
            events.append(event)
        Event.objects.bulk_create(events)
        ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return events


@dataclass
class Problem:
    seq: int
    event_id: int | None
    reason: str

    def __str__(self):
        return f"event #{self.seq} (id {self.event_id}): {self.reason}"


def verify(chunk_size: int = 10000) -> tuple[int, Problem | None]:
    """Walk the whole chain in order; return (events checked, first problem or None).

    Reads plain tuples rather than model instances: this runs over millions of
    rows, and building a model per row would cost more than the hashing.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    rows = Event.objects.order_by("seq").values_list("id", "hash", *HASHED_FIELDS)
    for event_id, stored_hash, *values in rows.iterator(chunk_size=chunk_size):
        seq, prev_hash = values[0], values[1]
        if seq != expected_seq:
            return checked, Problem(expected_seq, None, f"missing; the next event is #{seq}")
        if prev_hash != expected_prev:
            return checked, Problem(seq, event_id, "does not link to the event before it")
        if sha256(canonical_bytes(tuple(values))).hexdigest() != stored_hash:
            return checked, Problem(seq, event_id, "content does not match its hash")
        expected_prev = stored_hash
        expected_seq += 1
        checked += 1
    head = ChainHead.objects.get(pk=1)
    if head.seq != checked or head.hash != expected_prev:
        return checked, Problem(head.seq, None, "the chain head does not match the last event")
    return checked, None
