from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from qpgov import checkpoints, eventlog, wording


class Command(BaseCommand):
    help = "Walk the hash-chained event log; exit non-zero naming the first bad event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--python", action="store_true",
            help="recompute every hash in Python instead of inside PostgreSQL (slower; "
                 "trusts neither the database's SHA-256 nor its JSON parser)",
        )
        parser.add_argument(
            "--checkpoints", metavar="FILE_OR_URL", dest="checkpoint_source",
            help="also check the log against signed checkpoints saved earlier (a file or an "
                 "http(s) URL holding one or more, as /audit/checkpoints/all.txt serves them)",
        )
        parser.add_argument(
            "--since-last-checkpoint", action="store_true",
            help="with --checkpoints: trust the last checkpoint's signed hash and verify only "
                 "the events after it (cost proportional to them, not to the whole log)",
        )
        parser.add_argument(
            "--key", metavar="VERIFIER_KEY",
            help="the verifier key to check signatures with (name+keyid+base64, as published); "
                 "default: the public half of QPGOV_CHECKPOINT_KEY_FILE",
        )

    def handle(self, *args, python, checkpoint_source, since_last_checkpoint, key, **options):
        if checkpoint_source is None:
            if since_last_checkpoint:
                raise CommandError("--since-last-checkpoint needs --checkpoints")
            checked, problem = eventlog.verify(python=python)
            if problem:
                raise CommandError(f"log verification FAILED after {checked} good events: {problem}")
            self.stdout.write(f"log ok: {checked} events, chain intact")
            return
        checked, failure, count = self.against_checkpoints(
            checkpoint_source, since_last_checkpoint, key, python)
        if failure:
            raise CommandError(failure)
        scope = "from the last checkpoint on" if since_last_checkpoint else "from the first event"
        self.stdout.write(f"log ok: {checked} events, chain intact {scope}, "
                          f"consistent with {wording.count(count, 'signed checkpoint')}")

    def against_checkpoints(self, source, since_last, key_text, python):
        try:
            key = checkpoints.VerifierKey.parse(key_text) if key_text else checkpoints.verifier_key()
        except (checkpoints.BadNote, ImproperlyConfigured) as exc:
            raise CommandError(f"no verifier key ({exc}); pass the published one with --key") from None
        try:
            notes = checkpoints.split_notes(checkpoints.load_notes(source))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read checkpoints from {source}: {exc}") from None
        checked, failure = checkpoints.verify_against(notes, key, since_last=since_last, python=python)
        return checked, failure, len(notes)
