import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from qpgov.dispatch import send_now
from qpgov.models import HealthPing
from qpgov.tasks import ping


class Command(BaseCommand):
    help = "Check the database, send a ping through the broker and wait for a worker to answer."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait")

    def handle(self, *args, timeout, **options):
        connection.ensure_connection()
        broker = settings.CELERY_BROKER_URL.split("@")[-1]  # never print credentials
        self.stdout.write(f"database: {connection.vendor} ok")
        row = HealthPing.objects.create()
        started = time.monotonic()
        if send_now(ping, row.id) is None:
            raise CommandError(f"broker {broker}: could not publish the ping")
        self.stdout.write(f"broker: {broker} accepted the ping")
        while time.monotonic() - started < timeout:
            row.refresh_from_db()
            if row.answered_at:
                elapsed = (time.monotonic() - started) * 1000
                self.stdout.write(f"worker: {row.answered_by} answered in {elapsed:.0f} ms")
                return
            time.sleep(0.2)
        raise CommandError(f"worker: no answer within {timeout:g} s (is a worker running?)")
