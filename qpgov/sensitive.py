"""Pre-publish check for data that must never reach a public page.

Flags IP addresses, e-mail addresses, the hosts of registered nodes (passed
in by the caller) and strings that look like secrets or keys. It returns
compliance-style findings so both checks are shown and overridden the same
way. It errs on the side of flagging: a transaction hash looks like a key,
and a council member can override with a reason.
"""

from __future__ import annotations

import ipaddress
import re

from .compliance import Finding, sentences

SENSITIVE = "sensitive data"

# A full stop may end the sentence right after an address; a fifth group may not.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
SECRET_PATTERNS = (
    ("private-key", re.compile(r"-----BEGIN[A-Z ]*-----")),
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("credential-assignment",
     re.compile(r"\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*\S+", re.I)),
    ("long-hex", re.compile(r"\b(?:0x)?[0-9a-fA-F]{32,}\b")),
    # Long base64-looking runs that mix cases and digits (plain words never do).
    ("long-base64", re.compile(r"(?<![\w+/])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])"
                               r"(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{32,}={0,2}")),
)


def _ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate.split("%")[0])
    except ValueError:
        return False
    return True


def check(text: str, hosts=()) -> list[Finding]:
    """Every sensitive-looking string in `text`; `hosts` are names that must not appear."""
    host_patterns = [
        (h, re.compile(rf"(?<![\w.-]){re.escape(h)}(?![\w-])", re.I)) for h in sorted(set(hosts)) if h
    ]
    findings = []
    for sentence in sentences(text):
        hits: list[tuple[str, str]] = []
        hits += [("ip-address", m.group(0)) for m in _IPV4.finditer(sentence) if _ip(m.group(0))]
        hits += [("ip-address", m.group(0)) for m in _IPV6.finditer(sentence) if _ip(m.group(0))]
        hits += [("email-address", m.group(0)) for m in _EMAIL.finditer(sentence)]
        hits += [("node-host", m.group(0)) for _, p in host_patterns for m in p.finditer(sentence)]
        for rule, pattern in SECRET_PATTERNS:
            hits += [(rule, m.group(0)) for m in pattern.finditer(sentence)]
        seen = set()
        for rule, match in hits:
            if (rule, match) not in seen:
                seen.add((rule, match))
                findings.append(Finding(rule, SENSITIVE, sentence, match))
    return findings


def node_hosts(target: str) -> list[str]:
    """The host (and the full target) in an SSH target like ops@validator-1.internal:22."""
    if not target:
        return []
    host = target.rsplit("@", 1)[-1].split(":", 1)[0]
    return [target, host]
