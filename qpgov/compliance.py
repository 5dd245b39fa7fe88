"""Public-posture check (playbook section 7): no profit promises, no price talk, no promotion.

The rules are data, in this one file. Each rule is one pattern family with a
one-line reason, built from the shared vocabularies below (assets, money
amounts, percentages, time frames, market verbs), so a finding always names
the rule, its category and the words that matched. A rule hits where its
pattern matches outside every span one of its exceptions matches, so "gas
price" stays technical while "token price" in the same sentence is flagged.

To tune: add sentences to tests/data/public_text/corpus.tsv (the "tune" part
only), run `manage.py check_public_text --eval tests/data/public_text/corpus.tsv
--split tune`, edit RULES (and the rule's TRIGGERS words), bump RULES_VERSION.
Never tune on the "report" part: its figures are the ones docs/public.md publishes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import wordmodel

RULES_VERSION = "2026-12-07.7"

PROFIT = "profit or yield promise"
PRICE = "price discussion"
PROMOTION = "promotional language"
CATEGORIES = (PROMOTION, PROFIT, PRICE)

# --- Vocabularies --------------------------------------------------------------
# A gap inside one sentence: anything but a sentence end ("." followed by space),
# so "$3.5" and "v1.4.2" stay inside a match while "done. Next" does not.
GAP = r"(?:[^.!?\n]|[.!?](?=\S))"


class _Span:
    """What a pattern found: the same three methods as a regex match."""

    def __init__(self, text: str, start: int, end: int):
        self.text, self._start, self._end = text, start, end

    def start(self):
        return self._start

    def end(self):
        return self._end

    def group(self, _=0):
        return self.text[self._start:self._end]


class Near:
    """`a` and `b` (patterns or other Near) at most `n` characters apart in one sentence,
    `a` first if `ordered`. Two scans and a comparison: a regex with a lazy gap between
    two long alternations retries the second at every step of the gap, and is slow."""

    def __init__(self, a, b, n: int, ordered: bool = False):
        self.a, self.b, self.n, self.ordered = a, b, n, ordered

    def compile(self, flags):
        return Near(_compile(self.a, flags), _compile(self.b, flags), self.n, self.ordered)

    def finditer(self, text: str):
        first = list(self.a.finditer(text))
        second = list(self.b.finditer(text)) if first else []
        spans = []
        for x in first:
            for y in second:
                if 0 <= y.start() - x.end() <= self.n:
                    spans.append((x.start(), y.end()))
                elif not self.ordered and 0 <= x.start() - y.end() <= self.n:
                    spans.append((y.start(), x.end()))
        for start, end in sorted(set(spans)):
            yield _Span(text, start, end)


class AnyOf:
    """Any of several patterns: their findings in reading order."""

    def __init__(self, *parts):
        self.parts = parts

    def compile(self, flags):
        return AnyOf(*(_compile(p, flags) for p in self.parts))

    def finditer(self, text: str):
        found = [m for p in self.parts for m in p.finditer(text)]
        yield from sorted(found, key=lambda m: (m.start(), m.end()))


def _compile(pattern, flags):
    return re.compile(pattern, flags) if isinstance(pattern, str) else pattern.compile(flags)


def near(a, b, n: int = 40) -> Near:
    """`a` then `b` within `n` characters of the same sentence."""
    return Near(a, b, n, ordered=True)


def either(a, b, n: int = 40) -> Near:
    """`a` and `b` within `n` characters, in either order."""
    return Near(a, b, n)


# Crypto assets by name, common tickers, cashtags ($MTRX) and "(CRYPTO: BTC)".
ASSET = (
    r"(?:\b(?:bitcoins?|btc|ether|ethereum|eth|solana|sol|xrp|ripple|doge(?:coin)?|shiba|shib|"
    r"bnb|cardano|ada|polkadot|litecoin|ltc|tron|trx|avax|matic|polygon|pepe|"
    r"usdt|usdc|tether|dai|qpay|tokens?|coins?|altcoins?|memecoins?|meme coins?|stablecoins?|"
    r"cryptos?|cryptocurrency|cryptocurrencies|crypto assets?|digital assets?)\b"
    r"|\$[A-Z]{2,6}\b|\(CRYPTO: [A-Z]+\))"
)
# $24,900 / $ 10,000 / US$50 / $24K / $1.2 billion / 0.0001 ETH / 10 dollars.
MONEY = (
    r"(?:(?:US)?[$€£¥]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:[kmb]n?|thousand|million|billion|trillion)\b)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:[kmb]\s)?(?:usd|dollars?|euros?|usdt|usdc|eth|btc|bnb|sol)\b)"
)
PCT = r"(?:[+-]?\d+(?:\.\d+)?\s?(?:%|per ?cent\b)|\b(?:triple|double)[- ]digit\b)"
TIMEFRAME = (
    r"(?:\b(?:over|in|during|for|on) the (?:past|last|previous)?\s?(?:\d+\s)?"
    r"(?:24 hours|hour|day|days|week|weeks|month|months|year|quarter|session)\b"
    r"|\b24[- ]?(?:h|hours?)\b|\bintraday\b|\byear[- ]to[- ]date\b|\bytd\b|\bmom\b|\bwow\b"
    r"|\b(?:this|last|past) (?:week|month|year|quarter)\b|\bon the (?:day|week|month)\b"
    r"|\btoday\b|\bby (?:the end of )?(?:20\d\d|year[- ]end|the end of the year)\b|\bnext quarter\b)"
)
UP_DOWN = (
    r"\b(?:rose|risen|rises|rising|jump(?:s|ed|ing)?|surg(?:e|es|ed|ing)|soar(?:s|ed|ing)?|"
    r"climb(?:s|ed|ing)?|rall(?:y|ies|ied|ying)|gain(?:s|ed)?|spik(?:e|es|ed)|rebound(?:s|ed)?|"
    r"fell|fallen|falls|falling|drop(?:s|ped|ping)?|declin(?:e|es|ed|ing)|slid|slides?|sliding|"
    r"plung(?:e|es|ed)|plummet(?:s|ed)?|tumbl(?:e|es|ed)|crash(?:es|ed)?|sank|sink|slump(?:s|ed)?|"
    r"shed|lost|los(?:es|ing)|pump(?:s|ed)?|dump(?:s|ed)?|up|down|higher|lower|decrease[sd]?|"
    r"increase[sd]?|skyrocket(?:s|ed)?|doubl(?:e|ed)|tripl(?:e|ed)|quadrupl(?:e|ed))\b"
)
YIELD_WORD = (
    r"\b(?:apy|apr|apys|aprs|annual percentage (?:yield|rate)|yields?|interest|returns?|roi|"
    r"profits?|dpr|per annum|annual(?:ly|ized)?|a year|per year|p\.a\.|daily|per day|a day|"
    r"monthly|a month|weekly|rewards?|rate of return|earn(?:s|ed|ing)?)\b"
)


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    why: str
    pattern: str | Near | AnyOf
    exceptions: tuple[str, ...] = ()  # technical phrases; a match overlapping one is excused
    unless: tuple[str, ...] = ()  # sentence-level context that makes the whole rule not apply
    case_sensitive: bool = False
    # Words a sentence must contain (one of each string) before the pattern runs at all: a
    # cheap set test that keeps the whole check fast on long post-mortems. Every alternative
    # of the pattern must contain one of them (tests/test_compliance.py checks this holds).
    trigger: tuple[str, ...] = ()
    compiled: re.Pattern | Near | AnyOf = field(init=False, repr=False, compare=False)
    triggers: tuple[frozenset, ...] = field(init=False, repr=False, compare=False)
    compiled_exceptions: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)
    compiled_unless: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        flags = 0 if self.case_sensitive else re.IGNORECASE
        object.__setattr__(self, "compiled", _compile(self.pattern, flags))
        object.__setattr__(self, "compiled_exceptions",
                           tuple(re.compile(p, re.IGNORECASE) for p in self.exceptions))
        object.__setattr__(self, "compiled_unless",
                           tuple(re.compile(p, re.IGNORECASE) for p in self.unless))
        object.__setattr__(self, "triggers", tuple(frozenset(t.split()) for t in self.trigger))

    def excuses(self, sentence: str, lo: int, hi: int) -> bool:
        """Whether an exception overlaps the match at [lo, hi) or the sentence's context rules it out."""
        return (any(e.start() < hi and lo < e.end() for exc in self.compiled_exceptions
                    for e in exc.finditer(sentence))
                or any(u.search(sentence) for u in self.compiled_unless))


