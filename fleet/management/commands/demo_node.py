from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fleet import demo, registry
from fleet.models import Node


class Command(BaseCommand):
    help = ("Set up (or stop) a local demo node: a small real process with a data directory "
            "and a log under var/, registered as the node 'demo-validator' (dev mode only). "
            "A node an incident froze is left stopped.")

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
        node = Node.objects.filter(name=name).first() or Node(name=name)
        node.environment, node.role, node.target = Node.TESTNET, "validator", ""
        node.unit, node.data_dir = node.unit or "quantumpay-node", str(data_dir)
        node.full_clean()  # the same rules as the registry form, data roots included
        registry.save_node(node)  # logged like any registry change (by the system)
        if node.frozen:
            # Frozen by an incident: only its commander's confirmed unfreeze starts it.
            self.stdout.write(f"demo node {name}: frozen since {node.frozen_at:%Y-%m-%d %H:%M} "
                              "UTC, left stopped (resolve the incident with it ticked)")
            return
        if not demo.is_running(data_dir):
            demo.start(data_dir)
        self.stdout.write(f"demo node {name}: running, data in {data_dir}, "
                          f"log {data_dir.parent / 'node.log'}")
