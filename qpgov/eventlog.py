"""Append to and verify the hash-chained event log (see qpgov.models.Event)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256

from django.db import DataError, connection, transaction
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
        seq, prev_hash = _lock_head()
        now = timezone.now()
        events = []
        for fields in entries:
            seq += 1
            event = Event(**{**fields, "occurred_at": fields["occurred_at"] or now},
                          seq=seq, recorded_at=now, prev_hash=prev_hash)
            event.seal()
            prev_hash = event.hash
            events.append(event)
        if connection.vendor == "postgresql":
            _insert_moving_head(events, seq, prev_hash)
        else:
            Event.objects.bulk_create(events)
            ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return events


def _lock_head() -> tuple[int, str]:
    """Lock the chain head; return its (seq, hash)."""
    if connection.vendor != "postgresql":
        return ChainHead.objects.select_for_update().values_list("seq", "hash").get(pk=1)
    # Every event of every part of qpgov passes here: plain SQL costs a third of
    # what the ORM spends building the same statement.
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM qpgov_chainhead WHERE id = 1 FOR UPDATE")
        return cursor.fetchone()


def _insert_moving_head(events: list[Event], seq: int, last_hash: str) -> None:
    """Insert `events` and move the chain head to (`seq`, `last_hash`) in one statement.

    PostgreSQL runs the head's UPDATE in a data-modifying CTE: one round trip
    where bulk_create and update() take two. The caller holds the head's lock.
    """
    fields = [f for f in Event._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    rows = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(events))
    # Only the model's own column names are formatted in; every value is a parameter.
    sql = ("WITH head AS (UPDATE qpgov_chainhead SET seq = %s, hash = %s WHERE id = 1) "  # noqa: S608
           f"INSERT INTO qpgov_event ({columns}) VALUES {rows} RETURNING seq, id")
    params = [seq, last_hash]
    for event in events:
        params += [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = dict(cursor.fetchall())
    # Matched by seq rather than by position: RETURNING's row order is not promised.
    for event in events:
        event.pk = ids[event.seq]
        event._state.adding, event._state.db = False, connection.alias


@dataclass
class Problem:
    seq: int
    event_id: int | None
    reason: str

    def __str__(self):
        return f"event #{self.seq} (id {self.event_id}): {self.reason}"


def verify(*, python: bool = False, chunk_size: int = 10000,
           since: tuple[int, str] | None = None) -> tuple[int, Problem | None]:
    """Check the chain; return (events checked, first problem by seq, or None).

    On PostgreSQL the database does the work (see `_verify_in_sql`); elsewhere, or
    with `python=True`, every row is read and checked here, trusting nothing the
    database computes. Both name the same event for a changed column, body or hash,
    a gap, a relink or a moved head. One difference: a body rewritten with its hash
    into another JSON of the same values (key order, spacing, extra keys) is named
    by the Python walk at that event and by the database at the next link.

    `since=(seq, hash)` trusts event #seq to have that hash (a signed checkpoint
    says so) and checks only that it does and the events after it: the cost is
    that of the events since, not of the whole log. "Events checked" then counts
    the trusted prefix too.
    """
    with snapshot():
        if python or connection.vendor != "postgresql":
            return _verify_in_python(chunk_size, since)
        return _verify_in_sql_or_python(chunk_size, since)


@contextmanager
def snapshot():
    """Run the block on one read-only snapshot of the database, or in the caller's transaction.

    Every read of a verification (the walk or the scans, then the head) must see
    the same moment: events appended meanwhile are then simply not seen, where
    reading the head later would report the intact log as truncated.
    """
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
        return
    connection.ensure_connection()
    if connection.vendor != "sqlite":
        with transaction.atomic():
            yield
        return
    # settings make SQLite transactions IMMEDIATE, which would hold the write
    # lock for the whole walk and stall every writer. A DEFERRED one reads a
    # single WAL snapshot from its first read on, while writers go on.
    mode = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        with transaction.atomic():
            connection.transaction_mode = mode
            yield
    finally:
        connection.transaction_mode = mode


def _start(since):
    """(expected seq of the first event to read, the hash it must link to)."""
    return (1, GENESIS_HASH) if since is None else (since[0] + 1, since[1])


def _check_anchor(since) -> Problem | None:
    """Whether event #seq has the hash `since` trusts it to have (one row read)."""
    if since is None or since[0] == 0 and since[1] == GENESIS_HASH:
        return None
    seq, expected = since
    row = Event.objects.filter(seq=seq).values_list("id", "hash").first()
    if row is None:
        return Problem(seq, None, "missing, but a checkpoint covers it")
    if row[1] != expected:
        return Problem(seq, row[0], "has another hash than the checkpoint signed")
    return None


