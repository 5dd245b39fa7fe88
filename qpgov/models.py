"""The shared, append-only, hash-chained event log, and the worker health ping.

Every transition, vote, amendment and incident step writes one Event in the
same transaction as the change it records. Events form one chain: each carries
the hash of the one before, and `verify_log` recomputes the chain. The
ChainHead row is locked for each append, which serialises writers so the chain
can never fork.
"""

import hashlib
import json
import math
from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an event."""


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Events are append-only; record a correction as a new event.")

    def delete(self):
        raise AppendOnlyError("Events are append-only; they are never deleted.")

    def for_subject(self, obj):
        return self.filter(subject_type=obj._meta.label_lower, subject_id=obj.pk).order_by("seq")


class Event(models.Model):
    seq = models.BigIntegerField(unique=True, editable=False)
    subject_type = models.CharField(max_length=60)
    subject_id = models.BigIntegerField()
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Kept beside the foreign key so the hash never depends on a joined row.
    actor_name = models.CharField(max_length=150)
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    note = models.TextField(blank=True)
    revision_hash = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The exact canonical JSON whose SHA-256 is `hash` (ASCII only: json.dumps
    # escapes the rest). verify_log checks that the columns above say the same.
    body = models.TextField(editable=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id", "seq"])]

    def __str__(self):
        return f"#{self.seq} {self.subject_type}:{self.subject_id} {self.kind}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Events are append-only; record a correction as a new event.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Events are append-only; they are never deleted.")

    def canonical_bytes(self) -> bytes:
        """The exact bytes the hash covers: every field except the hash itself."""
        return canonical_bytes(tuple(getattr(self, name) for name in HASHED_FIELDS))

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def seal(self):
        """Set `body` and `hash` from the hashed fields; call once, just before inserting."""
        _refuse_floats(self.data)
        self.body = self.canonical_bytes().decode("ascii")
        self.hash = hashlib.sha256(self.body.encode("ascii")).hexdigest()  # the same bytes, once


# The fields an event's hash covers, in a fixed order. Never reorder or remove
# one: every stored hash depends on it.
HASHED_FIELDS = (
    "seq", "prev_hash", "subject_type", "subject_id", "kind", "actor_id", "actor_name",
    "from_state", "to_state", "note", "revision_hash", "data", "occurred_at", "recorded_at",
)
_TIMESTAMPS = {HASHED_FIELDS.index("occurred_at"), HASHED_FIELDS.index("recorded_at")}


def canonical_bytes(values: tuple) -> bytes:
    """Canonical JSON of the HASHED_FIELDS values: sorted keys, no spaces, UTC timestamps."""
    payload = {
        name: (_iso(value) if i in _TIMESTAMPS else value)
        for i, (name, value) in enumerate(zip(HASHED_FIELDS, values, strict=True))
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _refuse_floats(value) -> None:
    """Refuse floats in event data that would not read back as themselves.

    PostgreSQL's jsonb gives 1e20 back as an integer (Python writes floats from
    1e16 up with an exponent), which `verify_log --python` would then report as
    tampering; NaN and infinities are not JSON at all. Record such a number as text.
    """
    if isinstance(value, float):
        negative_zero = value == 0 and math.copysign(1.0, value) < 0  # numeric has no -0
        if not math.isfinite(value) or abs(value) >= 1e16 or negative_zero:
            raise TypeError(f"event data cannot hold the float {value!r}; record it as text")
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_floats(item)


def _iso(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ChainHead(models.Model):
    """The single row holding the last sequence number and hash of the chain."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self):
        return f"chain head #{self.seq}"


class CheckpointQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Checkpoints are published and signed; they are never changed.")

    def delete(self):
        raise AppendOnlyError("Checkpoints are published and signed; they are never deleted.")


class Checkpoint(models.Model):
    """One signed statement of the chain head, as published at /audit/checkpoints/<number>/.

    The signature in `note` is what counts, and it is checked with the public key,
    outside the database (see qpgov.checkpoints); the other columns index it.
    """

    number = models.PositiveIntegerField(unique=True)
    size = models.BigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    note = models.TextField()
    signed_at = models.DateTimeField()

    objects = CheckpointQuerySet.as_manager()

    def __str__(self):
        return f"checkpoint {self.number} at event #{self.size}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Checkpoints are published and signed; they are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Checkpoints are published and signed; they are never deleted.")


class HealthPing(models.Model):
    """One round trip through the broker: the command writes it, the worker answers it."""

    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"ping {self.pk} answered by {self.answered_by or 'nobody yet'}"
