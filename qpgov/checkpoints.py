"""Signed checkpoints of the event log, so that the log's owner cannot rewrite it unseen.

A hash chain kept only in the database cannot catch whoever can write to that
database: they can truncate it, or rewrite one event and re-chain all after it.
Every few minutes a beat task signs the chain head (its size and hash) with an
Ed25519 key kept outside the database, and publishes the result at
/audit/checkpoints/. Anyone who saved a checkpoint can later prove the log still
extends it (`manage.py verify_log --checkpoints`).

A checkpoint is a C2SP signed note (c2sp.org/signed-note) in the tlog-checkpoint
layout (c2sp.org/tlog-checkpoint): origin line, size, base64 root hash, blank
line, signature line. The "root hash" here is the head of a linear hash chain,
not of a Merkle tree: it commits to every event up to `size`, but checking that
a later log extends it needs the events themselves, not a consistency proof.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import eventlog
from .models import GENESIS_HASH, ChainHead, Checkpoint, Event

log = logging.getLogger(__name__)

ED25519 = b"\x01"  # the signed-note signature type byte for Ed25519
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


class BadNote(ValueError):
    """A text that is not a checkpoint signed by the key we trust."""


class ChainBroken(RuntimeError):
    """The chain no longer extends the last checkpoint: refuse to sign it."""


class ForgedCheckpoint(ChainBroken):
    """The newest stored checkpoint is not one this log's key signed: refuse to build on it."""


# --- keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    """A key name and an Ed25519 public key: what a verifier needs, and all it needs."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        """SHA-256(key name || 0x0A || 0x01 || public key)[:4], as signed-note recommends."""
        return hashlib.sha256(self.name.encode() + b"\n" + ED25519 + self.raw).digest()[:4]

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the 32-byte public key, in hex: what to compare out of band."""
        return hashlib.sha256(self.raw).hexdigest()

    def __str__(self) -> str:
        """The verifier key in the signed-note text form: name+hex key id+base64(0x01 || key)."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.raw).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key written as `str(key)` (the Go sumdb/note vkey form)."""
        name, _, rest = text.strip().partition("+")
        key_id, _, encoded = rest.partition("+")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise BadNote(f"not a verifier key: {exc}") from None
        if not name or len(blob) != 33 or blob[:1] != ED25519:
            raise BadNote("not an Ed25519 verifier key (name+keyid+base64 of 0x01 and 32 bytes)")
        key = cls(name, Ed25519PublicKey.from_public_bytes(blob[1:]))
        if key.key_id.hex() != key_id.lower():
            raise BadNote("the verifier key's id does not match its name and key")
        return key


def origin() -> str:
    """The log's name: first line of every checkpoint, and the signing key's name."""
    return settings.QPGOV_CHECKPOINT_ORIGIN


def key_file() -> Path | None:
    value = settings.QPGOV_CHECKPOINT_KEY_FILE
    return Path(value) if value else None


def signing_key() -> Ed25519PrivateKey:
    """The private key from QPGOV_CHECKPOINT_KEY_FILE (PEM, PKCS#8, unencrypted)."""
    path = key_file()
    if path is None:
        raise ImproperlyConfigured("QPGOV_CHECKPOINT_KEY_FILE is not set")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"cannot read the checkpoint key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"the checkpoint key {path} is not an Ed25519 key")
    return key


def verifier_key() -> VerifierKey:
    """The public half of the configured signing key, under the log's origin."""
    return VerifierKey(origin(), signing_key().public_key())


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Write a new Ed25519 key to `path`, readable by its owner only; never overwrite one."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # fails if it exists
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


# --- notes ---------------------------------------------------------------------------


def checkpoint_text(origin: str, size: int, head_hash: str) -> str:
    """The note text: origin, size and the head hash in base64, one per line."""
    return f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hash)).decode()}\n"


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """`text` followed by a blank line and its Ed25519 signature line."""
    verifier = VerifierKey(name, key.public_key())
    signature = base64.b64encode(verifier.key_id + key.sign(text.encode())).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {signature}\n"


