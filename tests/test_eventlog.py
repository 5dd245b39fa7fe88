import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from qpgov import eventlog
from qpgov.models import AppendOnlyError, Event


@pytest.fixture
def subject(db):
    # Any saved model can be a subject; a group is the simplest one at hand.
    return Group.objects.get(name="Core Ops")


def test_events_chain_each_to_the_one_before(subject, alice):
    first = eventlog.append(subject, "note", actor=alice, note="one")
    second = eventlog.append(subject, "note", note="two")
    assert second.prev_hash == first.hash
    assert second.seq == first.seq + 1
    assert second.actor_name == "system"
    assert eventlog.verify() == (2, None)


def test_a_batch_is_chained_in_order_under_one_lock_of_the_head(subject, alice,
                                                             django_assert_num_queries):
    eventlog.append(subject, "note", note="before")
    # Lock the head, insert every event in one statement, move the head; on
    # PostgreSQL the insert and the move are one statement.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        first, second, third = eventlog.append_many([
            eventlog.entry(subject, "note", actor=alice, note="one"),
            eventlog.entry(subject, "note", note="two", data={"n": 2}),
            eventlog.entry(subject, "note", note="three"),
        ])
    assert [e.note for e in Event.objects.order_by("seq")] == ["before", "one", "two", "three"]
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert all(e.pk for e in (first, second, third))
    assert eventlog.verify() == (4, None)


