from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from qpgov import checkpoints


class Command(BaseCommand):
    help = ("Show the event log's checkpoint verifier key, or generate the signing key "
            "(QPGOV_CHECKPOINT_KEY_FILE) when there is none.")

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true",
                            help="write a new Ed25519 key to QPGOV_CHECKPOINT_KEY_FILE if it does not exist")

    def handle(self, *args, generate, **options):
        path = checkpoints.key_file()
        if path is None:
            raise CommandError("QPGOV_CHECKPOINT_KEY_FILE is not set")
        if generate and not Path(path).exists():
            checkpoints.generate_key_file(path)
            self.stderr.write(f"wrote a new checkpoint signing key to {path}; back it up, never commit it")
        try:
            key = checkpoints.verifier_key()
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} (--generate writes a new key)") from None
        self.stdout.write(f"verifier key: {key}\nfingerprint (SHA-256 of the public key): {key.fingerprint}")
