from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fleet import demo
from fleet.models import Node


class Command(BaseCommand):
    help = ("Set up (or stop) a local demo node: a small real process with a data directory "
            "and a log under var/, registered as the node 'demo-validator' (dev mode only).")

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--setup", action="store_true", help="register and start it")
        group.add_argument("--stop", action="store_true", help="stop its process")
        parser.add_argument("--name", default="demo-validator")

    def handle(self, *args, setup, stop, name, **options):
        if not settings.DEV:
            raise CommandError("the demo node is for QPGOV_ENV=dev only")
        data_dir = settings.QPGOV_DEMO_NODE_DIR / name / "data"
        if stop:
            demo.stop(data_dir)
            self.stdout.write(f"demo node {name} stopped")
            return
        data_dir.mkdir(parents=True, exist_ok=True)
        state = data_dir / "state.db"
        if not state.exists():
            state.write_text("demo chain state\n")
        node, _ = Node.objects.update_or_create(
            name=name,
            defaults={"environment": Node.TESTNET, "role": "validator", "target": "",
                      "data_dir": str(data_dir)},
        )
        if not demo.is_running(data_dir):
            demo.start(data_dir)
            Node.objects.filter(id=node.id).update(frozen=False, frozen_at=None,
                                                   unfreeze_requested_at=None)
        self.stdout.write(f"demo node {name}: running, data in {data_dir}, "
                          f"log {data_dir.parent / 'node.log'}")