def open_note(note: str, key: VerifierKey) -> str:
    """Return the text of `note` if `key` signed it; raise BadNote otherwise.

    As signed-note requires: signatures by other keys are ignored, a signature
    by this key that does not verify rejects the note, and so does no signature.
    """
    if not note.endswith("\n") or any(c < " " and c != "\n" for c in note):
        raise BadNote("a note ends with a newline and holds no other control characters")
    split = note.rfind("\n\n")
    if split < 0:
        raise BadNote("no blank line between the text and the signatures")
    text, signatures = note[:split + 1], note[split + 2:]
    verified = False
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise BadNote(f"not a signature line: {line[:80]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise BadNote(f"a signature is not base64: {line[:80]!r}") from None
        if len(blob) < 4:
            raise BadNote("a signature is too short")
        if name != key.name or blob[:4] != key.key_id:
            continue  # someone else's signature (a witness, a rotated key)
        try:
            key.public_key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise BadNote(f"the signature of {name} does not verify") from None
        verified = True
    if not verified:
        raise BadNote(f"not signed by {key.name}+{key.key_id.hex()}")
    return text


@dataclass(frozen=True)
class SignedCheckpoint:
    """What a verified checkpoint says: the chain had `size` events, the last with `head_hash`."""

    origin: str
    size: int
    head_hash: str

    def __str__(self):
        return f"the checkpoint of size {self.size} (head {self.head_hash[:16]}…)"


def read_checkpoint(note: str, key: VerifierKey) -> SignedCheckpoint:
    """Verify `note` with `key` and read its origin, size and head hash."""
    lines = open_note(note, key).split("\n")[:-1]
    if len(lines) < 3 or not all(lines):
        raise BadNote("a checkpoint has an origin, a size and a hash, each on its own line")
    origin_line, size, encoded = lines[:3]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise BadNote(f"the size {size!r} is not a decimal number")
    try:
        head = base64.b64decode(encoded, validate=True)
    except ValueError:
        head = b""
    if len(head) != 32:
        raise BadNote("the root hash is not 32 bytes in base64")
    return SignedCheckpoint(origin_line, int(size), head.hex())


def stored_problem(checkpoint: Checkpoint, key: VerifierKey) -> str | None:
    """Why a stored row is not a checkpoint `key` signed for what the row says; None if it is.

    The checkpoint table accepts INSERTs (the triggers refuse only changes), so
    whoever can write to the database can add a row: its signature is what counts.
    """
    try:
        signed = read_checkpoint(checkpoint.note, key)
    except BadNote as exc:
        return str(exc)
    if signed != SignedCheckpoint(key.name, checkpoint.size, checkpoint.head_hash):
        return f"its note is {signed} for {signed.origin!r}, not what the row says"
    return None


def signed_only(rows: Iterable[Checkpoint], key: VerifierKey | None) -> Iterator[Checkpoint]:
    """The rows whose signature verifies with `key` (none without a key); others are logged and skipped."""
    if key is None:
        return
    for checkpoint in rows:
        if problem := stored_problem(checkpoint, key):
            log.error("stored checkpoint #%s is not signed by this log's key, not served: %s",
                      checkpoint.number, problem)
        else:
            yield checkpoint


def latest_signed(key: VerifierKey | None) -> Checkpoint | None:
    """The newest stored checkpoint that `key` signed, skipping forged rows."""
    rows = Checkpoint.objects.order_by("-number").iterator(chunk_size=20)
    return next(signed_only(rows, key), None)


def configured_verifier_key() -> VerifierKey | None:
    """The verifier key, or None when no signing key is configured (the system check says so)."""
    try:
        return verifier_key()
    except ImproperlyConfigured:
        return None


def split_notes(text: str) -> list[str]:
    """Split saved checkpoints, one after another with a blank line between, into notes.

    This is how /audit/checkpoints/all.txt serves them; a single note is a list of one.
    """
    notes, lines, signed = [], [], False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "" and signed:  # the blank line after a note's signatures
            notes.append("\n".join(lines) + "\n")
            lines, signed = [], False
        elif line or lines:  # blank lines before a note are not part of it
            lines.append(line)
            signed = signed or (line.startswith(SIGNATURE_PREFIX) and "" in lines)
    if any(lines):
        notes.append("\n".join(lines).rstrip("\n") + "\n")
    return notes


def load_notes(source: str) -> str:
    """The text of a file, or of an http(s) URL, holding saved checkpoints."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - scheme checked
            return response.read(MAX_DOWNLOAD_BYTES).decode("utf-8")
    return Path(source).read_text(encoding="utf-8")


# --- signing -------------------------------------------------------------------------


def sign_checkpoint() -> Checkpoint | None:
    """Sign the chain head if it moved since the last checkpoint; return the new one, or None.

    A log must never sign a state that does not extend what it signed before, so
    the events since the last checkpoint are verified first (a cost proportional
    to them, not to the log); a broken chain raises ChainBroken and signs nothing.
    """
    key = signing_key()
    with eventlog.snapshot():
        last = Checkpoint.objects.order_by("-number").first()
        # Built on, a forged row would get this key's signature on whatever head it names.
        if last is not None and (problem := stored_problem(last, VerifierKey(origin(), key.public_key()))):
            log.error("checkpoint #%s is not signed by this log's key: %s", last.number, problem)
            raise ForgedCheckpoint(f"checkpoint #{last.number} is not signed by this log's key "
                                   f"({problem}): someone wrote it to the database; nothing signed "
                                   "after it until an operator looks")
        size, head_hash = ChainHead.objects.values_list("seq", "hash").get(pk=1)
        if last is not None and (last.size, last.head_hash) == (size, head_hash):
            return None
        since = (last.size, last.head_hash) if last else (0, GENESIS_HASH)
        checked, problem = eventlog.verify(since=since)
    if problem is not None:
        log.error("event log does not extend checkpoint #%s: %s", last and last.number, problem)
        raise ChainBroken(f"the event log does not extend the last checkpoint: {problem}")
    note = sign_note(checkpoint_text(origin(), size, head_hash), origin(), key)
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(
                number=(last.number + 1) if last else 1, size=size, head_hash=head_hash,
                note=note, signed_at=timezone.now(),
            )
    except IntegrityError:
        return None  # another signer published this number or this size first


# --- verifying a log against saved checkpoints -------------------------------------------


def verify_against(notes: list[str], key: VerifierKey, *, since_last: bool = False,
                   python: bool = False) -> tuple[int, str | None]:
    """Check the log against saved checkpoint notes; return (events checked, the first failure).

    Every note must be signed by `key` for this log's origin. Then, on one
    snapshot: each checkpoint's size must be reached and event #size must carry
    the signed hash (lowest size first, so the first contradicted checkpoint is
    named), and the chain must verify: from the start, or with `since_last` only
    from the last checkpoint on, trusting its signed hash.
    """
    checkpoints = []
    for position, note in enumerate(notes, 1):
        try:
            checkpoint = read_checkpoint(note, key)
        except BadNote as exc:
            return 0, f"saved checkpoint {position}: {exc}"
        if checkpoint.origin != key.name:
            return 0, f"saved checkpoint {position} is for the log {checkpoint.origin!r}, not {key.name!r}"
        checkpoints.append(checkpoint)
    if not checkpoints:
        return 0, "no checkpoint to verify against"
    checkpoints.sort(key=lambda c: c.size)
    last = checkpoints[-1]
    with eventlog.snapshot():
        if failure := _first_contradiction(checkpoints[-1:] if since_last else checkpoints):
            return 0, failure
        since = (last.size, last.head_hash) if since_last else None
        checked, problem = eventlog.verify(python=python, since=since)
    if problem is not None:
        return checked, f"log verification FAILED after {checked} good events: {problem}"
    return checked, None


def _first_contradiction(checkpoints: list[SignedCheckpoint], batch: int = 1000) -> str | None:
    """Name the first checkpoint (by size) whose event #size is missing or has another hash."""
    for start in range(0, len(checkpoints), batch):
        part = checkpoints[start:start + batch]
        stored = dict(Event.objects.filter(seq__in={c.size for c in part}).values_list("seq", "hash"))
        for checkpoint in part:
            if checkpoint.size == 0:
                if checkpoint.head_hash != GENESIS_HASH:
                    return f"{checkpoint} is contradicted: an empty log has no other head"
            elif checkpoint.size not in stored:
                head = ChainHead.objects.values_list("seq", flat=True).get(pk=1)
                return (f"{checkpoint} is contradicted: event #{checkpoint.size} is missing "
                        f"(the chain head is at #{head}): the log was truncated")
            elif stored[checkpoint.size] != checkpoint.head_hash:
                return (f"{checkpoint} is contradicted: event #{checkpoint.size} now has the hash "
                        f"{stored[checkpoint.size][:16]}…: the log was rewritten at or before it")
    return None