# Technical uses of market words that stay allowed wherever they appear.
_GAS_PRICE = (r"\bgas[- ]?prices?\b", r"\b(?:base|priority|minimum|min|max|maximum)[- ]fee[- ]?prices?\b",
              r"\bprices? (?:per unit )?of gas\b", r"\bprice per (?:unit of )?gas\b")
_ORACLE = (r"\b(?:oracle|feed|spot|index|mark|settlement|reference|list)[- ]?prices?\b",
           r"\bprices? (?:feeds?|oracles?|updates?|api|list|data|deviation|staleness)\b")

# An outage during a sale or a draw, reported in a post-mortem, is technical text.
_OUTAGE = (r"\b(?:inability|unable|outage|downtime|incident|fail(?:ed|ure|ures)?|errors?|bugs?|vulnerab\w*|"
           r"exploit\w*)\b",)

# Prizes and funding for engineering work (hackathons, grants, bug bounties): not a sales contest.
_GRANTS = (r"\b(?:hackathons?|grants?|bug[- ]?bount\w*|security researchers?|vulnerabilit\w*)\b",)

# Prices moved by an attack, as an incident report tells it: technical text.
_ATTACK = (r"\b(?:exploit\w*|attack(?:er|ers|ed)?|manipulat\w*|liquidat\w*|drain\w*|hack(?:ed|er|ers)?|"
           r"st(?:ole|olen|eal\w*)|vulnerab\w*)\b",)

# A price from an oracle or a feed, as an incident report quotes it: the system's input, not market talk.
_ORACLE_CONTEXT = (r"\b(?:oracles?|price feeds?|feed (?:returned|reported|reports)|stale|deviat\w*|twap)\b",)

# Rewards miscounted or lost by a contract bug: an audit finding, not an offer.
_ACCOUNTING_BUG = (r"\b(?:rounding|miscalculat\w*|insufficient|incorrect(?:ly)?|bugs?|errors?|locked inside|"
                   r"vulnerab\w*|exploit\w*|unable)\b",)