def test_an_empty_batch_appends_nothing_and_locks_nothing(subject, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert eventlog.append_many([]) == []


def test_events_cannot_be_edited_or_deleted_through_the_orm(subject):
    event = eventlog.append(subject, "note", note="immutable")
    event.note = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(note="changed")
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()


def tamper(sql, *params):
    """Change the log as someone who owns the database can: past its triggers, on PostgreSQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("RESET session_replication_role")


def test_verify_log_names_the_first_altered_event(subject, capsys):
    for i in range(5):
        eventlog.append(subject, "note", note=f"event {i}")
    call_command("verify_log")
    assert "log ok: 5 events" in capsys.readouterr().out

    third = Event.objects.get(seq=3)
    tamper("UPDATE qpgov_event SET note = %s WHERE id = %s", "rewritten", third.pk)
    with pytest.raises(CommandError, match=r"event #3 .*content does not match its hash"):
        call_command("verify_log")


def test_verify_log_notices_a_deleted_event(subject):
    for i in range(3):
        eventlog.append(subject, "note", note=f"event {i}")
    tamper("DELETE FROM qpgov_event WHERE seq = 2")
    with pytest.raises(CommandError, match=r"event #2 .*missing"):
        call_command("verify_log")


def test_verify_log_notices_a_truncated_tail(subject):
    for i in range(3):
        eventlog.append(subject, "note", note=f"event {i}")
    tamper("DELETE FROM qpgov_event WHERE seq = 3")
    with pytest.raises(CommandError, match="chain head does not match"):
        call_command("verify_log")


def test_an_event_rolls_back_with_its_transaction(subject):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        eventlog.append(subject, "note", note="doomed")
        raise RuntimeError
    assert not Event.objects.exists()
    assert eventlog.verify() == (0, None)


# --- what verification proves, on both paths --------------------------------------
# `verify()` runs inside PostgreSQL on PostgreSQL and in Python on SQLite;
# `verify(python=True)` is the Python walk on either. Every tampering below must
# be caught by both, naming the same event.


@pytest.fixture(params=["default", "python"])
def check(request):
    python = request.param == "python"
    return lambda: eventlog.verify(python=python)


@pytest.fixture
def five(subject, alice):
    """Five events, the odd ones by alice; returns them by seq."""
    for i in range(1, 6):
        eventlog.append(subject, "note", actor=alice if i % 2 else None, note=f"event {i}",
                        data={"n": i, "tags": ["a", "b"]})
    return {e.seq: e for e in Event.objects.all()}


def assert_problem(result, seq, reason, checked):
    got_checked, problem = result
    assert problem is not None, "the tampering went unnoticed"
    assert (problem.seq, reason in problem.reason, got_checked) == (seq, True, checked), problem


def test_an_untouched_chain_verifies_on_both_paths(five, check):
    assert check() == (5, None)


def test_text_beyond_ascii_nested_data_and_no_actor_verify(subject, check):
    eventlog.append(subject, "note", note="café ☕ 🚀 שלום עולם \\u00e9 \"quoted\" \\ back\nslash",
                    data={"nested": {"list": [1, 2.5, None, True, {"deep": "ü"}], "empty": {}},
                          "unicode": "日本語", "big": 2**62, "float": 0.1})
    eventlog.append(subject, "note", actor=None, data={})
    event = Event.objects.get(seq=1)
    assert event.body.isascii() and event.hash == event.compute_hash()
    assert check() == (2, None)


def test_it_notices_a_column_changed_without_the_body(five, eve, check):
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 3", "rewritten")
    assert_problem(check(), 3, "content does not match its hash", 2)


@pytest.mark.parametrize("column, value", [
    ("data", '{"n": 2, "tags": ["a", "b"]}'),
    ("data", '{"n": 3.0, "tags": ["a", "b"]}'),  # equal as jsonb, not in Python
    ("data", '{"tags": ["a", "b"], "n": 3, "extra": null}'),
    ("occurred_at", "2001-02-03 04:05:06+00"),
    ("actor_id", None),
    ("subject_id", 99),
    ("kind", "vote"),
])
def test_it_notices_any_hashed_column_changed(five, column, value, check):
    assert five[3].actor_id is not None
    tamper(f"UPDATE qpgov_event SET {column} = %s WHERE seq = 3", value)  # noqa: S608 - a fixed list
    assert_problem(check(), 3, "content does not match its hash", 2)


def test_it_notices_the_actor_swapped_for_another_user(five, eve, check):
    tamper("UPDATE qpgov_event SET actor_id = %s WHERE seq = 3", eve.pk)
    assert_problem(check(), 3, "content does not match its hash", 2)


def test_it_notices_the_body_changed_without_the_columns(five, check):
    tamper("UPDATE qpgov_event SET body = replace(body, 'event 2', 'event X') WHERE seq = 2")
    assert_problem(check(), 2, "content does not match its hash", 1)


def test_it_notices_a_changed_hash(five, check):
    tamper("UPDATE qpgov_event SET hash = %s WHERE seq = 3", "f" * 64)
    assert_problem(check(), 3, "content does not match its hash", 2)


def test_it_notices_a_body_that_is_not_json_even_with_its_own_hash(five, check):
    from hashlib import sha256

    tamper("UPDATE qpgov_event SET body = %s, hash = %s WHERE seq = 2", "not json",
           sha256(b"not json").hexdigest())
    assert_problem(check(), 2, "content does not match its hash", 1)


def test_an_event_rewritten_whole_breaks_the_link_of_the_next(five, check):
    event = five[3]
    event.note = "rewritten, body and hash too"
    event.seal()
    tamper("UPDATE qpgov_event SET note = %s, body = %s, hash = %s WHERE seq = 3",
           event.note, event.body, event.hash)
    assert_problem(check(), 4, "does not link to the event before it", 3)


@pytest.mark.parametrize("python", [False, True])
def test_a_body_rewritten_in_another_json_form_is_caught_at_the_latest_by_the_next_link(five, python):
    from hashlib import sha256

    body = Event.objects.get(seq=3).body.replace('{"actor_id"', '{"extra":1,  "actor_id"')
    tamper("UPDATE qpgov_event SET body = %s, hash = %s WHERE seq = 3",
           body, sha256(body.encode()).hexdigest())
    checked, problem = eventlog.verify(python=python)
    if python or connection.vendor != "postgresql":  # the Python walk wants the canonical text itself
        assert (checked, problem.seq, problem.reason) == (2, 3, "content does not match its hash")
    else:  # PostgreSQL reads the same values from it; the hash it changed breaks the next link
        assert (checked, problem.seq, problem.reason) == (3, 4, "does not link to the event before it")


def test_it_notices_a_relinked_event(five, check):
    tamper("UPDATE qpgov_event SET prev_hash = %s WHERE seq = 3", "a" * 64)
    assert_problem(check(), 3, "does not link to the event before it", 2)


def test_it_notices_a_deleted_event(five, check):
    tamper("DELETE FROM qpgov_event WHERE seq = 2")
    assert_problem(check(), 2, "missing; the next event is #3", 1)


def test_it_names_the_lowest_of_several_problems(five, check):
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 4", "rewritten")
    tamper("DELETE FROM qpgov_event WHERE seq = 5")
    tamper("UPDATE qpgov_event SET prev_hash = %s WHERE seq = 2", "a" * 64)
    assert_problem(check(), 2, "does not link", 1)


def test_it_notices_a_moved_head(five, check):
    tamper("UPDATE qpgov_chainhead SET hash = %s", "b" * 64)
    assert_problem(check(), 5, "chain head does not match", 5)


def test_it_notices_a_truncated_tail(five, check):
    tamper("DELETE FROM qpgov_event WHERE seq = 5")
    assert_problem(check(), 5, "chain head does not match", 4)


def test_verify_log_python_walks_the_chain_in_python(five, capsys, django_assert_num_queries):
    call_command("verify_log", "--python")
    assert "log ok: 5 events" in capsys.readouterr().out
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 2", "rewritten")
    with pytest.raises(CommandError, match=r"event #2 .*content does not match its hash"):
        call_command("verify_log", "--python")


@pytest.mark.postgres(reason="the SQL path is PostgreSQL only")
def test_on_postgresql_the_database_hashes_and_links(five):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert eventlog.verify() == (5, None)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "sha256(convert_to(e.body" in sql and "lag(hash" in sql
    assert "ORDER BY \"qpgov_event\".\"seq\"" not in sql  # no row came back to Python


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_outside_a_transaction_it_reads_one_snapshot_and_still_notices_tampering(check):
    subject = Group.objects.get(name="Core Ops")
    for i in range(3):
        eventlog.append(subject, "note", note=f"event {i}")
    assert check() == (3, None)
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 2", "rewritten")
    assert_problem(check(), 2, "content does not match its hash", 1)
    tamper("UPDATE qpgov_event SET body = %s WHERE seq = 1", "[]")
    assert_problem(check(), 1, "content does not match its hash", 0)
    assert not connection.in_atomic_block


@pytest.mark.parametrize("number", [1e16, -1e20, float("nan"), float("inf"), -0.0])
def test_event_data_refuses_a_float_that_would_not_read_back_as_itself(subject, number):
    # jsonb gives 1e20 back as an integer, and NaN is not JSON: either would make
    # the Python verifier report tampering that never happened.
    from django.db import transaction

    with pytest.raises(TypeError, match="record it as text"), transaction.atomic():
        eventlog.append(subject, "note", data={"nested": [{"n": number}]})
    assert not Event.objects.exists()


def test_floats_that_read_back_as_themselves_verify_on_both_paths(subject, check):
    eventlog.append(subject, "note", data={"n": [0.1, 2.5, 3.0, 1e-7, -9.99e15, 123456789.125]})
    assert check() == (1, None)


# --- verifying a live log -----------------------------------------------------------
# Events keep arriving while verify_log runs. Every read of one verification
# (the walk or the SQL scans, then the head) must see the same moment, or an
# intact log is reported as tampered.


def append_from_another_connection(subject, note):
    """Append one event and commit it, on a connection of its own (another thread)."""
    import threading

    def run():
        try:
            eventlog.append(subject, "note", note=note)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def appending_after_the_first_read_of_events(subject):
    """A query wrapper that commits an event elsewhere right after the first read of the events."""
    state = {"appended": False}

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not state["appended"] and "qpgov_event" in sql:
            state["appended"] = True
            append_from_another_connection(subject, "appended while verifying")
        return result

    return state, wrapper


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_verifying_while_others_append_reads_one_snapshot(check):
    subject = Group.objects.get(name="Core Ops")
    for i in range(4):
        eventlog.append(subject, "note", note=f"event {i}")
    state, wrapper = appending_after_the_first_read_of_events(subject)
    with connection.execute_wrapper(wrapper):
        assert check() == (4, None)  # the event appended meanwhile is simply not seen
    assert state["appended"]
    assert check() == (5, None)
    assert not connection.in_atomic_block
