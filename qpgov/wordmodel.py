"""A small word model behind the public-text rules: naive Bayes over the words of a sentence.

The rules in compliance.py name a pattern; much promotional copy has no single
telltale phrase ("Lots of stages, lots of potential"), and rules written for one
page's wording miss the next page's. This model scores a sentence by the words
it holds, learnt from the "tune" part of the labelled corpus only
(tests/data/public_text/corpus.tsv), and flags a sentence the rules let through
when its words are far likelier in promotion, profit or price talk than in
technical text.

It stays explainable: a finding names the words that weighed most and the score
against the threshold. It stays deterministic and offline: the weights ship in
qpgov/data/wordmodel.json, rebuilt by `manage.py check_public_text --train
CORPUS` (tests check the shipped file is exactly what the tune part gives, so the
report part never leaks in). The threshold is chosen by the training itself: the
lowest score whose false-alarm rate on technical text, cross-validated by source
over the tune part, is at most MAX_CV_FALSE_ALARMS.

The method: each class (clean, promotion, profit, price) has a prior and, per
word, the log of the smoothed share of that class's sentences holding the word.
A sentence's score is the best non-clean class's log-likelihood minus clean's,
over the words of the sentence the model knows (each word once, unknown words
count for nothing, digits fold to one word). Words seen in fewer than MIN_COUNT sentences are dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODEL_FILE = Path(__file__).resolve().parent / "data" / "wordmodel.json"
CLASSES = ("clean", "promotion", "profit", "price")
ALPHA = 0.5  # additive smoothing
MIN_COUNT = 2
MAX_CV_FALSE_ALARMS = 0.01
FOLDS = 5
THRESHOLDS = [t / 2 for t in range(0, 61)]  # 0 to 30 in steps of 0.5

_WORD = re.compile(r"[a-z]+|[$€£%!#]|\d+")


def words(sentence: str) -> set[str]:
    return {w if not w.isdigit() else "<number>" for w in _WORD.findall(sentence.lower())}


@dataclass(frozen=True)
class Verdict:
    score: float
    label: str  # the likeliest non-clean class
    top: tuple[tuple[str, float], ...]  # the words that pushed the score up most, with their weight


class Model:
    def __init__(self, data: dict):
        self.data = data
        self.version = data["version"]
        self.threshold = data["threshold"]
        self.prior = data["prior"]
        self.weights = data["weights"]  # word -> [log p(word | class) for class in CLASSES]

    def verdict(self, sentence: str) -> Verdict:
        known = sorted(words(sentence) & self.weights.keys())
        totals = [self.prior[i] + sum(self.weights[w][i] for w in known) for i in range(len(CLASSES))]
        best = max(range(1, len(CLASSES)), key=lambda i: (totals[i], -i))
        pushes = sorted(((self.weights[w][best] - self.weights[w][0], w) for w in known), reverse=True)
        top = tuple((w, round(d, 2)) for d, w in pushes[:3] if d > 0)
        return Verdict(totals[best] - totals[0], CLASSES[best], top)


@cache
def shipped() -> Model | None:
    """The model in qpgov/data/wordmodel.json, or None if the file is absent."""
    try:
        return Model(json.loads(MODEL_FILE.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


# --- Training ------------------------------------------------------------------


def _fit(rows: list[tuple[str, str]]) -> dict:
    n = dict.fromkeys(CLASSES, 0)
    counts: dict[str, list[int]] = {}
    for label, text in rows:
        i = CLASSES.index(label)
        n[label] += 1
        for w in words(text):
            counts.setdefault(w, [0] * len(CLASSES))[i] += 1
    total = sum(n.values())
    weights = {
        w: [round(math.log((c[i] + ALPHA) / (n[k] + 2 * ALPHA)), 4) for i, k in enumerate(CLASSES)]
        for w, c in sorted(counts.items()) if sum(c) >= MIN_COUNT
    }
    return {
        "prior": [round(math.log(n[k] / total), 4) for k in CLASSES],
        "weights": weights,
    }


def _choose_threshold(rows_by_source: dict[str, list[tuple[str, str]]]) -> tuple[float, float]:
    """The lowest threshold whose cross-validated false-alarm rate on clean text is small enough."""
    sources = sorted(rows_by_source)
    random.Random(0).shuffle(sources)  # noqa: S311 - a fixed fold assignment, not a secret
    scored = []  # (label, score) for every tune sentence, scored by a model that did not see its source
    for k in range(FOLDS):
        held = set(sources[k::FOLDS])
        fitted = _fit([r for s in sources if s not in held for r in rows_by_source[s]])
        model = Model({"version": "", "threshold": 0, **fitted})
        scored += [(label, model.verdict(text).score)
                   for s in sorted(held) for label, text in rows_by_source[s]]
    clean = [score for label, score in scored if label == "clean"]
    for threshold in THRESHOLDS:
        rate = sum(score > threshold for score in clean) / len(clean)
        if rate <= MAX_CV_FALSE_ALARMS:
            return threshold, rate
    return THRESHOLDS[-1], sum(score > THRESHOLDS[-1] for score in clean) / len(clean)


def train(corpus_rows: list[dict]) -> dict:
    """The model's data from the corpus rows (dicts with label, split, text, source): tune part only."""
    tune = [r for r in corpus_rows if r["split"] == "tune"]
    by_source: dict[str, list[tuple[str, str]]] = {}
    for r in tune:
        by_source.setdefault(r["source"], []).append((r["label"], r["text"]))
    threshold, cv_rate = _choose_threshold(by_source)
    digest = hashlib.sha256("\n".join(f"{r['label']}\t{r['text']}" for r in tune).encode()).hexdigest()
    return {
        "version": digest[:12],
        "trained_on": f"{len(tune)} tune sentences, sha256 {digest}",
        "threshold": threshold,
        "cv_false_alarm_rate": round(cv_rate, 4),
        **_fit([(r["label"], r["text"]) for r in tune]),
    }


def locate(sentence: str, word: str) -> str:
    """The words of `sentence` that `word` (as the model spells it) stands for."""
    if word == "<number>":
        pattern = r"\d+"
    else:
        pattern = re.escape(word) if len(word) == 1 else rf"\b{re.escape(word)}\b"
    m = re.search(pattern, sentence, re.IGNORECASE)
    return m.group(0) if m else sentence[:40]


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0) + "\n"
