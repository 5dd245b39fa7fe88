"""Signed checkpoints: the event log anchored outside the database that holds it."""

import base64
import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from qpgov import checkpoints, eventlog
from qpgov.checkpoints import BadNote, VerifierKey
from qpgov.models import AppendOnlyError, ChainHead, Checkpoint, Event

from .test_eventlog import appending_after_the_first_read_of_events, tamper

ORIGIN = "qpgov.example/event-log"


@pytest.fixture
def signing_key(settings, tmp_path):
    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "checkpoint-key.pem")
    settings.QPGOV_CHECKPOINT_ORIGIN = ORIGIN
    return checkpoints.generate_key_file(tmp_path / "checkpoint-key.pem")


@pytest.fixture
def subject(db):
    return Group.objects.get(name="Core Ops")


def append(subject, count):
    for _ in range(count):
        eventlog.append(subject, "note", note=f"event {Event.objects.count() + 1}")


def rechain_from(seq):
    """Rewrite event #seq and re-chain every event after it, moving the head: what an owner can do."""
    prev_hash = Event.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for event in Event.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = prev_hash
        if event.seq == seq:
            event.note = "rewritten"
        event.seal()
        tamper("UPDATE qpgov_event SET note = %s, prev_hash = %s, body = %s, hash = %s WHERE seq = %s",
               event.note, event.prev_hash, event.body, event.hash, event.seq)
        prev_hash = event.hash
    tamper("UPDATE qpgov_chainhead SET hash = %s", prev_hash)


def truncate_to(seq):
    """Delete the events after #seq and move the head back to it."""
    head = Event.objects.get(seq=seq).hash
    tamper("DELETE FROM qpgov_event WHERE seq > %s", seq)
    tamper("UPDATE qpgov_chainhead SET seq = %s, hash = %s", seq, head)


def signed_at_sizes(subject, *sizes):
    """Append events and sign a checkpoint at each size; return every note, as all.txt serves them."""
    for size in sizes:
        append(subject, size - Event.objects.count())
        assert checkpoints.sign_checkpoint().size == size
    return "".join(c.note + "\n" for c in Checkpoint.objects.order_by("number"))


@pytest.fixture
def saved(tmp_path):
    def save(text):
        path = tmp_path / "saved-checkpoints.txt"
        path.write_text(text, encoding="utf-8")
        return str(path)
    return save


# --- the note format ------------------------------------------------------------------

