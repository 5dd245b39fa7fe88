"""Append to and verify the hash-chained event log (see qpgov.models.Event)."""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

from django.db import transaction
from django.utils import timezone

from .models import GENESIS_HASH, HASHED_FIELDS, ChainHead, Event, canonical_bytes


def append(
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
) -> Event:
    """Append one event about `subject`; `actor=None` means the system did it.

    Runs inside the caller's transaction (opening one if there is none), so the
    event commits or rolls back together with the change it describes.
    """
    with transaction.atomic():
        # Locking the head row serialises all appends: no two events can claim
        # the same predecessor, so the chain never forks.
        head = ChainHead.objects.select_for_update().get(pk=1)
        now = timezone.now()
        event = Event(
            seq=head.seq + 1,
            subject_type=subject._meta.label_lower,
            subject_id=subject.pk,
            kind=kind,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else "system",
            from_state=from_state or "",
            to_state=to_state or "",
            note=note or "",
            revision_hash=revision_hash or "",
            data=data or {},
            occurred_at=occurred_at or now,
            recorded_at=now,
            prev_hash=head.hash,
        )
        event.hash = event.compute_hash()
        event.save()
        ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


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
