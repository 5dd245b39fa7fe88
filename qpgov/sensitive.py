"""Pre-publish check for data that must never reach a public page.

Secrets are found by detect-secrets, a maintained scanner: its provider
plugins (AWS, GitHub, GitLab, Slack, Stripe, private keys, JWTs, …), its
keyword detector in config-file mode (`DB_PASSWORD=…`, `secret_key = …`,
`AWS_SECRET_ACCESS_KEY=…`) and its Shannon-entropy measure for long runs that
look like keys. qpgov adds patterns for what the scanner does not read in
prose (wallet seed phrases, Authorization header tokens, bare npm tokens) and
what only it knows: IP and e-mail addresses, the names, hosts and SSH targets
of registered nodes, and the usernames and full names of its accounts (public
text names roles, not people). Findings have the compliance shape so both
checks are shown and overridden the same way. It errs on the side of
flagging: a transaction hash looks like a key, and a council member can
override with a reason.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from functools import cache
from pathlib import Path

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.keyword import CONFIG_DENYLIST_REGEX_TO_GROUP, KeywordDetector

from .compliance import Finding, _sentence_spans

SENSITIVE = "sensitive data"

# A full stop may end the sentence right after an address; a fifth group may not.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)")
# Starts with a hex digit or a colon, so most positions fail at once.
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}|(?=:))(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")

# Candidate key material for the entropy measure: long runs of key alphabets.
_BASE64_RUN = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_-]{20,}={0,2}(?![\w+/=-])")
_HEX_RUN = re.compile(r"(?<![\w])(?:0x)?[0-9a-fA-F]{32,}(?!\w)")
# The shortest name we look for in text: shorter ones ("ops", "bob") hit ordinary words.
MIN_NAME_LENGTH = 4
# Usernames that are ordinary words or roles in a post-mortem, never a person.
COMMON_WORDS = frozenset("""
admin administrator root user users test tester guest staff team teams oncall on-call ops devops
support system service deploy deployer bot robot council responder responders operator operators
node nodes validator validators backup alert alerts monitor monitoring security audit auditor
public private owner owners member members manager lead leads core mainnet testnet none null
""".split())


def _slug(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


@cache
def _provider_plugins():
    """detect-secrets' provider plugins.

    Left out: public IPs (qpgov flags every address itself), the keyword and entropy
    plugins (used below, on prose), and four vendor plugins (Cloudant, IBM COS, IBM IAM,
    SoftLayer) whose slow keyword-gated patterns find 24-64 character keys that the
    entropy measure flags anyway.
    """
    skip = {"Public IP (ipv4)", "Secret Keyword", "Base64 High Entropy String", "Hex High Entropy String",
            "Cloudant Credentials", "IBM COS HMAC Credentials", "IBM Cloud IAM Key", "SoftLayer Credentials"}
    return tuple(cls() for secret_type, cls in sorted(get_mapping_from_secret_type_to_class().items())
                 if secret_type not in skip)


_KEYWORD = KeywordDetector()
_BASE64 = Base64HighEntropyString(limit=4.5)
_HEX = HexHighEntropyString(limit=3.0)
# A keyword value that is an ordinary lower-case word is prose ("The secret: nobody noticed").
# Longer than 14 letters it is a passphrase run together (correcthorsebatterystaple): English
# words that long ("synchronization", 15) hardly ever follow "password:" or "secret:".
_PROSE_VALUE = re.compile(r"^[a-z]{1,14}[,.;:!?]?$")

# Authorization header credentials, whatever the token's alphabet: the entropy measure needs
# digits and mixed case, and misses an all-letter or short bearer token. 16 characters or more
# so prose ("Bearer tokens expire", "Basic authentication") is left alone; on one line, so a
# config's "type: Bearer" is not read with the next line; a trailing full stop ends the
# sentence, not the token.
_BEARER = re.compile(r"(?<![\w-])bearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)(?<!\.)", re.I)
_BASIC = re.compile(r"\bauthorization[ \t]*[:=][ \t]*['\"]?basic[ \t]+([A-Za-z0-9+/]{16,}=*)", re.I)
# An npm access token anywhere (detect-secrets reads it only in .npmrc syntax).
_NPM = re.compile(r"(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")

# A wallet seed phrase: 12 or more words in a row from the BIP-39 English list (the shortest
# mnemonic is 12 words), one after another with nothing but spaces, commas, newlines or
# list numbers ("1. word 2. word", "1) word") between them. The list has no "the", "of",
# "and", "is" or "to", so prose never gets far: over the 2,190 corpus sentences and docs/
# the longest run is 6 words. No checksum test, so a phrase with a typo or cut short is
# still caught. The list is bitcoin/bips bip-0039/english.txt as added in 2014 (2048 words,
# sha256 2f5eed53…24dbda), shipped as is; BIP-39 is published under the MIT licence.
BIP39_FILE = Path(__file__).resolve().parent / "data" / "bip39-english.txt"
MIN_SEED_WORDS = 12
_WORD = re.compile(r"[A-Za-z]+")
_SEED_SEPARATOR = re.compile(r"[\s,]*(?:\d{1,2}[.)][\s,]*)?")
_SEED_RUN = re.compile(rb"\x01{%d,}" % MIN_SEED_WORDS)


@cache
def _bip39_words() -> frozenset[str]:
    return frozenset(BIP39_FILE.read_text(encoding="utf-8").split())


def _seed_phrases(text: str):
    """(start, phrase) for each run of MIN_SEED_WORDS or more BIP-39 words in `text`."""
    words = _bip39_words()
    # A quick pass first, one set lookup per word and one byte per word: a phrase needs twelve
    # list words in a row whatever lies between them, and ordinary text never has them.
    if not _SEED_RUN.search(bytes(w.lower() in words for w in _WORD.findall(text))):
        return
    start = end = count = 0
    for m in _WORD.finditer(text):
        if m.group(0).lower() not in words:
            if count >= MIN_SEED_WORDS:
                yield start, text[start:end]
            count = 0
            continue
        if count and _SEED_SEPARATOR.fullmatch(text, end, m.start()):
            count += 1
        else:
            if count >= MIN_SEED_WORDS:
                yield start, text[start:end]
            start, count = m.start(), 1
        end = m.end()
    if count >= MIN_SEED_WORDS:
        yield start, text[start:end]


def _ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate.split("%")[0])
    except ValueError:
        return False
    return True


# Lines worth handing to the scanner: provider keys are long unbroken runs (AKIA…, ghp_…,
# xoxb-…, eyJ…), key blocks say BEGIN, basic auth is scheme://user:pass@. Other lines
# cannot hold one, and skipping them keeps the check fast on long post-mortems.
_SECRET_HINT = re.compile(r"[\w+/=.-]{16,}|BEGIN|://\S*@")
# Lines the keyword detector reads: a secret-sounding name followed by an assignment.
_DIGIT = re.compile(r"\d")
_KEYWORD_HINT = re.compile(r"(?:key|pass|pwd|secret|contras)\w*['\"\]]{0,2}\s*(?::=|[=:])", re.I)


def _lines(text: str, hint: re.Pattern, words=()):
    """(offset, line) for each line of `text` in which `hint` occurs (and one of `words`, if given)."""
    offset = 0
    for line in text.splitlines(keepends=True):
        lowered = line.lower() if words else ""
        if (not words or any(w in lowered for w in words)) and hint.search(line):
            yield offset, line
        offset += len(line)


def _windows(text: str, hint: re.Pattern, before: int = 40, after: int = 40):
    """(offset, window) around each place `hint` occurs, overlapping windows merged, within one line."""
    spans = []
    for m in hint.finditer(text):
        if not _DIGIT.search(m.group(0)) and "BEGIN" not in m.group(0) and "@" not in m.group(0):
            continue  # a long word or host name, not a key: keys carry digits
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        a = max(line_start, m.start() - before)
        b = min(m.end() + after, len(text) if line_end == -1 else line_end)
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(a, text[a:b]) for a, b in spans]


def _secret_hits(text: str):
    """(rule, start, matched text) for every secret the scanner finds in `text`."""
    # The provider patterns read a key and at most a few words of context around it
    # ("aws_secret = '…'"), so they scan windows around the long runs, not whole paragraphs.
    for offset, window in _windows(text, _SECRET_HINT):
        for plugin in _provider_plugins():
            # The plugin's own patterns, read for their position: analyze_string returns only values.
            for pattern in plugin.denylist:
                for m in pattern.finditer(window):
                    yield _slug(plugin.secret_type), offset + m.start(), m.group(0)
    # The keyword detector in config-file mode reads KEY=value lines whatever the prefix
    # (AWS_SECRET_ACCESS_KEY, DB_PASSWORD): `\b` before "secret" never matches after "_".
    for offset, line in _lines(text, _KEYWORD_HINT, ("key", "pass", "pwd", "secret", "contras")):
        for value in _KEYWORD.analyze_string(line, CONFIG_DENYLIST_REGEX_TO_GROUP):
            value = value.split()[0] if value.split() else ""
            if value and not _PROSE_VALUE.match(value):
                yield "secret-keyword", offset + line.find(value), value
    for m in _HEX_RUN.finditer(text):
        if _HEX.calculate_shannon_entropy(m.group(0).removeprefix("0x")) > _HEX.entropy_limit:
            yield "hex-high-entropy-string", m.start(), m.group(0)
    for m in _BASE64_RUN.finditer(text):
        run = m.group(0)
        # Needs mixed case and a digit (identifiers like consensus_timeout_propose never have
        # both), and either the length of a key or the entropy of one.
        if (re.search(r"\d", run) and re.search(r"[a-z]", run) and re.search(r"[A-Z]", run)
                and (len(run) >= 32 or _BASE64.calculate_shannon_entropy(run) > _BASE64.entropy_limit)):
            yield "base64-high-entropy-string", m.start(), run
    # The case-insensitive patterns run only where their words occur (a substring test is
    # far cheaper than a case-insensitive scan of a long text).
    lowered = text.lower()
    for rule, pattern, word in (("bearer-token", _BEARER, "bearer"), ("basic-auth-header", _BASIC, "basic")):
        if word in lowered:
            for m in pattern.finditer(text):
                yield rule, m.start(1), m.group(1)
    if "npm_" in text:
        yield from (("npm-token", m.start(), m.group(0)) for m in _NPM.finditer(text))
    yield from (("seed-phrase", start, phrase) for start, phrase in _seed_phrases(text))


# A word as names are matched: dots, hyphens, @ and : inside it (val-7.internal, ops@val-7:22).
_NAME_TOKEN = re.compile(r"[\w@]+(?:[.:-][\w@]+)*")


def _index(names) -> dict[str, list[str]]:
    """Lower-cased names keyed by their first word, longest first."""
    index: dict[str, list[str]] = {}
    for name in {n.strip().lower() for n in names if n and len(n.strip()) >= MIN_NAME_LENGTH}:
        first = _NAME_TOKEN.match(name)
        if first:
            index.setdefault(first.group(0), []).append(name)
    for candidates in index.values():
        candidates.sort(key=len, reverse=True)
    return index


def _name_hits(text: str, rule: str, names):
    """Whole-word, case-insensitive occurrences of `names`. One C-speed pass collects the words
    of the text; only names whose first word is among them are looked for, so hundreds of
    accounts cost no more than a few. "alice" is not in "malice", "val-7.internal" is not in
    "eval-7.internal"."""
    index = _index(names)
    if not index:
        return
    lowered = text.lower()
    present = index.keys() & set(_NAME_TOKEN.findall(lowered))
    for first in present:
        for m in re.finditer(rf"(?<![\w@.:-]){re.escape(first)}(?![\w@]|[.:-][\w@])", lowered):
            for name in index[first]:
                end = m.start() + len(name)
                if lowered.startswith(name, m.start()) and not re.match(r"[\w-]", text[end:end + 1]):
                    yield m.start(), rule, text[m.start():end]
                    break


def check(text: str, hosts=(), people=()) -> list[Finding]:
    """Every sensitive-looking string in `text`.

    `hosts` are node names, hosts and SSH targets that must not appear; `people`
    are account usernames and full names. Both come from `known_names()` in
    production and are passed in so the check itself needs no database.
    """
    text = text or ""
    spans = _sentence_spans(text)
    starts = [a for a, _ in spans]
    hits: list[tuple[int, str, str]] = []
    hits += [(m.start(), "ip-address", m.group(0)) for m in _IPV4.finditer(text) if _ip(m.group(0))]
    hits += [(m.start(), "ip-address", m.group(0)) for m in _IPV6.finditer(text) if _ip(m.group(0))]
    hits += [(m.start(), "email-address", m.group(0)) for m in _EMAIL.finditer(text)]
    hits += list(_name_hits(text, "node-host", hosts))
    hits += list(_name_hits(text, "account-name", people))
    hits += [(start, rule, value) for rule, start, value in _secret_hits(text)]
    findings, seen = [], set()
    for start, rule, match in sorted(hits):
        i = bisect.bisect_right(starts, start) - 1
        if i < 0 or (i, rule, match) in seen:
            continue
        seen.add((i, rule, match))
        a, b = spans[i]
        findings.append(Finding(rule, SENSITIVE, text[a:b], match))
    return findings


def node_hosts(target: str) -> list[str]:
    """The host (and the full target) in an SSH target like ops@validator-1.internal:22."""
    if not target:
        return []
    host = target.rsplit("@", 1)[-1].split(":", 1)[0]
    return [target, host]


def _node_model():
    # qpgov sits below fleet/ and never imports it: ask the app registry instead.
    from django.apps import apps

    return apps.get_model("fleet", "Node")


def known_names() -> dict[str, list[str]]:
    """What qpgov knows must stay out of public text: node names, hosts and targets, and people."""
    from django.contrib.auth import get_user_model

    hosts = []
    for name, target in _node_model().objects.values_list("name", "target"):
        hosts += [name, *node_hosts(target)]
    people = []
    for username, first, last in get_user_model().objects.values_list("username", "first_name", "last_name"):
        if username.lower() not in COMMON_WORDS:
            people.append(username)
        full = f"{first} {last}".strip()
        if first and last:
            people.append(full)
    return {"hosts": hosts, "people": people}