# The reference vector of the Go implementation (golang.org/x/mod/sumdb/note):
# Ed25519 is deterministic, so the same key and text must give this exact note.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + ("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FF"
                     "YC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_notes_match_the_reference_implementation_byte_for_byte():
    seed = base64.b64decode(GO_SIGNER.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+id+base64(0x01 || seed)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert str(VerifierKey("PeterNeumann", key.public_key())) == GO_VERIFIER
    assert checkpoints.sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE
    assert checkpoints.open_note(GO_NOTE, VerifierKey.parse(GO_VERIFIER)) == GO_TEXT


@pytest.mark.parametrize("note", [
    GO_NOTE.replace("cryptography", "cryptographY"),  # the text changed
    GO_NOTE.replace("x08go", "x08gp"),  # the signature changed
    GO_TEXT,  # no signature at all
    GO_NOTE.replace("PeterNeumann x08", "SomeoneElse x08"),  # only an unknown key signed it
])
def test_a_note_not_signed_by_the_trusted_key_is_refused(note):
    with pytest.raises(BadNote):
        checkpoints.open_note(note, VerifierKey.parse(GO_VERIFIER))


def test_a_checkpoint_is_a_tlog_checkpoint_signed_note(subject, signing_key):
    append(subject, 3)
    checkpoint = checkpoints.sign_checkpoint()
    head = ChainHead.objects.get(pk=1)
    origin, size, root, blank, signature, end = checkpoint.note.split("\n")
    assert (origin, size, blank, end) == (ORIGIN, "3", "", "")
    assert base64.b64decode(root).hex() == head.hash == checkpoint.head_hash
    # Checked here with nothing but the spec and the public key.
    assert signature.startswith(f"\u2014 {ORIGIN} ")
    blob = base64.b64decode(signature.rsplit(" ", 1)[1])
    public = signing_key.public_key()
    raw = checkpoints.VerifierKey(ORIGIN, public).raw
    assert blob[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    public.verify(blob[4:], f"{ORIGIN}\n3\n{root}\n".encode())  # raises if it does not verify


def test_it_signs_only_when_the_head_moved(subject, signing_key):
    append(subject, 2)
    first = checkpoints.sign_checkpoint()
    assert (first.number, first.size) == (1, 2)
    assert checkpoints.sign_checkpoint() is None
    append(subject, 1)
    second = checkpoints.sign_checkpoint()
    assert (second.number, second.size) == (2, 3)


def test_the_first_checkpoint_of_an_empty_log_is_signed(subject, signing_key):
    checkpoint = checkpoints.sign_checkpoint()
    assert (checkpoint.size, checkpoint.head_hash) == (0, "0" * 64)


@pytest.mark.parametrize("attack", [partial(truncate_to, 3), partial(rechain_from, 4)])
def test_it_refuses_to_sign_a_log_that_does_not_extend_the_last_checkpoint(subject, signing_key, attack):
    append(subject, 5)
    checkpoints.sign_checkpoint()
    attack()
    append(subject, 2)
    with pytest.raises(checkpoints.ChainBroken, match="does not extend the last checkpoint"):
        checkpoints.sign_checkpoint()
    assert Checkpoint.objects.count() == 1


def forged_notes():
    """Notes a database writer without the key can store: garbage, another key's, a replayed one."""
    other = Ed25519PrivateKey.generate()
    return {
        "garbage": lambda size, head: "forged\n",
        "another_key": lambda size, head: checkpoints.sign_note(
            checkpoints.checkpoint_text(ORIGIN, size, head), ORIGIN, other),
        "replayed": lambda size, head: Checkpoint.objects.get(number=1).note,
    }


def store_forged(kind):
    """INSERT a checkpoint row ahead of the log, as anyone who can write to the database can."""
    last = Checkpoint.objects.order_by("-number").first()
    size, head = ChainHead.objects.get().seq + 1000, "ab" * 32
    return Checkpoint.objects.create(number=last.number + 1, size=size, head_hash=head,
                                     note=forged_notes()[kind](size, head), signed_at=timezone.now())


@pytest.mark.parametrize("kind", ["garbage", "another_key", "replayed"])
def test_the_signer_refuses_to_build_on_a_stored_checkpoint_it_did_not_sign(subject, signing_key, kind):
    signed_at_sizes(subject, 2, 3)
    forged = store_forged(kind)
    append(subject, 2)
    with pytest.raises(checkpoints.ForgedCheckpoint, match=f"checkpoint #{forged.number} is not signed"):
        checkpoints.sign_checkpoint()
    assert Checkpoint.objects.count() == 3


@pytest.mark.parametrize("kind", ["garbage", "another_key", "replayed"])
def test_a_stored_checkpoint_it_did_not_sign_is_never_served(subject, signing_key, client, kind):
    signed_at_sizes(subject, 2, 3)
    good = Checkpoint.objects.get(number=2)
    forged = store_forged(kind)

    assert client.get("/audit/checkpoints/").content.decode() == good.note
    refused = client.get(f"/audit/checkpoints/{forged.number}/")
    assert refused.status_code == 409 and "not signed by this log's key" in refused.content.decode()
    every = b"".join(client.get("/audit/checkpoints/all.txt").streaming_content).decode()
    assert checkpoints.split_notes(every) == [Checkpoint.objects.get(number=1).note, good.note]
    feed = client.get("/audit/checkpoints/feed/").content.decode()
    assert f"Checkpoint {forged.number}:" not in feed and f"Checkpoint {good.number}:" in feed
    page = client.get("/audit/").content.decode()
    assert 'id="forged-checkpoints"' in page and f"Checkpoint {forged.number}: " in page


def test_checkpoints_cannot_be_changed_through_the_orm(subject, signing_key):
    checkpoint = checkpoints.sign_checkpoint()
    with pytest.raises(AppendOnlyError):
        checkpoint.save()
    with pytest.raises(AppendOnlyError):
        Checkpoint.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        Checkpoint.objects.update(size=9)


def test_the_beat_task_signs_every_few_minutes(subject, signing_key, settings):
    from qpgov import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["sign-event-log-checkpoint"]
    assert entry["task"] == tasks.sign_checkpoint.name
    assert entry["schedule"].total_seconds() <= 600
    append(subject, 1)
    assert tasks.sign_checkpoint() == 1
    assert tasks.sign_checkpoint() is None


# --- verify_log --checkpoints -------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--since-last-checkpoint"], ["--python"]])
def test_an_intact_log_verifies_against_its_checkpoints(subject, signing_key, saved, capsys, mode):
    path = saved(signed_at_sizes(subject, 3, 5, 7))
    append(subject, 2)  # events after the last checkpoint are checked too
    call_command("verify_log", "--checkpoints", path, *mode)
    out = capsys.readouterr().out
    assert "log ok: 9 events" in out and "consistent with 3 signed checkpoints" in out


def test_a_truncated_log_fails_naming_the_first_checkpoint_it_contradicts(subject, signing_key, saved):
    path = saved(signed_at_sizes(subject, 3, 5, 7))
    truncate_to(4)
    call_command("verify_log")  # the chain alone cannot tell
    with pytest.raises(CommandError, match=r"checkpoint of size 5 .* is contradicted: event #5 is missing "
                                           r"\(the chain head is at #4\): the log was truncated"):
        call_command("verify_log", "--checkpoints", path)
    with pytest.raises(CommandError, match="checkpoint of size 7 .* contradicted"):
        call_command("verify_log", "--checkpoints", path, "--since-last-checkpoint")


@pytest.mark.parametrize("python", [False, True])
def test_a_rechained_log_fails_naming_the_first_checkpoint_it_contradicts(subject, signing_key, saved,
                                                                          python):
    path = saved(signed_at_sizes(subject, 3, 5, 7))
    append(subject, 1)
    rechain_from(4)
    assert eventlog.verify(python=python) == (8, None)  # the chain alone cannot tell
    flags = ["--python"] if python else []
    with pytest.raises(CommandError, match=r"checkpoint of size 5 .* is contradicted: event #5 now has "
                                           r"the hash .*: the log was rewritten at or before it"):
        call_command("verify_log", "--checkpoints", path, *flags)
    with pytest.raises(CommandError, match="checkpoint of size 7 .* contradicted"):
        call_command("verify_log", "--checkpoints", path, "--since-last-checkpoint", *flags)


def test_a_log_rewritten_before_the_first_checkpoint_fails_too(subject, signing_key, saved):
    path = saved(signed_at_sizes(subject, 5))
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 2", "rewritten")
    with pytest.raises(CommandError, match=r"event #2 .*content does not match its hash"):
        call_command("verify_log", "--checkpoints", path)


def test_events_after_the_last_checkpoint_are_still_verified(subject, signing_key, saved):
    path = saved(signed_at_sizes(subject, 3))
    append(subject, 3)
    tamper("UPDATE qpgov_event SET note = %s WHERE seq = 5", "rewritten")
    with pytest.raises(CommandError, match=r"event #5 .*content does not match its hash"):
        call_command("verify_log", "--checkpoints", path, "--since-last-checkpoint")


def test_a_checkpoint_signed_by_another_key_is_refused(subject, signing_key, saved, settings, tmp_path):
    good = signed_at_sizes(subject, 2)
    other = Ed25519PrivateKey.generate()
    forged = checkpoints.sign_note(checkpoints.checkpoint_text(ORIGIN, 2, "ab" * 32), ORIGIN, other)
    with pytest.raises(CommandError, match=r"saved checkpoint 2: not signed by qpgov.example/event-log\+"):
        call_command("verify_log", "--checkpoints", saved(good + "\n" + forged))


def test_the_verifier_can_bring_its_own_key(subject, signing_key, saved):
    path = saved(signed_at_sizes(subject, 2))
    published = str(checkpoints.verifier_key())
    call_command("verify_log", "--checkpoints", path, "--key", published)
    stranger = VerifierKey(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(CommandError, match="not signed by"):
        call_command("verify_log", "--checkpoints", path, "--key", str(stranger))


def test_since_the_last_checkpoint_it_reads_only_the_events_after_it(subject, signing_key, saved,
                                                                     monkeypatch):
    path = saved(signed_at_sizes(subject, 40))
    append(subject, 5)
    hashed = []
    real = eventlog.canonical_bytes
    monkeypatch.setattr(eventlog, "canonical_bytes", lambda values: hashed.append(values[0]) or real(values))
    call_command("verify_log", "--python", "--checkpoints", path, "--since-last-checkpoint")
    assert hashed == [41, 42, 43, 44, 45]
    hashed.clear()
    call_command("verify_log", "--python", "--checkpoints", path)
    assert hashed == list(range(1, 46))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts rows PostgreSQL reads")
def test_on_postgresql_since_the_last_checkpoint_the_scans_read_only_the_events_after_it(
        subject, signing_key, saved):
    path = saved(signed_at_sizes(subject, 3000))
    append(subject, 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE qpgov_event")

    def rows_read():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_get_xact_tuples_returned('qpgov_event'::regclass)"
                           " + pg_stat_get_xact_tuples_fetched('qpgov_event'::regclass)")
            return cursor.fetchone()[0]

    before = rows_read()
    call_command("verify_log", "--checkpoints", path, "--since-last-checkpoint")
    since_last = rows_read() - before
    before = rows_read()
    call_command("verify_log", "--checkpoints", path)
    whole = rows_read() - before
    assert since_last < 50 and whole > 3000, (since_last, whole)


def test_verify_log_reads_checkpoints_from_a_url(subject, signing_key, client, tmp_path, capsys):
    signed_at_sizes(subject, 2, 4)
    body = b"".join(client.get("/audit/checkpoints/all.txt").streaming_content)
    (tmp_path / "all.txt").write_bytes(body)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/all.txt"
        call_command("verify_log", "--checkpoints", url)
        assert "consistent with 2 signed checkpoints" in capsys.readouterr().out
        truncate_to(3)
        with pytest.raises(CommandError, match="checkpoint of size 4 .* contradicted"):
            call_command("verify_log", "--checkpoints", url)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("mode", [[], ["--since-last-checkpoint"], ["--python"]])
def test_checking_against_checkpoints_while_others_append_reads_one_snapshot(signing_key, saved, capsys,
                                                                             mode):
    subject = Group.objects.get(name="Core Ops")
    path = saved(signed_at_sizes(subject, 3))
    append(subject, 1)
    state, wrapper = appending_after_the_first_read_of_events(subject)
    with connection.execute_wrapper(wrapper):
        call_command("verify_log", "--checkpoints", path, *mode)
    assert state["appended"] and Event.objects.count() == 5
    assert "log ok: 4 events" in capsys.readouterr().out


def test_a_missing_file_is_a_clear_error(subject, signing_key, tmp_path):
    with pytest.raises(CommandError, match="cannot read checkpoints from"):
        call_command("verify_log", "--checkpoints", str(tmp_path / "nothing-here.txt"))


# --- publishing -----------------------------------------------------------------------------


def test_checkpoints_are_public_plain_text(subject, signing_key, client):
    assert client.get("/audit/checkpoints/").status_code == 404
    signed_at_sizes(subject, 2, 3)
    latest = client.get("/audit/checkpoints/")
    assert latest.status_code == 200 and latest["Content-Type"].startswith("text/plain")
    assert latest.content.decode() == Checkpoint.objects.get(number=2).note
    first = client.get("/audit/checkpoints/1/")
    assert first.content.decode() == Checkpoint.objects.get(number=1).note
    assert client.get("/audit/checkpoints/3/").status_code == 404
    every = b"".join(client.get("/audit/checkpoints/all.txt").streaming_content).decode()
    assert checkpoints.split_notes(every) == [c.note for c in Checkpoint.objects.order_by("number")]
    key = client.get("/audit/checkpoints/key.txt").content.decode().strip()
    assert checkpoints.read_checkpoint(latest.content.decode(), VerifierKey.parse(key)).size == 3


def test_the_audit_page_shows_the_key_and_its_fingerprint(subject, signing_key, client):
    signed_at_sizes(subject, 2)
    page = client.get("/audit/").content.decode()
    key = checkpoints.verifier_key()
    assert str(key) in page and key.fingerprint in page
    assert hashlib.sha256(key.raw).hexdigest() == key.fingerprint


def test_the_atom_feed_carries_each_note_with_a_tag_id_and_an_author(subject, signing_key, client, settings):
    settings.SITE_ROOT = "https://gov.example.org"
    settings.QPGOV_TAG_AUTHORITY = "example.org,2026"
    settings.QPGOV_FEED_AUTHOR = "Example governance"
    signed_at_sizes(subject, 2, 3)
    feed = client.get("/audit/checkpoints/feed/", HTTP_HOST="localhost")  # a Host the client chose
    assert feed["Content-Type"].startswith("application/atom+xml")
    xml = feed.content.decode()
    assert "<id>tag:example.org,2026:event-log/checkpoints</id>" in xml
    assert "<id>tag:example.org,2026:event-log/checkpoints/2</id>" in xml
    assert "<author><name>Example governance</name>" in xml
    assert 'href="https://gov.example.org/audit/checkpoints/2/"' in xml
    assert 'href="https://gov.example.org/audit/checkpoints/feed/"' in xml
    assert "localhost" not in xml
    assert Checkpoint.objects.get(number=1).note.split("\n")[2] in xml


# --- the system check ---------------------------------------------------------------------------


def test_production_refuses_to_start_without_a_checkpoint_key(settings, tmp_path):
    from qpgov.checks import checkpoint_key_check

    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "absent.pem")
    settings.DEV = False
    assert [e.id for e in checkpoint_key_check(None)] == ["qpgov.E004"]
    settings.DEV = True
    assert [e.id for e in checkpoint_key_check(None)] == ["qpgov.W004"]
    checkpoints.generate_key_file(tmp_path / "absent.pem")
    assert checkpoint_key_check(None) == []


def test_the_key_command_generates_once_and_shows_the_verifier_key(settings, tmp_path, capsys):
    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "k.pem")
    with pytest.raises(CommandError, match="--generate writes a new key"):
        call_command("checkpoint_key")
    call_command("checkpoint_key", "--generate")
    first = capsys.readouterr().out
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    call_command("checkpoint_key", "--generate")  # never overwrites
    assert capsys.readouterr().out == first


# --- PostgreSQL refuses rewrites below the ORM ------------------------------------------------

pg_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL only")


@pg_only
@pytest.mark.parametrize("sql", [
    "UPDATE qpgov_event SET note = 'rewritten' WHERE seq = 2",
    "DELETE FROM qpgov_event WHERE seq = 3",
    "TRUNCATE qpgov_event CASCADE",
    "UPDATE qpgov_chainhead SET seq = 2",
    "UPDATE qpgov_chainhead SET hash = repeat('b', 64)",
    "DELETE FROM qpgov_chainhead",
    "UPDATE qpgov_checkpoint SET size = 1",
    "DELETE FROM qpgov_checkpoint",
])
def test_on_postgresql_raw_sql_cannot_rewrite_the_log(subject, signing_key, sql):
    from django.db.utils import IntegrityError

    append(subject, 3)
    checkpoints.sign_checkpoint()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE waits on this test's inserts
    with pytest.raises(IntegrityError, match="refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert eventlog.verify() == (3, None)
    assert Checkpoint.objects.count() == 1
    append(subject, 1)  # appending still moves the head forward
    assert eventlog.verify() == (4, None)
