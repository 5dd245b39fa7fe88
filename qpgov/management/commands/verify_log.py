from django.core.management.base import BaseCommand, CommandError

from qpgov import eventlog


class Command(BaseCommand):
    help = "Walk the hash-chained event log; exit non-zero naming the first bad event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--python", action="store_true",
            help="recompute every hash in Python instead of inside PostgreSQL (slower; "
                 "trusts neither the database's SHA-256 nor its JSON parser)",
        )

    def handle(self, *args, python, **options):
        checked, problem = eventlog.verify(python=python)
        if problem:
            raise CommandError(f"log verification FAILED after {checked} good events: {problem}")
        self.stdout.write(f"log ok: {checked} events, chain intact")
