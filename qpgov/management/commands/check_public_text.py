"""Run the public-text checks on a file, or measure them on a labelled corpus.

  manage.py check_public_text post.md                  # findings, one a line
  manage.py check_public_text --eval corpus.tsv --split report
  manage.py check_public_text --train corpus.tsv        # rebuild qpgov/data/wordmodel.json

A file is checked as the web checks a post-mortem: the compliance rules, and the
sensitive-data check with what qpgov knows (registered node names, hosts and SSH
targets, account usernames and full names). Without a readable database it says
so in one line on standard error and checks the rest.

The corpus is tab-separated with a header: label, split, text, source; label is
promotion, profit, price or clean. --eval prints recall per category, the
false-alarm rate on clean text, and every miss and false alarm. --train fits the
word model (qpgov/wordmodel.py) on the corpus's tune part only and writes it.
"""

import csv
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from qpgov import compliance, sensitive, wording, wordmodel

HEADER = ("label", "split", "text", "source")


def read_rows(path: str, needed=("label", "text")) -> list[dict]:
    """The rows of the corpus at `path`, refused unless its header row names the `needed` columns."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            # Without a header row the first sentence would be taken for one, and every
            # figure would come out empty rather than wrong-looking.
            found = reader.fieldnames or []
            missing = [name for name in needed if name not in found]
            if missing:
                first_line = " | ".join(found)[:80]
                raise CommandError(
                    f"{path} needs a header row naming its tab-separated columns "
                    f"({', '.join(HEADER)}); it has no {' or '.join(missing)} column. "
                    f"Its first line reads: {first_line!r}.")
            return list(reader)
    except OSError as exc:
        raise CommandError(f"Cannot read the corpus {path}: {exc}") from exc


def read_corpus(path: str, split: str = "all") -> list[tuple[str, str]]:
    """(label, text) rows of the corpus at `path`, only those of `split` unless it is "all"."""
    rows = read_rows(path)
    if split != "all":
        if rows and "split" not in rows[0]:
            raise CommandError(f"{path} has no split column, so there is no {split} part to "
                               "measure; leave out --split to measure every row.")
        rows = [r for r in rows if r["split"] == split]
    bad = {r["label"] for r in rows} - set(compliance.LABELS) - {"clean"}
    if bad:
        raise CommandError(f"Unknown labels in {path}: {', '.join(sorted(bad))}.")
    return [(r["label"], r["text"]) for r in rows]


class Command(BaseCommand):
    help = "Check public text for price, profit and promotion talk and sensitive data, or --eval a corpus."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="a text file to check ('-' for standard input)")
        parser.add_argument("--eval", metavar="FILE.tsv",
                            help="measure the compliance check on a labelled corpus")
        parser.add_argument("--train", metavar="FILE.tsv",
                            help="fit the word model on the tune part of a labelled corpus and write it")
        parser.add_argument("--split", default="all", choices=("all", "tune", "report"),
                            help="which part of the corpus to measure (default: all)")

    def handle(self, *args, **options):
        if options["train"]:
            return self.train(options["train"])
        if options["eval"]:
            return self.evaluate(options["eval"], options["split"])
        if not options["file"]:
            raise CommandError("Give a file to check, or --eval FILE.tsv.")
        try:
            if options["file"] == "-":
                text = sys.stdin.read()
            else:
                with open(options["file"], encoding="utf-8") as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from exc
        findings = compliance.check(text) + sensitive.check(text, **self.known_names())
        for f in findings:
            self.stdout.write(str(f))
        self.stdout.write(f"{wording.count(len(findings), 'finding')}, rules {compliance.RULES_VERSION}.")

    def known_names(self) -> dict[str, list[str]]:
        """Node names, hosts and accounts from the database, as the web uses them; none if it is down."""
        try:
            return sensitive.known_names()
        except DatabaseError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.stderr.write(f"Node, host and account names not checked: the database cannot be "
                              f"read ({first}).")
            return {}

    def train(self, path):
        data = wordmodel.train(read_rows(path, needed=("label", "split", "text")))
        wordmodel.MODEL_FILE.parent.mkdir(exist_ok=True)
        wordmodel.MODEL_FILE.write_text(wordmodel.dumps(data), encoding="utf-8")
        wordmodel.shipped.cache_clear()
        self.stdout.write(f"Word model {data['version']}: {data['trained_on']}; "
                          f"{len(data['weights'])} words; "
                          f"threshold {data['threshold']:g} (cross-validated false alarms "
                          f"{data['cv_false_alarm_rate']:.3f}); written to {wordmodel.MODEL_FILE}.")

    def evaluate(self, path, split):
        ev = compliance.evaluate(read_corpus(path, split))
        w = self.stdout.write
        model = wordmodel.shipped()
        w(f"Rules {compliance.RULES_VERSION}, word model {model.version if model else 'absent'}, "
          f"corpus {path}, split {split}")
        w(f"{'category':<24}{'caught':>8}{'of':>6}{'recall':>9}")
        for category in compliance.CATEGORIES:
            w(f"{category:<24}{ev.caught.get(category, 0):>8}{ev.total.get(category, 0):>6}"
              f"{ev.recall(category):>9.2f}")
        w(f"{'clean (false alarms)':<24}{len(ev.false_alarms):>8}{ev.clean:>6}{ev.false_positive_rate:>9.3f}")
        w(f"\nMisses ({len(ev.misses)}):")
        for category, text in ev.misses:
            w(f"  [{category}] {text}")
        w(f"\nFalse alarms ({len(ev.false_alarms)}):")
        for text, findings in ev.false_alarms:
            w(f"  {text}")
            for f in findings:
                w(f"      {f.rule} ({f.category}): \"{f.match}\"")