_RULES = (
    # --- Profit and yield promises ---------------------------------------------
    Rule("guaranteed-returns", PROFIT, "a guarantee attached to returns",
         either(r"\bguarantee(?:d|s)?\b|\bassured\b|\bpromised\b|\bpromising\b|\bfixed\b|\bcertain\b",
                r"\b(?:returns?|profits?|yields?|gains?|income|apy|apr|rate of return|interest)\b", 30)),
    Rule("yield-figure", PROFIT, "a percentage quoted as a yield, interest or return",
         either(PCT, YIELD_WORD, 35),
         exceptions=(r"\b(?:error|failure|success|packet|loss|cpu|disk|memory|requests?|traffic)\b[^.]{0,20}\brates?\b",),
         # Rewards lost to a rounding or accounting bug, as an audit finding reports them; funds
         # recovered after an attack; a protocol's own issuance, vesting or tax parameters.
         unless=_ACCOUNTING_BUG + _ATTACK + (r"\b(?:vest(?:ing|ed|s)?|emission schedule|inflation rate|"
                                             r"community tax|issuance)\b",)),
    Rule("offered-percent", PROFIT, "a percentage offered, paid or promised to holders",
         near(r"\b(?:offer(?:s|ed|ing)?|pays?|paying|paid|promis(?:e|es|ed|ing)|earn(?:s|ed|ing)?|"
              r"making|receive)\b", PCT, 15),
         unless=_ACCOUNTING_BUG),
    Rule("apy", PROFIT, "an APY or APR figure or comparison",
         r"\b(?:APY|APR|APYs|APRs)\b(?!\s*\d{1,2}\b)|\bannual percentage (?:yield|rate)\b|\bDPR\b",
         case_sensitive=True,
         # How the protocol computes or shows the rate, as a bug report or a doc says it.
         unless=_ACCOUNTING_BUG + (r"\b(?:computed|calculated by|displayed|display(?:s|ing)?|module|formula|"
                                   r"parameters?|as computed)\b",)),
    Rule("earn-yield", PROFIT, "an offer to earn interest, yield or income",
         near(r"\b(?:earn|earns|earning|generate|generating|make|making|get|getting|receive)\b",
              r"\b(?:interest|yields?|passive income|income|returns?|profits?|apy|rate of return|"
              r"money|earnings)\b", 35),
         exceptions=(r"\breturns? (?:an?|the|\d|true|false|null|none|error|0|-1)\b",
                     r"\b(?:return|exit) (?:code|value|status)\b")),
    Rule("earn-rewards", PROFIT, "the reader is told they can earn rewards",
         near(r"\b(?:you|your|users?|investors?|holders?|participants?)\b",
              near(r"\bearn(?:s|ing)?\b", r"\brewards?\b", 30), 40)),
    Rule("high-returns", PROFIT, "returns described as high, attractive or maximised",
         r"\b(?:high|higher|highest|huge|massive|outsized|attractive|lucrative|best|great|real|"
         r"fabulous|eye-catching|outlandish|big|bigger|increased|maximi[sz]e|boost|substantial|significant|"
         r"impressive|juicy|sky-high|handsome|solid|steady|consistent|generous|competitive|extra|more)\s+(?:\w+\s+)?"
         r"(?:returns?|yields?|interest(?: rates?)?|apys?|profits?|gains|rates? of return|earnings|"
         r"earning (?:power|potential)|payouts?|rewards)\b",
         exceptions=(r"\bhigh(?:er)? (?:\w+ )?(?:error|latency|load|cpu|memory|disk)\b",),
         unless=_ACCOUNTING_BUG),
    Rule("passive-income", PROFIT, "passive income or yield, or getting rich",
         r"\bpassive (?:income|yield|earnings?)\b|\bget rich\b|\bdouble your (?:money|tokens|investment)\b|"
         r"\b\d+x (?:returns?|gains?|roi)\b|\brisk[- ]free\b|\bzero[- ]risk\b|\bsafe way to (?:earn|generate|grow)\b"),
    Rule("make-profit", PROFIT, "making profits or a return on money",
         r"\bmak(?:e|es|ing) (?:\w+ )?(?:profits?|money|gains)\b|\bprofit (?:from|on)\b|"
         r"\breturn on (?:your |their |the )?(?:investment|money|capital|deposits?)\b|\bROI\b|"
         r"\bprofit[- ]sharing\b|\brevenue[- ]share\b|\baccrue value\b|\bput (?:them|it|your \w+) to work\b|"
         r"\b(?:savings|interest|earn) accounts?\b|\b(?:lending|staking|deposit) rates\b"
         r"|\byield farm(?:s|ing|ers?)?\b|\bliquidity mining\b"
         r"|\byour (?:\w+ ){0,2}(?:daily|weekly|monthly) (?:rewards?|returns?|profits?|earnings|income|dividends)\b"
         r"|\bprofits? (?:you|they|investors|users) (?:can|could|will|would)\b"),
    Rule("grow-holdings", PROFIT, "growing the reader's money or holdings, or money that works for them",
         r"\b(?:grow|multiply|increase|boost|maximi[sz]e|compound) (?:your|their) (?:\w+ ){0,2}(?:crypto\w*|assets|"
         r"holdings|tokens|coins|money|wealth|portfolio|savings|balances?|stack|bitcoin|btc|eth|investments?)\b"
         r"|\b(?:tokens|coins|crypto|assets|money|capital|holdings) (?:\w+ )?work(?:ing)? for you\b"
         r"|\b(?:highly|very|extremely|hugely|more|most|consistently) profitable\b|\bprofitable (?:investments?|"
         r"opportunit\w+|ways?|strateg\w+)\b|\bearn (?:even |much |a lot )?more\b|\bearn (?:extra|additional)\b"
         r"|\brewarded with (?:extra|more|additional|bonus)\b|\bmultiply (?:\w+ )?(?:holdings|money|investment)\b"
         r"|\b(?:coins|bitcoins?|money|investment|deposit|funds) (?:\w+ ){0,3}(?:doubled|tripled)\b",
         # How well a validator does its job, as operators' docs put it: not an offer to the reader.
         unless=(r"\bvalidators?(?:'|’)?s?\b(?! program)|\bmissed (?:attestations?|blocks?|slots?)\b",)),
    # --- Price and market talk -------------------------------------------------
    Rule("price-move", PRICE, "a market move stated as a percentage or an amount",
         AnyOf(near(either(UP_DOWN, PCT + "|" + MONEY, 30), TIMEFRAME, 80),
               r"\b(?:up|down)\b" + GAP + r"{0,20}?\d+(?:\.\d+)?\s?%" + GAP + r"{0,12}?"
               r"\b(?:over|in|on|from|since|this|year|week|month|day)\b"),
         # A technical metric that moved is not a market move.
         unless=(r"\b(?:gas|fees?|latency|throughput|error|errors|cpu|memory|disk|packet|requests?|traffic|"
                 r"participation|utili[sz]ation|mempool|block (?:time|size)s?|load|uptime|availability|"
                 r"success rate|hash ?rate|peers?|validators?|bandwidth|storage)\b",)),
    Rule("asset-move", PRICE, "an asset and a market move with a figure",
         either(ASSET, either(UP_DOWN, PCT + "|" + MONEY, 30), 60),
         unless=(r"\b(?:stole|stolen|steal|diverted|hack(?:ed|ers?)?|exploit(?:ed)?|drained|"
                 r"rescued|recovered|fees?|burn(?:ed|t)?|per second|rate limit\w*|bucket|"
                 # Money a validator or a protocol lost to an outage, as a post-mortem counts it.
                 r"lost revenue|revenue|incurred|losses|loss of|slash\w*|penalt\w*|participation|"
                 r"attestations?|validators?)\b",) + _GRANTS),
    Rule("trading-at", PRICE, "a quote: trading at, changed hands at, valued at",
         AnyOf(near(r"\b(?:trad(?:ing|es|ed)|chang(?:ed|es|ing) hands|hover(?:ing|s|ed)?|priced|valued|"
                    r"sits|stood|stands|reached|hit|tapped|peak(?:ed|ing)|bottomed|broke|breaks?|crossed|"
                    r"highs?|lows?|at|near|above|below|around|(?<!comes )(?<!came )(?<!amounts )(?<!total )"
                    r"(?<!totals )(?<!adds up )(?<!up )to)\b", MONEY, 25),
               r"\b(?:all[- ]time[- ]highs?|ath|(?:\d+|one|two)[- ](?:day|week|month|year) (?:high|low))\b"),
         exceptions=(r"\bto date\b",),
         unless=(r"\b(?:loss|lost|stole|stolen|steal|diverted|rescued|raised|revenue|cost|costs|"
                 r"spent|fine|penalt\w*|budget|paid|compensat\w*|damages?|ranging from|fees?|"
                 r"collateral|borrow\w*|debts?|loans?)\b",)
         + _GRANTS + _ATTACK + _ORACLE_CONTEXT),
    Rule("quote-now", PRICE, "a current quote: currently trading around an amount",
         near(r"\b(?:currently|now|presently) (?:trading|trades|sitting|sits|hovering|changing hands|priced|valued)"
              r"(?: (?:at|around|near|above|below|under|over|about|for))?", MONEY, 15)),
    Rule("price-prediction", PRICE, "a prediction of where a price will go",
         AnyOf(near(r"\b(?:could|will|would|may|might|expect(?:s|ed|ing)?|poised|set|likely|predicts?|"
                    r"forecasts?|estimated|believed|projects?|target)\b",
                    near(r"\b(?:reach|hit|rise|climb|surge|soar|fall|drop|crash|double|triple|go|end|top|"
                         r"touch|break|be worth|explode|moon|rally|rebound|bounce)\w*\b",
                         MONEY + r"|" + PCT + r"|new highs?|all-time high|five-digit|\d+x", 40), 40),
               near(r"\b(?:projects?|projecting|sees?|seeing|targets?|targeting|forecasts?|predicts?|calls? for|"
                    r"eyes?|eyeing)\b", r"(?:\b(?:\w+ ){0,3}(?:hitting|reaching|at|to|toward|towards|near) )?" + MONEY, 25),
               r"\bprices? (?:will|could|would|should|may|might) (?:\w+ ){0,2}(?:go up|go down|rise|increase|climb|"
               r"recover|fall|drop|crash|soar|moon)\b|\b(?:more|further|bigger|big|huge) gains\b|\bgains (?:are|is) "
               r"(?:on the way|coming|ahead)\b|\bsend(?:s|ing)? (?:\w+ ){0,4}(?:soaring|flying|higher|parabolic)\b",
               r"\bprice (?:target|prediction|forecast)s?\b|\b(?:IT|THIS) WILL BE \$")),
    Rule("asset-price", PRICE, "the price or value of a token or coin",
         AnyOf(either(ASSET + r"(?:'s|’s)?", r"\b(?:prices?|valuations?|value|market value|worth)\b", 25),
               r"\bprice (?:action|movement|chart|rall\w+|surge|drop|decline|increase|trajectory|discovery|"
               r"level)s?\b|\bprices? (?:rose|fell|jumped|dropped|surged|plunged|slid|climbed|rallied|tumbled|"
               r"crashed)\b|\b(?:go|goes|going|went|gone) (?:up|down) in (?:price|value)\b"),
         exceptions=_GAS_PRICE + _ORACLE + (r"\btokens? (?:per|bucket|refill|count|limit)\b",
                                            r"\b(?:access|auth\w*|service|api|session|bearer|refresh)"
                                            r" tokens?\b", r"\bvalue of (?:the )?(?:field|variable|key|"
                                                          r"setting|parameter)\b"),
         unless=_ATTACK + _ORACLE_CONTEXT),
    Rule("market-cap", PRICE, "market capitalisation, trading volume or market ranking",
         r"\bmarket[- ]?cap(?:itali[sz]ation)?s?\b|\btrading volumes?\b|\b24[- ]hour (?:trading )?volume\b|"
         r"\bfully diluted valuation\b|\bFDV\b|\bmarket (?:sentiment|rally|crash|cycle)\b"),
    Rule("market-jargon", PRICE, "trader jargon: bullish, bear market, short, overbought",
         r"\b(?:bullish|bearish|bull (?:run|market|case|scenario)|bear (?:market|case)|"
         r"(?:to|on) the moon|mooning|moonshot|pump(?:ing|ed)? and dump|buy the dip|"
         r"overbought|oversold|death cross|golden cross|resistance level|support level|key support level|"
         r"buying (?:zone|pressure)|selling pressure|price discovery|retracement|"
         r"outperform\w*|underperform\w*|rally|rallies|rallied|all[- ]time high)\b"
         r"|\b(?:short|long|shorting|longing)\s+(?:eth|btc|sol|bitcoin|ethereum|the market)\b"),
    Rule("valuable", PRICE, "a superlative about value",
         r"\b(?:super|very|extremely|hugely|incredibly|most|more|really)\s+valuable\b|"
         r"\bgoing to explode\b|\bwill (?:explode|skyrocket|moon)\b|\b\d{1,4}x (?:to|-|–) \d{1,4}x\b|(?<![\w.])10{2,}x\b(?!\s*(?:faster|slower|more|less|larger|smaller|speed|above|below|higher|lower|or\b|the (?:normal|average|usual)))",
         exceptions=(r"\bmost valuable (?:lesson|feedback|signal|data|tool)\b",)),
    Rule("skyrocket", PRICE, "a price or an asset skyrocketing",
         either(ASSET + r"|\b(?:prices?|value|valuations?|market cap)\b", r"\bskyrocket\w*", 60)),
    # --- Promotion -------------------------------------------------------------
    Rule("sale-event", PROMOTION, "a token sale: ICO, IDO, presale, whitelist round",
         r"\b(?:ICOs?|IDOs?|IEOs?|TGE|STO)\b", case_sensitive=True),
    Rule("token-sale", PROMOTION, "a token sale, presale or launch round",
         r"\b(?:pre-?sales?|token (?:sale|launch|generation event)s?|public (?:sale|round)|private (?:sale|round)|"
         r"seed (?:sale|round)|crowdsale|launchpads?|initial (?:coin|dex|exchange) offerings?|"
         r"pre-?listing|pre-?orders?|whitelisted (?:presale|investors?|addresses can)|get whitelisted|"
         r"sale (?:will|is|starts?|begins?|ends?)|sold out|sell out|mint(?:ing)? (?:is )?live|launch pools?)\b",
         unless=_OUTAGE),
    Rule("airdrop", PROMOTION, "an airdrop or giveaway of free tokens",
         r"\bair-?drops?\b|\bgiveaways?\b|\bfree (?:bitcoin|crypto|tokens?|coins?|btc|eth|nfts?)\b",
         # An audit finding or a post-mortem about an airdrop contract is technical text.
         unless=(r"\b(?:merkle|proofs?|vulnerab\w*|bugs?|revert\w*|signatures?|exploit\w*|audit\w*|unable|"
                 r"resume[sd]?|paused|halt\w*|synced|maintenance|"
                 r"fail\w*|errors?|verification|verif(?:y|ies|ied)|contracts?|unclaimed|claim function|"
                 r"(?:already|been|once|twice) claimed|duplicate|only be able)\b",)),
    Rule("promo-offer", PROMOTION, "an exchange or token offer: listings, trading perks, trust claims, personal picks",
         r"\blisted on (?:\w+ ){0,2}(?:exchanges?|binance|coinbase|kucoin|okx|bybit|uniswap|pancakeswap)\b"
         r"|\btrusted by (?:over |more than )?(?:millions|\d[\d,.]*\s?(?:m|million|k)?\+? "
         r"(?:users|traders|customers|investors))\b"
         r"|\bstart (?:earning|trading|investing)\b|\b(?:zero|0%|no) trading fees\b|\bcommission[- ]free\b"
         r"|\btrad(?:e|ing) (?:\w+ ){0,3}with (?:zero|no|0%?) fees\b"
         r"|\b(?:deposit|trading|staking|loyalty|holder|first[- ]deposit) bonus(?:es)?\b"
         r"|\bclaim (?:your|free) (?:\w+ )?(?:rewards?|airdrops?|nfts?|bonus|tokens?|points)\b"
         r"|\binvest\w* in (?:\w+ )?(?:bitcoin|ethereum|eth|btc|crypto\w*|tokens?|coins?|altcoins?|nfts?|memecoins?)\b"
         r"|\b(?:my|our) (?:favou?rite|top) (?:coins?|tokens?|projects?|picks?|altcoins?|gems?)\b"
         r"|\bI believe in (?:this|the|our) (?:project|token|coin|team)\b|\ball[- ]in on\b"
         r"|\bbe (?:a )?part of (?:the|this|our) (?:future|revolution|movement|journey|community|success)\b"
         r"|\bearly[- ]birds?\b|\bnow is the (?:best |perfect |right )?time to (?:buy|invest|join|get in|stake)\b"),
    Rule("incentives", PROMOTION, "an incentive, referral, whitelist or allocation scheme, or a community call",
         r"\bincentivi[sz]\w* (?:\w+ ){0,2}(?:participation|users|holders|traders|trading|engagement|community|"
         r"members|referrals?)\b"
         r"|\brefer(?:s|red|ring)? (?:a |your |more )?friends?\b|\bfriends? (?:you )?invit\w*"
         r"|\byour friend(?:'s|’s|s') (?:registration|sign[- ]?up|first)\b|\breferees?\b"
         r"|\brakebacks?\b|\bcash (?:rewards?|prizes?|bonus\w*)\b|\bshare (?:it |this )?with (?:your )?friends\b"
         r"|\bvip (?:pass(?:es)?|tiers?|programs?|levels?|club|rewards?|status)\b"
         r"|\bcommissions? rebates?\b|\brebates? on (?:\w+ )?(?:trading )?fees?\b|\btrading[- ]fee rebates?\b|\bcashback\b"
         r"|\benjoy (?:\w+ ){0,3}(?:rebates?|discounts?|bonus\w*|rewards?|benefits|perks|cashback|airdrops?)\b"
         r"|\b(?:guaranteed|token|ido|presale|whitelist|sale) allocations?\b"
         r"|\bpurchase (?:their|your|an?) (?:\w+ )?allocations?\b|\bchance at an allocation\b"
         r"|\b(?:make|apply for|join|get on) the whitelist\b"
         r"|\bwhitelist (?:round|spots?|application|registration|sale|period|winners?)\b"
         r"|\bambassadors?\b"
         r"|\b(?:most|very|super|really|incredibly) exciting (?:ways?|opportunit\w+|projects?|tokens?|coins?|times? to)\b"
         r"|\b(?:will|could|would|(?:is|are) going to) (?:change the world|become the (?:currency|future|next \w+)|"
         r"replace (?:the dollar|banks|fiat))\b"
         r"|\bjoin (?:the |our )?(?:[\w$-]+ ){0,2}(?:community|movement|family|army|revolution)\b(?! call| meeting)"
         r"|\bthe more (?:\$?\w+ ){0,3}you (?:earn|get|receive|win)\b"
         r"|\b(?:more|bonus|extra|loyalty) points\b|\bearn (?:\w+ )?points\b"
         r"|\b(?:daily|weekly|reward|incentive|quest) campaigns?\b|\b(?:airdrop|quest|social|reward) tasks?\b"),
    Rule("call-to-action", PROMOTION, "a call to buy, join, invest or sign up",
         r"\b(?:buy|get|grab|join|invest|sign up|register|stake|claim|ape|load up|secure|start)"
         r"(?: in| into| on| with)?\s+(?:now|today(?!['’]s)|yours|early|before|right away|"
         r"your (?:tokens?|coins?|spot|allocation|bonus|share|\$?[A-Z]{2,6} tokens?))\b"
         r"|\bget in (?:now|early|before)\b|\bbefore (?:they|it)(?:'s| is| are)? (?:sell|sold) out\b"
         r"|\blast chance\b|\bdon'?t miss\b|\bdo not miss\b|\bmissing out\b(?! of\b)|\blimited[- ](?:time|spots?|supply|offer)\b"
         r"|\bhurry\b|\bact (?:now|fast)\b|\bwhile (?:it|they|supplies|stocks) lasts?\b"
         r"|\byou should (?:try|buy|invest|get|join)\b|\b(?:we|i) have to get in\b"
         r"|\bfirst[- ]come,? first[- ]serv(?:ed|e)\b(?! (?:basis )?(?:queue|schedul\w*|order))"
         r"|\b\d+(?:\.\d+)?\s?% of (?:the |all )?(?:tokens?|supply|allocation|nfts?) (?:\w+ ){0,3}(?:sold|claimed|minted|gone)\b"
         r"|\bbuy(?:ing)? (?:bitcoin|crypto|tokens?|coins?|eth|the token|\$[A-Z]{2,6})\b"
         r"|\binvest(?:ing|ed)? in (?:the |this |our )?(?:fund|token|coin|project|presale|crypto)\b",
         exceptions=(r"\bget started (?:with|on|by) (?:the|a|this|your) (?:node|validator|runbook|setup|cluster)\b",
                     r"\b(?:avoid|prevent|without) missing out\b", r"\bto start before\b"),
         # Users unable to buy during an outage, as a status page reports it.
         unless=_OUTAGE + (r"\b(?:blocked|degraded|disabled|paused|suspended)\b",)),
    Rule("bonus", PROMOTION, "bonuses, discounts, referral or sign-up rewards",
         r"\b(?:bonus(?:es)? (?:tokens?|credits?|structure|rewards?|tiers?|offers?)|\d+% (?:more tokens|bonus)|sign[- ]?up (?:bonus|rewards?|credits?)|"
         r"welcome (?:bonus|rewards?|benefits)|referral (?:codes?|links?|programs?|system|bonus(?:es)?|rewards?|ids?)|"
         r"affiliate (?:links?|codes?|programs?)|invit(?:e|ing) (?:a |your )?friends?|friend link|"
         r"discount(?:ed)? (?:rate|price|per token)|\d+% (?:\w+ ){0,2}(?:discounts?|rebates?)|"
         r"rebates? on (?:\w+ )?fees|(?:early|first) (?:participants?|"
         r"buyers|investors|purchases|contributors|supporters|adopters)|incentives to participate|"
         r"exclusive (?:benefits|missions|access|perks)|low entry price|bonus of|"
         r"early access to (?:the )?(?:presale|sale|tokens?|mint|drop|listing|launch)|"
         r"referral commissions?|new (?:customers|users|traders) who)\b"),
    Rule("contest", PROMOTION, "prizes, lucky draws, trading competitions and promo campaigns",
         r"\b(?:prizes?|prize pools?|lucky draws?|sweepstakes|raffles?|leaderboards?|reward pools?|"
         r"(?:trading|deposit|referral|promo|marketing|airdrop|launch) (?:competitions?|races?|campaigns?|contests?|"
         r"challenges?|arenas?)|campaign period|chances? to win|win (?:up to|a share|a prize|\$|usd|us\$)|"
         r"promos?|promotional|(?:launch|launched|run|running) (?:another |a |our |the )?promotions?|"
         r"newly listed|(?:token|coin) listings?|"
         r"open an? (?:trading|exchange|brokerage|crypto) account|join (?:the |our )?(?:presale|sale|whitelist|"
         r"lucky draw|draw|campaign|competition|contest|race|community|telegram|discord|airdrop|waitlist)(?! call| meeting)|"
         r"winners? (?:will|are|is|get|receive)|"
         r"lotter(?:y|ies)|promotions? (?:sometimes |often |also )?(?:feature|offer|include|give))\b",
         unless=_OUTAGE + _GRANTS),
    Rule("prize-money", PROMOTION, "winning money or prizes",
         either(r"\b(?:win|wins|winning|winners?|rewarding)\b", MONEY + r"|\bprizes?\b|\bmore winners\b", 40),
         unless=_GRANTS),
    Rule("hype", PROMOTION, "hype: rocket and money emoji, or an exclaimed offer about tokens or rewards",
         AnyOf(r"[🚀🌕🌙💎🔥🤑💰📈]",
               near(ASSET + r"|\b(?:rewards?|earn\w*|bonus\w*|win|prizes?|mint\w*|airdrop|presale|sale|"
                    r"giveaway|offer|opportunit\w+)\b", r"!", 120),
               r"\bopportunit(?:y|ies) to (?:buy|invest|earn|trade|own|get in|join|participate|profit)\b")),
    Rule("social-post", PROMOTION, "emoji or hashtags: the register of a social-media post, not of a technical report",
         r"[\U0001F300-\U0001F5FF\U0001F680-\U0001F6FF\U0001F900-\U0001FAFF\u2600-\u2604\u2614-\u2689\u26C4-\u26FF"
         r"\u2728\u2733\u2734\u2747\u2763\u2764\u27A1\u2B50\u2B06\u2197\u2934\u2935\U0001F1E6-\U0001F1FF]"
         # A hashtag: capitalised (#DogecoinToTheMoon, #BTC) or about coins; not #size or #include.
         r"|(?<![\w&/#\\])#(?:[A-Z][A-Za-z0-9_]{2,}|(?i:[a-z0-9_]*(?:coin|crypto|doge|shib|nft|web3|defi|airdrop|"
         r"giveaway|moon|army|pump|gem|btc|eth|sol|hodl)[a-z0-9_]*))\b(?![-/])",
         unless=(r"\b(?:channel|slack|irc|issue|pr|pull request)\b",), case_sensitive=True),
    Rule("exclaimed-pitch", PROMOTION, "an exclaimed sentence about an offer, money or the reader",
         either(r"!(?!=)", r"\b(?:you|your|yours|you're|you’re|let's|let’s|join|win|winners?|free|bonus\w*|rewards?|"
                r"rewarding|earn\w*|buy|grab|don't|don’t|miss|celebrate|community|chance|prizes?|tokens?|coins?|"
                r"crypto\w*|usdt|moon|trend\w*|gains?|profits?|money|rich|invest\w*|opportunit\w+|ambition|"
                r"exciting|huge|massive)\b|[$€£]", 200)),
    Rule("pitch", PROMOTION, "marketing language: potential, chances, listings, bounty and reward campaigns",
         r"\b(?:lots of|huge|massive|explosive|enormous|upside|growth|tremendous|unlimited|great|big) "
         r"(?:\w+ )?potential\b|\bpotentially (?:unlimited|huge|massive)\b"
         r"|\b(?:promising|breakout|next big|hottest|trending) (?:new )?(?:projects?|tokens?|coins?|cryptos?|altcoins?)\b"
         r"|\bnext (?:\w+ ){0,2}(?:coin|token|crypto|gem) to (?:explode|moon|pump|\d+x)\b|\bground floor\b"
         r"|\b(?:grab|seize|take|get) (?:the|this|your|a) (?:chance|opportunity)\b|\bwindow of opportunity\b"
         r"|\bchance to (?:become|get|win|own|earn|join|participate|grab|claim)\b|\bwin-win\b"
         r"|\bstay tuned\b|^\W*discover (?:how|why|the|our|what|new)\b|\bpay attention to (?:\w+ ){0,3}"
         r"(?:announcements?|news|updates)\b"
         r"|\bbount(?:y|ies) (?:campaigns?|programs?|programmes?|hunters?|rewards?|pools?|tasks?)\b"
         r"|\b(?:grab|win|claim|get|earn|receive|split) (?:a |your |their )?(?:\w+ )?share of\b"
         r"|\bshare of (?:the )?(?:\w+ ){0,3}(?:prize|reward|bonus) pools?\b"
         r"|\b(?:invite|welcome) (?:you|all|everyone)\b(?! to (?:the )?(?:incident|bridge|call|meeting|review))"
         r"|\bparticipate in (?:our|the|this) (?:\w+ ){0,2}(?:campaign|program|programme|sale|presale|airdrop|"
         r"event|competition|bounty|giveaway|launch)\b"
         r"|\b(?:tokens?|coins?) you can (?:trade|buy|stake|earn|win)\b|\byou can (?:trade|buy|purchase|acquire) "
         r"(?:\w+ ){0,3}(?:tokens?|coins?|crypto\w*|nfts?)\b"
         r"|\b(?:public|first|exchange) listings?\b|\blistings? on (?:\w+ ){0,2}(?:exchanges?|coinmarketcap|"
         r"coingecko|binance|coinbase|kucoin|okx)\b|\bwill (?:then )?list\b|\bopen trading for\b"
         r"|\b(?:interested|new|more) buyers\b|\bbuy more\b|\b(?:farm|earn|get|acquire|accumulate) (?:\w+ ){0,6}"
         r"(?:for free|without (?:any )?(?:effort|risk|work))\b|\b(?:potential )?free money\b",
         unless=(r"\bbug[- ]?bount\w*|\bsecurity\b|\bdisclos\w*",)),
    Rule("advertising", PROMOTION, "paid promotion, ads or a personal purchase announced",
         AnyOf(r"\b(?:ads? for|advertis\w+|sponsored|paid (?:promotion|post)|promot(?:e|es|ed|ing) (?:the |a |"
               r"their |his |her |our )?(?:token|coin|project|crypto\w*|presale|sale))\b"
               r"|\bonly pump\b|\bnever dump\b|\bsponsorships?\b|\bendorsement (?:deals?|contracts?)\b"
               r"|\bpaid (?:\w+ ){0,2}to (?:promote|post|tweet|shill|push|endorse|do that)\b"
               r"|\bencourag\w* (?:their |your |his |her )?(?:followers|fans|viewers|audience|subscribers)\b"
               r"|\b(?:investment|money|wealth) secrets?\b",
               near(r"\b(?:he|she|they|we|i)\b (?:had |has |have |just |will )?(?:purchased|bought|buying|"
                    r"intends to buy|plan to buy|am buying)\b", ASSET, 40))),
    Rule("endorsement", PROMOTION, "personal endorsement or hype",
         r"\bI(?:'m| am)? (?:personally |highly |strongly )?(?:endorse|am buying|just bought|bought|buying|back)"
         r"\b|\b(?:I|we) (?:personally |highly |strongly )?(?:recommend|love) (?:buying|investing|holding|staking|"
         r"bitcoin|crypto|eth\b|this (?:project|token|coin|platform|exchange))|\b(?:highly|strongly|personally) "
         r"recommend(?:ed|ing)? (?:this |the |our )?(?:project|token|coin|platform|exchange|app|crypto\w*|"
         r"investment)\b|\bour (?:number one|top|#1) pick\b|"
         r"\b(?:game[- ]?changer|next big thing|next (?:bitcoin|ethereum)|hidden gem|(?:top|best|gold|diamond) picks?)\b|"
         r"\b(?:huge|great|amazing|incredible|exclusive|lucrative|golden) (?:opportunit\w+|investments?|deal)\b|"
         r"\bmost lucrative\b|\blucrative\b|\bsmart move\b|\bbest (?:crypto|investment|platform|exchange|project|"
         r"yield|deal)s?\b|\b(?:influencers?|shill\w*|ambassador program|kols?|fomo|wagmi|lambo|hodl|"
         r"diamond hands|dyor|not financial advice|financial (?:freedom|empowerment|independence)|life[- ]changing|millionaires?|"
         r"(?:get|getting|be|become|make you) rich)\b|\bprint fortunes\b|\btrending #1\b|\bviral\b|\bhype\b|\bbuzz\b",
         exceptions=(r"\bcherry[- ]pick\w*\b",)),
)


