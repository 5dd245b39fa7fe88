from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from fleet.models import Node
from incidents import services
from incidents.models import Incident


class Command(BaseCommand):
    help = (
        "Declare an incident from a shell during an outage; the response starts at once. "
        "Example: declare_incident --by rita --severity SEV1 --node validator-1 'Double signing'"
    )

    def add_arguments(self, parser):
        parser.add_argument("title")
        parser.add_argument("--severity", required=True,
                            choices=[code for code, _ in Incident.SEVERITIES])
        parser.add_argument("--node", action="append", required=True, dest="nodes",
                            help="an affected node's name; repeat for several")
        parser.add_argument("--by", required=True, help="username of the person declaring")
        parser.add_argument("--commander", help="username of the commander (default: --by)")
        parser.add_argument("--summary", default="")
        parser.add_argument("--drill", action="store_true",
                            help="a rehearsal: never shown on the public status page")

    def handle(self, *args, title, severity, nodes, by, commander, summary, drill=False, **options):
        # Bytes that are not UTF-8 reach argv as lone surrogates, which no
        # database will store: refuse them here with a message, not a traceback.
        for value in (title, summary, by, commander or "", *nodes):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise CommandError(f"not valid UTF-8 text: {value!r}") from None
            if "\x00" in value:
                raise CommandError(f"NUL characters are not allowed: {value!r}")
        users = {u.username: u for u in User.objects.filter(username__in={by, commander})}
        if by not in users:
            raise CommandError(f"no user named {by!r}")
        if commander and commander not in users:
            raise CommandError(f"no user named {commander!r}")
        found = {n.name: n for n in Node.objects.filter(name__in=nodes)}
        missing = sorted(set(nodes) - set(found))
        if missing:
            raise CommandError(f"unknown {'node' if len(missing) == 1 else 'nodes'}: {', '.join(missing)}")
        try:
            with transaction.atomic():
                incident = services.declare(
                    title=title, severity=severity, nodes=found.values(), summary=summary,
                    declared_by=users[by], commander=users.get(commander), drill=drill,
                )
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"declared INC-{incident.pk}: {incident.title} ({severity}"
                          f"{', drill' if drill else ''}); the response has been queued")
