from django.core.management.base import BaseCommand

from qpgov import rolelog, wording


class Command(BaseCommand):
    help = "Log every user whose roles or admin flags changed without an event (e.g. by SQL)."

    def handle(self, *args, **options):
        found = rolelog.reconcile()
        self.stdout.write(f"{wording.count(found, 'role change')} found and logged.")
