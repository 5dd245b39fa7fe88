"""Append to and verify the hash-chained event log (see qpgov.models.Event)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .models import GENESIS_HASH, ChainHead, Event


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


def verify(chunk_size: int = 5000) -> tuple[int, Problem | None]:
    """Walk the whole chain in order; return (events checked, first problem or None)."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in Event.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return checked, Problem(expected_seq, None, f"missing; the next event is #{event.seq}")
        if event.prev_hash != expected_prev:
            return checked, Problem(event.seq, event.pk, "does not link to the event before it")
        if event.compute_hash() != event.hash:
            return checked, Problem(event.seq, event.pk, "content does not match its hash")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = ChainHead.objects.get(pk=1)
    if head.seq != checked or head.hash != expected_prev:
        return checked, Problem(head.seq, None, "the chain head does not match the last event")
    return checked, None
