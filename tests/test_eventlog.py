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
    # Lock the head, insert every event in one statement, move the head.
    with django_assert_num_queries(3):
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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
