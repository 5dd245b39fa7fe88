from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from qpgov import roles

DEMO_PASSWORD = "qpgov-demo"

# username -> (full name, roles). Core Ops and the council have enough members
# besides any one proposer for the default policies to be reachable.
DEMO_USERS = {
    "alice": ("Alice Proposer", [roles.PROPOSERS]),
    "olga": ("Olga Ops", [roles.CORE_OPS]),
    "oscar": ("Oscar Ops", [roles.CORE_OPS]),
    "carol": ("Carol Council", [roles.COUNCIL]),
    "chris": ("Chris Council", [roles.COUNCIL]),
    "cora": ("Cora Council", [roles.COUNCIL]),
    "rita": ("Rita Responder", [roles.RESPONDERS]),
}


class Command(BaseCommand):
    help = "Create one demo account per role (dev mode only) and print the passwords."

    def handle(self, *args, **options):
        if not settings.DEV:
            raise CommandError("demo accounts are for QPGOV_ENV=dev only")
        rows = []
        for username, (full_name, role_names) in DEMO_USERS.items():
            first, last = full_name.split(" ", 1)
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.invalid"
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set(Group.objects.filter(name__in=role_names))
            rows.append((username, ", ".join(role_names)))
        admin, _ = User.objects.get_or_create(username="admin")
        admin.is_staff = admin.is_superuser = True
        admin.email = "admin@example.invalid"
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        rows.append(("admin", "staff (Django admin)"))

        self.stdout.write("Demo accounts (dev only), all with password " + DEMO_PASSWORD)
        for username, what in rows:
            self.stdout.write(f"  {username:<8} {what}")
