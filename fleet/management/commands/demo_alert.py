"""Post a sample Alertmanager payload to the running qpgov, to watch an alert become an incident."""

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from fleet.models import AlertReceiver, AlertRule, Node, hash_token
from qpgov import roles

# Dev only, like the demo accounts' password: the demo receiver's bearer token.
DEMO_TOKEN = "qpa_demo-token-for-make-run-only"
DEMO_ALERT = "BlockProductionStalled"


def sample_payload(node: str, *, resolved: bool) -> dict:
    """One alert on `node` as Alertmanager 0.25 sends it (version 4)."""
    labels = {"alertname": DEMO_ALERT, "instance": f"{node}:9100", "job": "quantumpay",
              "severity": "critical"}
    starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    status = "resolved" if resolved else "firing"
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{DEMO_ALERT}"}}', "truncatedAlerts": 0,
        "receiver": "qpgov", "status": status,
        "groupLabels": {"alertname": DEMO_ALERT}, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
        "alerts": [{
            "status": status, "labels": labels,
            "annotations": {"summary": f"No new block on {node} for more than two block intervals"},
            "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "endsAt": ((datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
                       if resolved else "0001-01-01T00:00:00Z"),
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "d3m0" + node.encode().hex()[:12],
        }],
    }


class Command(BaseCommand):
    help = ("Post a sample Alertmanager alert (payload version 4) to the running qpgov, as "
            "Alertmanager would (dev mode only). --setup creates the demo receiver, the "
            "'alertmanager' service account and the demo's alert rules (a stall on a mainnet "
            "validator declares SEV1, on a testnet node SEV2, elsewhere it waits to be confirmed).")

    def add_arguments(self, parser):
        parser.add_argument("--setup", action="store_true", help="create the demo receiver and rule")
        parser.add_argument("--resolve", action="store_true", help="send the alert as resolved")
        parser.add_argument("--node", default="demo-validator")
        parser.add_argument("--url", default=settings.SITE_ROOT)

    def handle(self, *args, setup, resolve, node, url, **options):
        if not settings.DEV:
            raise CommandError("the demo alert is for QPGOV_ENV=dev only")
        if setup:
            self.setup()
            return
        body = json.dumps(sample_payload(node, resolved=resolve)).encode()
        endpoint = url.rstrip("/") + reverse("alertmanager_webhook")
        request = urllib.request.Request(endpoint, data=body, headers={  # noqa: S310 - our own URL
            "Content-Type": "application/json", "Authorization": f"Bearer {DEMO_TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                answer = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise CommandError(f"{endpoint} answered {exc.code}: {exc.read().decode()[:300]}") from exc
        except OSError as exc:
            raise CommandError(f"could not reach {endpoint} ({exc}); is `make run` running?") from exc
        self.stdout.write(f"posted {'a resolved' if resolve else 'a firing'} {DEMO_ALERT} on {node}: "
                          f"{answer}\nwatch {url.rstrip('/')}{reverse('alerts:list')} and "
                          f"{url.rstrip('/')}{reverse('incidents:list')}")

    def setup(self):
        receiver, _ = AlertReceiver.objects.get_or_create(name="demo alertmanager")
        receiver.token_hash, receiver.active = hash_token(DEMO_TOKEN), True
        receiver.save()
        service, _ = User.objects.get_or_create(username=settings.QPGOV_ALERT_DECLARER)
        service.first_name, service.last_name = "Alertmanager", "(service account)"
        service.set_unusable_password()
        service.save()
        service.groups.set(Group.objects.filter(name=roles.RESPONDERS))
        # The example, scoped: a stall on a mainnet validator is a SEV1 at once (and
        # the change freeze). The demo node is a testnet validator: its stall declares a SEV2
        # at once, so a newcomer sees an incident without freezing the demo's changes; a
        # stall anywhere else waits for a person to confirm.
        for environment, role, action, severity, description in [
            (Node.MAINNET, "validator", AlertRule.DECLARE, "SEV1",
             "Block production halted on a mainnet validator: declare at once."),
            (Node.TESTNET, "", AlertRule.DECLARE, "SEV2",
             "Demo: a testnet stall declares at once, without the mainnet freeze."),
            ("", "", AlertRule.CONFIRM, "SEV2", "Any other node: a person confirms."),
        ]:
            AlertRule.objects.update_or_create(
                alertname=DEMO_ALERT, environment=environment, node_role=role,
                defaults={"action": action, "severity": severity, "description": description})
        AlertRule.objects.get_or_create(alertname="DiskAlmostFull", environment="", node_role="",
                                        defaults={"action": AlertRule.CONFIRM, "severity": "SEV3"})
        self.stdout.write(f"demo alert receiver ready (token {DEMO_TOKEN}); "
                          f"`manage.py demo_alert` posts a sample alert")