# Words (lower-case, or one of % $ € £ ¥ ! and a few emoji) a sentence must contain before a rule's
# pattern runs; a tuple asks for one word of each string. Digits never count.
_FIGURE = "% percent cent digit $ € £ ¥ usd dollar dollars euro euros usdt usdc eth btc bnb sol"
_MONEY = "$ € £ ¥ usd dollar dollars euro euros usdt usdc eth btc bnb sol"
_ASSET = ("bitcoin bitcoins btc ether ethereum eth solana sol xrp ripple doge dogecoin shiba shib bnb cardano ada "
          "polkadot litecoin ltc tron trx avax matic polygon pepe usdt usdc tether dai qpay token tokens coin "
          "coins altcoin altcoins memecoin memecoins meme stablecoin stablecoins crypto cryptos cryptocurrency "
          "cryptocurrencies digital $")
TRIGGERS = {
    "guaranteed-returns": ("guarantee guaranteed guarantees assured promise promised promising fixed certain",),
    "yield-figure": ("% percent cent digit",),
    "offered-percent": ("% percent cent digit",),
    "apy": ("apy apr apys aprs annual dpr",),
    "earn-yield": ("earn earns earning generate generating make making get getting receive",),
    "earn-rewards": ("earn earns earning",),
    "high-returns": ("returns return yield yields interest apy apys profit profits gains rate rates earnings "
                     "earning payout payouts rewards",),
    "passive-income": ("passive rich double x risk zero safe",),
    "make-profit": ("make makes making profit profits return roi revenue accrue put savings interest earn lending "
                    "staking deposit yield liquidity your",),
    "price-move": (_FIGURE,),
    "asset-move": (_FIGURE, _ASSET),
    "trading-at": (_MONEY + " time ath high highs low lows",),
    "price-prediction": (_FIGURE + " high highs digit x price prices gains send sends sending",),
    "asset-price": ("price prices valuation valuations value worth",),
    "market-cap": ("market marketcap marketcaps trading hour fully fdv",),
    "market-jargon": ("bullish bearish bull bear moon mooning moonshot pump pumping pumped buy overbought oversold "
                      "death golden resistance support key buying selling price retracement outperform outperforms "
                      "outperformed outperforming outperformance underperform underperforms underperformed "
                      "underperforming underperformance rally rallies rallied time short long shorting longing",),
    "valuable": ("valuable explode skyrocket x",),
    "skyrocket": ("skyrocket skyrockets skyrocketed skyrocketing", _ASSET + " price prices value valuation valuations market"),
    "sale-event": ("ico icos ido idos ieo ieos tge sto",),
    "token-sale": ("pre presale presales sale sales token public private seed crowdsale launchpad launchpads "
                   "initial listing prelisting orders order preorder preorders whitelisted sold sell mint minting launch",),
    "airdrop": ("airdrop airdrops air giveaway giveaways free",),
    "promo-offer": ("listed trusted start zero no commission deposit trading staking loyalty holder first claim "
                    "invest invests invested investing investment investments my our i all be early now trade",),
    "incentives": ("incentivize incentivise incentivized incentivised incentivizes incentivises incentivizing "
                   "incentivising refer refers referred referring friend friends referee referees commission "
                   "commissions rebate rebates cashback enjoy allocation allocations whitelist ambassador "
                   "ambassadors exciting world become replace join more points campaign campaigns task tasks rakeback "
                   "rakebacks cash share vip",),
    "call-to-action": ("buy get grab join invest sign register stake claim ape load secure start last don do miss "
                       "missing limited hurry act while you we i investing invested buying first sold claimed "
                       "minted gone",),
    "bonus": ("bonus bonuses sign signup welcome referral affiliate invite inviting friend friends discount "
              "discounted discounts rebate rebates early first incentives exclusive low % referral new",),
    "contest": ("prize prizes pool pools lucky draw draws sweepstakes raffle raffles leaderboard leaderboards "
                "reward competition competitions race races campaign campaigns contest contests challenge "
                "challenges arena arenas chance chances win promo promos promotional promotion promotions newly "
                "new excited thrilled delighted proud open join winner winners lottery lotteries",),
    "hype": ("🚀 🌕 🌙 💎 🔥 🤑 💰 📈 ! opportunity opportunities",),
    "social-post": ("emoji #",),
    "exclaimed-pitch": ("!", "you your yours re let s join win winner winners free bonus bonuses rewards reward "
                        "rewarding earn earns earning earned buy grab don miss celebrate community chance prize prizes "
                        "token tokens coin coins crypto cryptos cryptocurrency cryptocurrencies usdt moon trend trending "
                        "trends trended gain gains profit profits money rich invest invests investing invested "
                        "investment investments investor investors opportunity opportunities ambition exciting huge "
                        "massive $ € £"),
    "pitch": ("lots huge massive explosive enormous upside growth tremendous unlimited great big potentially promising "
              "breakout next hottest trending ground grab seize take get window chance win stay discover pay bounty "
              "bounties share invite welcome participate you public first exchange listing listings list open "
              "interested new more farm earn acquire accumulate free",),
    "prize-money": ("win wins winning winner winners rewarding",),
    "quote-now": ("currently now presently",),
    "grow-holdings": ("grow multiply increase boost maximize maximise compound tokens coins crypto assets money capital "
                      "holdings highly very extremely hugely more most consistently profitable earn rewarded coins "
                      "bitcoin bitcoins investment deposit funds",),
    "advertising": ("ads ad advertise advertised advertises advertising advertisement advertisements advertiser "
                    "sponsored paid promote promotes promoted promoting he she they we i only never sponsorship "
                    "sponsorships endorsement encourage encouraged encourages encouraging investment money wealth",),
    "endorsement": ("i recommend recommending highly strongly our game gamechanger changer next hidden top best "
                    "gold diamond huge great amazing incredible exclusive lucrative golden most smart influencer "
                    "influencers shill shilling shills shilled ambassador kol kols fomo wagmi lambo hodl dyor not "
                    "financial life millionaire millionaires get getting be become make print trending viral hype "
                    "buzz",),
}
RULES = tuple(replace(rule, trigger=TRIGGERS[rule.id]) for rule in _RULES)
# Trigger word -> the rules (by position) whose first trigger string holds it.
_BY_WORD: dict[str, set[int]] = {}
for _i, _rule in enumerate(RULES):
    for _word in _rule.triggers[0]:
        _BY_WORD.setdefault(_word, set()).add(_i)


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Finding:
    rule: str
    category: str
    sentence: str
    match: str
    why: str = ""

    def __str__(self):
        return f'{self.category}: "{self.sentence}" (matched "{self.match}", rule {self.rule})'


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s.strip()]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for sep in _SENTENCE.finditer(text):
        spans.append((start, sep.start()))
        start = sep.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


