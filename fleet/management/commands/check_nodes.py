import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from fleet.models import CheckRun, Node
from fleet.tasks import run_checks, start_run


class Command(BaseCommand):
    help = ("Run the daily node checks now, on the named nodes or on all of them. The first "
            "stage runs here; the second block-height reading is left to the worker unless "
            "--wait is given.")

    def add_arguments(self, parser):
        parser.add_argument("nodes", nargs="*", metavar="NODE", help="node names (default: all)")
        parser.add_argument("--wait", action="store_true",
                            help="wait for the second height reading and take it here too")

    def handle(self, *args, nodes, wait, **options):
        selected = Node.objects.filter(name__in=nodes) if nodes else Node.objects.all()
        missing = sorted(set(nodes) - set(selected.values_list("name", flat=True)))
        if missing:
            raise CommandError(f"no such node: {', '.join(missing)}")
        if not selected.exists():
            self.stdout.write("no nodes registered: nothing to check")
            return
        run = start_run(selected, CheckRun.DEMAND)
        # The message is out too; whichever of us and a worker claims the run first takes it.
        run_checks(run.id)
        run.refresh_from_db()
        if wait and run.status == CheckRun.QUEUED:
            time.sleep(max(0.0, (run.due_at - timezone.now()).total_seconds()))
            run_checks(run.id)
            run.refresh_from_db()
        for check in run.checks.select_related("node").order_by("node__name", "id"):
            self.stdout.write(f"{check.node.name:24} {check.kind:10} {check.status:8} {check.note}")
        if run.status != CheckRun.DONE:
            self.stdout.write(f"check run {run.id}: the second height reading is due at "
                              f"{run.due_at:%H:%M:%S} UTC; a worker takes it")