def _verify_in_python(chunk_size, since=None):
    """Walk the chain in order, rebuilding each event's canonical bytes from its columns.

    Reads plain tuples rather than model instances: this runs over millions of
    rows, and building a model per row would cost more than the hashing.
    """
    expected_seq, expected_prev = _start(since)
    checked = expected_seq - 1
    if problem := _check_anchor(since):
        return 0, problem
    rows = (Event.objects.filter(seq__gte=expected_seq).order_by("seq")
            .values_list("id", "hash", "body", *HASHED_FIELDS))
    for event_id, stored_hash, body, *values in rows.iterator(chunk_size=chunk_size):
        seq, prev_hash = values[0], values[1]
        if seq != expected_seq:
            return checked, Problem(expected_seq, None, f"missing; the next event is #{seq}")
        if prev_hash != expected_prev:
            return checked, Problem(seq, event_id, "does not link to the event before it")
        blob = canonical_bytes(tuple(values))
        if blob != body.encode() or sha256(blob).hexdigest() != stored_hash:
            return checked, Problem(seq, event_id, "content does not match its hash")
        expected_prev = stored_hash
        expected_seq += 1
        checked += 1
    return checked, _check_head(checked, expected_prev)


def _check_head(checked, last_hash):
    head = ChainHead.objects.get(pk=1)
    if head.seq != checked or head.hash != last_hash:
        return Problem(head.seq, None, "the chain head does not match the last event")
    return None


def _verify_in_sql_or_python(chunk_size, since=None):
    try:
        with transaction.atomic():
            return _verify_in_sql(since)
    except DataError:
        # A body PostgreSQL cannot read as a JSON object was not written by us;
        # the Python walk names the first such event, or any earlier problem.
        return _verify_in_python(chunk_size, since)


# Each body, parsed once, against the columns. Texts and numbers are compared as
# text (no cast can fail), `data` as PostgreSQL's normal form of the JSON (so 1
# and 1.0 differ, as they do in Python), timestamps in models._iso's format.
# Not checked: that the body has no other keys and is byte-for-byte canonical.
# It need not be: the body is what is hashed, so changing it breaks the chain
# exactly as changing a column did before bodies were stored.
_CONTENT_SQL = """
SELECT count(*), min(e.seq) FILTER (WHERE
       e.hash <> encode(sha256(convert_to(e.body, 'UTF8')), 'hex')
    OR r.seq IS DISTINCT FROM e.seq::text
    OR r.prev_hash IS DISTINCT FROM e.prev_hash
    OR r.subject_type IS DISTINCT FROM e.subject_type
    OR r.subject_id IS DISTINCT FROM e.subject_id::text
    OR r.kind IS DISTINCT FROM e.kind
    OR r.actor_id IS DISTINCT FROM e.actor_id::text
    OR r.actor_name IS DISTINCT FROM e.actor_name
    OR r.from_state IS DISTINCT FROM e.from_state
    OR r.to_state IS DISTINCT FROM e.to_state
    OR r.note IS DISTINCT FROM e.note
    OR r.revision_hash IS DISTINCT FROM e.revision_hash
    OR r.data::text IS DISTINCT FROM e.data::text
    OR r.occurred_at IS DISTINCT FROM
       to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    OR r.recorded_at IS DISTINCT FROM
       to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
)
FROM qpgov_event e, jsonb_to_record(e.body::jsonb) AS r(
    seq text, prev_hash text, subject_type text, subject_id text, kind text, actor_id text,
    actor_name text, from_state text, to_state text, note text, revision_hash text, data jsonb,
    occurred_at text, recorded_at text)
WHERE e.seq >= %s
"""

# The first event, by seq, whose seq does not follow the one before or whose
# prev_hash is not the stored hash of the one before.
_LINKS_SQL = """
SELECT seq, id, prev_seq FROM (
    SELECT seq, id, prev_hash, lag(seq, 1, %s::bigint) OVER w AS prev_seq,
           lag(hash, 1, %s::varchar) OVER w AS expected_prev
    FROM qpgov_event WHERE seq >= %s WINDOW w AS (ORDER BY seq)
) chain
WHERE seq <> prev_seq + 1 OR prev_hash <> expected_prev
ORDER BY seq LIMIT 1
"""


def _verify_in_sql(since=None):
    """The same checks as `_verify_in_python`, as two scans inside PostgreSQL.

    One parallel scan hashes every body and compares it with the columns; one
    ordered scan checks seq gaps and links. The lowest seq with a problem wins.
    """
    first, first_prev = _start(since)
    if problem := _check_anchor(since):
        return 0, problem
    with connection.cursor() as cursor:
        cursor.execute(_CONTENT_SQL, [first])
        count, bad_content = cursor.fetchone()
        count += first - 1
        cursor.execute(_LINKS_SQL, [first - 1, first_prev, first])
        broken = cursor.fetchone()
        if broken and (bad_content is None or broken[0] <= bad_content):
            seq, event_id, prev_seq = broken
            if seq != prev_seq + 1:
                return prev_seq, Problem(prev_seq + 1, None, f"missing; the next event is #{seq}")
            return seq - 1, Problem(seq, event_id, "does not link to the event before it")
        if bad_content is not None:
            cursor.execute("SELECT id FROM qpgov_event WHERE seq = %s", [bad_content])
            event_id = cursor.fetchone()[0]
            return bad_content - 1, Problem(bad_content, event_id, "content does not match its hash")
        cursor.execute("SELECT hash FROM qpgov_event WHERE seq >= %s ORDER BY seq DESC LIMIT 1",
                       [first])
        last = cursor.fetchone()
    return count, _check_head(count, last[0] if last else first_prev)
