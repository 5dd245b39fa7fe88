"""Run the public-text checks on a file, or measure them on a labelled corpus.

  manage.py check_public_text post.md                  # findings, one a line
  manage.py check_public_text --eval corpus.tsv --split report
  manage.py check_public_text --train corpus.tsv        # rebuild qpgov/data/wordmodel.json

The corpus is tab-separated with a header: label, split, text, source; label is
promotion, profit, price or clean. --eval prints recall per category, the
false-alarm rate on clean text, and every miss and false alarm. --train fits the
word model (qpgov/wordmodel.py) on the corpus's tune part only and writes it.
"""

import csv
import sys

from django.core.management.base import BaseCommand, CommandError

from qpgov import compliance, sensitive, wording, wordmodel


def read_corpus(path: str, split: str = "all") -> list[tuple[str, str]]:
    """(label, text) rows of the corpus at `path`, only those of `split` unless it is "all"."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = [r for r in reader if split == "all" or r["split"] == split]
    except (OSError, KeyError) as exc:
        raise CommandError(f"Cannot read the corpus {path}: {exc}") from exc
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
        text = sys.stdin.read() if options["file"] == "-" else open(options["file"], encoding="utf-8").read()
        findings = compliance.check(text) + sensitive.check(text)
        for f in findings:
            self.stdout.write(str(f))
        self.stdout.write(f"{wording.count(len(findings), 'finding')}, rules {compliance.RULES_VERSION}.")

    def train(self, path):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        except OSError as exc:
            raise CommandError(f"Cannot read the corpus {path}: {exc}") from exc
        data = wordmodel.train(rows)
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
