"""Secrets the scanner's plugins miss: seed phrases, Authorization headers, long one-word
passwords and bare npm tokens (qpgov/sensitive.py)."""

import csv
import hashlib
from pathlib import Path

import pytest

from qpgov import sensitive

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "public_text" / "corpus.tsv"

# The BIP-39 test vector for 128 bits of zeros: a valid 12-word mnemonic.
ABANDON = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
# A 24-word BIP-39 test vector (entropy 0x7f repeated).
LEGAL = ("legal winner thank year wave sausage worth useful legal winner thank year wave sausage "
         "worth useful legal winner thank year wave sausage worth title").split()


def rules(text):
    return [f.rule for f in sensitive.check(text)]


def matches(text, rule):
    return [f.match for f in sensitive.check(text) if f.rule == rule]


# --- seed phrases ---------------------------------------------------------------------------

def test_the_shipped_wordlist_is_the_official_bip39_english_list():
    words = (ROOT / "qpgov" / "data" / "bip39-english.txt").read_text(encoding="utf-8").split("\n")
    assert words[-1] == "" and len(words[:-1]) == 2048 == len(set(words[:-1]))
    assert words[:3] == ["abandon", "ability", "able"] and words[-2] == "zoo"
    # sha256 of bitcoin/bips bip-0039/english.txt, unchanged since it was added in 2014.
    digest = hashlib.sha256((ROOT / "qpgov" / "data" / "bip39-english.txt").read_bytes()).hexdigest()
    assert digest == "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"


def test_it_flags_a_seed_phrase_in_a_sentence():
    text = f"The validator mnemonic was {ABANDON}, and it is rotated now."
    assert matches(text, "seed-phrase") == [ABANDON]


@pytest.mark.parametrize("layout", [
    lambda words: " ".join(words),
    lambda words: ", ".join(words),
    lambda words: ",".join(words),
    lambda words: "\n".join(words),
    lambda words: " ".join(f"{i}. {w}" for i, w in enumerate(words, 1)),
    lambda words: "\n".join(f"{i}) {w}" for i, w in enumerate(words, 1)),
    lambda words: "\n".join(f"{i}.{w}" for i, w in enumerate(words, 1)),
    lambda words: " ".join(w.upper() for w in words),
])
def test_it_flags_a_seed_phrase_however_it_is_laid_out(layout):
    text = "Backup of the hot wallet:\n" + layout(LEGAL) + "\nRotated at once."
    found = matches(text, "seed-phrase")
    assert len(found) == 1
    assert found[0].lower().startswith("legal") and found[0].lower().endswith("title")


def test_a_run_of_eleven_words_is_not_a_seed_phrase():
    assert "seed-phrase" not in rules(" ".join(LEGAL[:11]))
    assert "seed-phrase" in rules(" ".join(LEGAL[:12]))


def test_a_word_outside_the_list_or_a_full_stop_breaks_the_run():
    # "the" is not a BIP-39 word; a sentence end is not a separator between words of a phrase.
    assert "seed-phrase" not in rules(" ".join(LEGAL[:8]) + " the " + " ".join(LEGAL[8:16]))
    assert "seed-phrase" not in rules(" ".join(LEGAL[:8]) + ". " + " ".join(LEGAL[8:16]))
    # A word that only starts like a list word ("abandoned") is not one.
    assert "seed-phrase" not in rules("abandoned " + " ".join(LEGAL[:11]))


def corpus_sentences():
    with open(CORPUS, encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def test_no_real_sentence_or_page_of_the_docs_reads_as_a_seed_phrase():
    # Guard, not a regression test: the longest run of list words in the 2,190 corpus sentences
    # is 6 ("you know that you can earn"); prose needs "the", "of", "and", which are not in it.
    texts = corpus_sentences() + [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    assert len(texts) > 2000
    assert [t for t in texts if "seed-phrase" in rules(t)] == []


# --- Authorization headers -----------------------------------------------------------------

@pytest.mark.parametrize("text,rule,token", [
    ("curl -H 'Authorization: Bearer abc123def456ghi789jkl012' https://rpc.example/",
     "bearer-token", "abc123def456ghi789jkl012"),
    ('The probe sent "Authorization: Bearer abcdefghijklmnopqrstuvwx" every minute.',
     "bearer-token", "abcdefghijklmnopqrstuvwx"),
    ("It logged Bearer sk.live-AbCdEfGhIjKlMnOp for every request.",
     "bearer-token", "sk.live-AbCdEfGhIjKlMnOp"),
    ("authorization: bearer abcdefghijklmnopqrstuvwx.", "bearer-token", "abcdefghijklmnopqrstuvwx"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' https://rpc.example/",
     "basic-auth-header", "dXNlcjpwYXNzd29yZA=="),
])
def test_it_flags_the_token_of_an_authorization_header(text, rule, token):
    assert matches(text, rule) == [token]


@pytest.mark.parametrize("text", [
    "Bearer tokens expire after an hour; Basic authentication was disabled.",
    "The header was Authorization: Bearer <token>, redacted.",
    "Authorization: Bearer abc123 is too short to be a real token.",
    "The bearer of the bad news was the monitoring system.",
    # Prometheus configuration: the scheme on one line, the token's file on the next.
    "authorization:\n  type: Bearer\n  credentials_file: /etc/prometheus/qpgov-metrics-token",
])
def test_it_leaves_prose_about_authorization_alone(text):
    assert sensitive.check(text) == []


# --- one-word passwords ----------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("password: correcthorsebatterystaple", "correcthorsebatterystaple"),
    ("The db_password = validatorbackupkey was in the log.", "validatorbackupkey"),
    ("secret: hunter2", "hunter2"),
])
def test_it_flags_a_keyword_value_that_is_not_an_ordinary_word(text, value):
    assert matches(text, "secret-keyword") == [value]


@pytest.mark.parametrize("text", [
    "The secret: nobody noticed for an hour.",
    "The password: rotated, then rotated again.",
    "Our secret: documentation.",
])
def test_a_keyword_followed_by_an_ordinary_word_is_prose(text):
    assert sensitive.check(text) == []


# --- npm tokens -------------------------------------------------------------------------------

NPM = "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_it_flags_a_bare_npm_token():
    assert len(NPM) == 40
    assert matches(f"The CI job printed {NPM} in its log.", "npm-token") == [NPM]
    assert matches(f"NPM_TOKEN={NPM}", "npm-token") == [NPM]


def test_it_leaves_npm_words_and_short_runs_alone():
    text = f"We ran npm_install_dependencies_and_build_the_site and {NPM[:-1]} once."
    assert "npm-token" not in rules(text)
