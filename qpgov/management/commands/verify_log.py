from django.core.management.base import BaseCommand, CommandError

from qpgov import eventlog


class Command(BaseCommand):
    help = "Walk the hash-chained event log; exit non-zero naming the first bad event."

    def handle(self, *args, **options):
        checked, problem = eventlog.verify()
        if problem:
            raise CommandError(f"log verification FAILED after {checked} good events: {problem}")
        self.stdout.write(f"log ok: {checked} events, chain intact")
