"""Public-posture check (playbook section 7): no profit guarantees, no price talk, no promotion.

The rules are data, in this one file: edit RULES to tune them and add a test
for every hit and every near-miss you care about (tests/test_compliance.py).
A rule hits where its pattern matches outside every span that one of its
exceptions matches, so "gas price" stays technical while "token price" in
the same sentence is still flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RULES_VERSION = "2026-11-27.1"

PROFIT = "profit guarantee"
PRICE = "price discussion"
PROMOTION = "promotional language"


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    pattern: str
    exceptions: tuple[str, ...] = ()
    compiled: re.Pattern = field(init=False, repr=False, compare=False)
    compiled_exceptions: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "compiled", re.compile(self.pattern, re.IGNORECASE))
        object.__setattr__(
            self, "compiled_exceptions",
            tuple(re.compile(p, re.IGNORECASE) for p in self.exceptions),
        )


RULES = (
    # Profit guarantees and investment promises.
    Rule("guaranteed-returns", PROFIT, r"\bguarantee(?:d|s)?\b[^.!?]{0,40}\b(?:returns?|profits?|yields?|gains?|income|apy|apr|rewards?)\b"),
    Rule("returns-guaranteed", PROFIT,
         r"\b(?:returns?|profits?|yields?|gains?|rewards?)\b[^.!?]{0,25}\b(?:guaranteed|assured|certain|promised)\b"),
    Rule("risk-free", PROFIT, r"\b(?:risk[- ]free|zero[- ]risk|no[- ]risk)\b[^.!?]{0,30}\b(?:returns?|profits?|investment|income)\b"),
    Rule("get-rich", PROFIT, r"\b(?:passive income|get rich|double your (?:money|tokens|investment)|\d+x (?:returns?|gains?))\b"),
    # Price and market talk.
    Rule("price", PRICE, r"\bprices?\b",
         exceptions=(r"\bgas[- ]prices?\b", r"\b(?:base|priority|minimum)[- ]fee[- ]prices?\b",
                     r"\bprice of gas\b")),
    Rule("market-cap", PRICE, r"\bmarket[- ]?cap(?:italisation|italization)?\b"),
    Rule("moon", PRICE, r"\b(?:to the moon|mooning|pump(?:ing|ed)?|dump(?:ing|ed)?)\b",
         exceptions=(r"\b(?:heap|core|memory|thread|state|log)[- ]dump(?:s|ed)?\b", r"\bdump(?:ed)? (?:the )?(?:logs?|state|heap|core)\b")),
    Rule("buy-sell", PRICE, r"\b(?:buy|sell)(?:ing)? (?:now|the dip|more|qpay|tokens?|coins?)\b"),
    Rule("valuation", PRICE,
         r"\b(?:valuation|all[- ]time high|bullish|bearish|bull (?:run|market)|bear market)\b"),
    # Influencer and promotional language.
    Rule("influencer", PROMOTION, r"\b(?:influencers?|shill(?:ing)?|ambassador program|kols?)\b"),
    Rule("hype", PROMOTION, r"\b(?:don'?t miss out|fomo|wagmi|lambo|huge opportunity|massive gains|next big thing|giveaway|airdrop)\b"),
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Finding:
    rule: str
    category: str
    sentence: str
    match: str

    def __str__(self):
        return f'{self.category}: "{self.sentence}" (matched "{self.match}", rule {self.rule})'


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s.strip()]


def check(text: str) -> list[Finding]:
    """Every rule hit in `text`, one finding per rule per sentence, in reading order."""
    findings = []
    for sentence in sentences(text):
        for rule in RULES:
            excused = [m.span() for exc in rule.compiled_exceptions for m in exc.finditer(sentence)]
            for match in rule.compiled.finditer(sentence):
                if not any(start <= match.start() and match.end() <= end for start, end in excused):
                    findings.append(Finding(rule.id, rule.category, sentence, match.group(0)))
                    break
    return findings
