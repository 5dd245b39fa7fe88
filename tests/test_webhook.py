"""The incident webhook follows Standard Webhooks: id, timestamp and signature over all three,
never follows a redirect, and needs a secret."""

import base64
import copy
import re
import secrets
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents import actions, services
from incidents.models import Node, NotificationDelivery
from qpgov import checks
from tests.conftest import ROOT

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def documented_verifier():
    """The receiver's snippet, exactly as docs/incidents.md shows it."""
    text = (ROOT / "docs" / "incidents.md").read_text()
    block = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/incidents.md lost the webhook verification snippet"
    namespace = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own documentation, under test
    return namespace["verify"]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.headers, body))
        status, headers, reply = self.server.reply
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(status=200, headers=None, reply=b"thanks"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.received, server.reply = [], (status, headers or {}, reply)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_port}/hook"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def incident(rita, published):
    node = Node.objects.create(name="validator-1")
    return services.declare(title="Stalled blocks", severity="SEV2", nodes=[node],
                            declared_by=rita)


def test_a_receiver_verifies_a_delivery_with_the_documented_snippet_and_refuses_a_replay(
    settings, serve, incident
):
    receiver, url = serve()
    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = url, SECRET
    delivery = actions._webhook(incident, {"incident": incident.pk})
    assert delivery.ok and delivery.response_status == 200
    (headers, body), = receiver.received
    assert headers["webhook-id"] and headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,")
    verify = documented_verifier()
    assert verify(SECRET, headers, body)

    assert not verify(SECRET, headers, body.replace(b"}", b", \"severity\": \"SEV1\"}"))
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    forged = copy.deepcopy(headers)
    forged.replace_header("webhook-timestamp", str(int(timezone.now().timestamp()) + 1))
    assert not verify(SECRET, forged, body)  # a fresh timestamp does not fit the old signature
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert not verify(SECRET, headers, body)  # the captured request, replayed later
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        assert verify(SECRET, headers, body)


def test_each_message_has_its_own_id_and_a_retry_keeps_it(settings, serve, incident):
    receiver, url = serve()
    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = url, SECRET
    actions._webhook(incident, {"incident": incident.pk}, message_id="msg_a")
    actions._webhook(incident, {"incident": incident.pk}, message_id="msg_a")
    actions._webhook(incident, {"incident": incident.pk}, message_id="msg_b")
    assert [h["webhook-id"] for h, _ in receiver.received] == ["msg_a", "msg_a", "msg_b"]


def test_a_redirect_is_never_followed_and_its_target_never_shown(client, settings, serve,
                                                                 incident, rita):
    internal, internal_url = serve(reply=b"INTERNAL METADATA secret-token-123")
    _, url = serve(status=302, headers={"Location": internal_url}, reply=b"moved")
    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = url, SECRET
    delivery = actions._webhook(incident, {"incident": incident.pk})
    assert internal.received == []  # nothing went to the redirect's target
    assert not delivery.ok and delivery.response_status == 302
    assert "redirect" in delivery.response_excerpt and "not followed" in delivery.response_excerpt
    assert "INTERNAL" not in delivery.response_excerpt and internal_url not in delivery.response_excerpt
    client.force_login(rita)
    page = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "INTERNAL METADATA" not in page


def test_no_webhook_goes_out_without_a_secret(settings, serve, incident):
    receiver, url = serve()
    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = url, ""
    delivery = actions._webhook(incident, {"incident": incident.pk})
    assert receiver.received == [] and not delivery.ok
    assert "secret" in delivery.response_excerpt
    assert NotificationDelivery.objects.filter(ok=False).count() == 1


@pytest.mark.parametrize("secret", ["", "   ", "short", "whsec_" + base64.b64encode(b"x" * 8).decode(),
                                    "whsec_not base64!"])
def test_a_webhook_url_without_a_usable_secret_is_a_system_check_error(settings, secret):
    settings.QPGOV_INCIDENT_WEBHOOK_URL = "https://hooks.example.org/qpgov"
    settings.QPGOV_INCIDENT_WEBHOOK_SECRET = secret
    assert [e.id for e in checks.webhook_has_a_secret()] == ["qpgov.E002"]


@pytest.mark.parametrize("secret", [SECRET, secrets.token_urlsafe(32)])
def test_a_webhook_with_a_strong_secret_passes_the_check(settings, secret):
    settings.QPGOV_INCIDENT_WEBHOOK_URL = "https://hooks.example.org/qpgov"
    settings.QPGOV_INCIDENT_WEBHOOK_SECRET = secret
    assert checks.webhook_has_a_secret() == []


def test_no_webhook_url_needs_no_secret(settings):
    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = "", ""
    assert checks.webhook_has_a_secret() == []