_TOKEN = re.compile(r"[a-z]+|[%$€£¥!#🚀🌕🌙💎🔥🤑💰📈]")
# Any pictograph counts as the trigger word "emoji" (rule social-post).
_EMOJI = re.compile(r"[\U0001F1E6-\U0001FAFF\u2600-\u27BF\u2B06\u2B50\u2197\u2934\u2935]")


def check(text: str, prefilter: bool = True) -> list[Finding]:
    """Every category hit in `text`: at most one finding per category per sentence, in reading order.

    A rule's pattern runs only on sentences holding one of its trigger words
    (`prefilter=False` runs every pattern on every sentence, for the tests).
    A sentence no rule flags is scored by the word model (qpgov/wordmodel.py).
    """
    text = text or ""
    findings = []
    every = range(len(RULES))
    model = wordmodel.shipped()
    for a, b in _sentence_spans(text):
        sentence = text[a:b]
        words = set(_TOKEN.findall(sentence.lower()))
        if _EMOJI.search(sentence):
            words.add("emoji")
        candidates = every
        if prefilter:
            candidates = sorted({i for word in words for i in _BY_WORD.get(word, ())})
        done = set()
        for i in candidates:
            rule = RULES[i]
            if rule.category in done or (prefilter and not all(words & t for t in rule.triggers[1:])):
                continue
            for m in rule.compiled.finditer(sentence):
                if not rule.excuses(sentence, m.start(), m.end()):
                    findings.append(Finding(rule.id, rule.category, sentence, m.group(0).strip(), rule.why))
                    done.add(rule.category)
                    break
        if not done and model is not None and model.score(sentence) > model.threshold:
            verdict = model.verdict(sentence)  # the why, only for the few sentences flagged
            strongest = ", ".join(f"'{w}' +{d:g}" for w, d in verdict.top)
            findings.append(Finding(
                "word-model", LABELS[verdict.label], sentence,
                wordmodel.locate(sentence, verdict.top[0][0]) if verdict.top else sentence[:40],
                f"its words read as {verdict.label} talk, not technical text: score {verdict.score:.1f} > "
                f"{model.threshold:g} (word model {model.version}; strongest: {strongest})"))
    return findings


@dataclass
class Evaluation:
    """Recall per category and the false-alarm rate on clean text, with every miss and false alarm."""

    total: dict = field(default_factory=dict)
    caught: dict = field(default_factory=dict)
    misses: list = field(default_factory=list)
    false_alarms: list = field(default_factory=list)
    clean: int = 0

    def recall(self, category: str) -> float:
        return self.caught.get(category, 0) / self.total[category] if self.total.get(category) else float("nan")

    @property
    def false_positive_rate(self) -> float:
        return len(self.false_alarms) / self.clean if self.clean else float("nan")


LABELS = {"promotion": PROMOTION, "profit": PROFIT, "price": PRICE}


def evaluate(rows) -> Evaluation:
    """Score labelled sentences: rows of (label, text), label one of LABELS or "clean".

    A labelled sentence is caught when any rule flags it (any finding blocks
    publication); a clean sentence with a finding is a false alarm.
    """
    ev = Evaluation()
    for label, text in rows:
        findings = check(text)
        if label == "clean":
            ev.clean += 1
            if findings:
                ev.false_alarms.append((text, findings))
            continue
        category = LABELS[label]
        ev.total[category] = ev.total.get(category, 0) + 1
        if findings:
            ev.caught[category] = ev.caught.get(category, 0) + 1
        else:
            ev.misses.append((category, text))
    return ev
