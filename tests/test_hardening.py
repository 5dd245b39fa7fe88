"""Hardening: CSRF on every state change, production cookies and HSTS, webhook signatures,
evidence per incident, and no secret or password in the logs."""

import ast
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from fleet.models import Node
from incidents import actions, services
from incidents.models import Evidence, NotificationDelivery
from tests import permission_table as table
from tests.conftest import ROOT
from tests.test_permission_matrix import url_for, world  # noqa: F401 - world is a fixture

STATE_CHANGES = sorted(
    (name, sorted(allowed["POST"])[0]) for name, (_, allowed) in table.TABLE.items()
    if allowed.get("POST") and name not in table.TOKEN_APIS  # no session, so no CSRF to forge
)


@pytest.mark.parametrize("name,actor", STATE_CHANGES)
def test_every_state_change_is_refused_without_a_csrf_token(world, name, actor):  # noqa: F811
    actors, samples = world
    client = Client(enforce_csrf_checks=True)
    if actors[actor] is not None:
        client.force_login(actors[actor])  # someone who may make the change, with a token
    response = client.post(url_for(name, table.TABLE[name][0], samples), {})
    assert response.status_code == 403, (name, actor, response.status_code)
    assert b"CSRF" in response.content


def test_the_csrf_check_lets_a_request_with_its_token_through(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = client.get(reverse("changes:create")).context["csrf_token"]
    response = client.post(reverse("changes:create"), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 200  # the form, with its own errors: past the CSRF check


PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
User.objects.create_user("alice", password="a-long-enough-password-1")
client = Client(HTTP_HOST="gov.example.org")
plain = client.get("/healthz")
signed_in = client.post("/accounts/login/", {"username": "alice",
                        "password": "a-long-enough-password-1"}, secure=True)
cookies = {name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"]),
                  "samesite": c["samesite"]} for name, c in signed_in.cookies.items()}
print(json.dumps({"plain_status": plain.status_code, "plain_location": plain.get("Location"),
                  "status": signed_in.status_code,
                  "hsts": signed_in.headers.get("Strict-Transport-Security"),
                  "cookies": cookies}))
"""


def test_production_mode_sends_hsts_and_only_secure_cookies(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("QPGOV_ENV", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="qpgov.settings", SECRET_KEY=secrets.token_urlsafe(50),
               ALLOWED_HOSTS="gov.example.org", QPGOV_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # /healthz stays plain HTTP for load balancers; everything else is redirected.
    assert seen["plain_status"] == 200
    assert seen["status"] == 302
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert set(seen["cookies"]) == {"sessionid", "csrftoken"}
    assert all(c["secure"] for c in seen["cookies"].values()), seen["cookies"]
    assert seen["cookies"]["sessionid"]["httponly"]


def test_production_mode_redirects_plain_http_to_https(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QPGOV_ENV", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="qpgov.settings", SECRET_KEY=secrets.token_urlsafe(50),
               ALLOWED_HOSTS="gov.example.org", QPGOV_VAR_DIR=str(tmp_path))
    probe = ("import django; django.setup(); from django.test import Client; "
             "r = Client(HTTP_HOST='gov.example.org').get('/accounts/login/'); "
             "print(r.status_code, r['Location'])")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["301", "https://gov.example.org/accounts/login/"], result.stderr


def _signature_comparisons(tree):
    """Every `==`/`!=` with an operand whose name mentions a signature, an HMAC or a token.

    Plain SHA-256 digests of public content (the event chain, evidence files)
    are not secrets, so comparing them with `==` leaks nothing.
    """
    words = ("signature", "hmac", "token")
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
        ):
            names = [ast.unparse(part).lower() for part in [node.left, *node.comparators]]
            if any(word in name for name in names for word in words):
                yield node


def test_no_signature_is_compared_with_an_ordinary_equals():
    found = []
    for app in ("qpgov", "changes", "fleet", "incidents"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            found += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in _signature_comparisons(tree)]
    assert not found, f"compare signatures with hmac.compare_digest: {found}"


def test_the_signature_check_catches_an_equals_comparison():
    # The scan above must be able to fail, or it proves nothing.
    tree = ast.parse("ok = request.headers['X-Qpgov-Signature'] == expected_signature")
    assert len(list(_signature_comparisons(tree))) == 1


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that verifies the signature in constant time, as ours must."""

    secret = b""
    verified: list[bool] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + body
        expected = "v1," + base64.b64encode(hmac.new(self.secret, signed, hashlib.sha256).digest()).decode()
        ok = hmac.compare_digest(expected, self.headers.get("webhook-signature", ""))
        self.verified.append(ok)
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_no_password_or_webhook_secret_reaches_the_logs(client, settings, caplog, rita, receiver,
                                                        published):
    password, secret = "Wrong-Horse-" + secrets.token_hex(8), "whsec-" + secrets.token_hex(16)
    # Not the whsec_ form (underscore): used as its UTF-8 bytes.
    caplog.set_level(logging.DEBUG)
    for _ in range(settings.QPGOV_SIGNIN_MAX_FAILURES + 2):  # failures, then throttled tries
        client.post(reverse("login"), {"username": "rita", "password": password})
    assert client.post(reverse("login"), {"username": "nobody", "password": password}).status_code == 200

    settings.QPGOV_INCIDENT_WEBHOOK_URL, settings.QPGOV_INCIDENT_WEBHOOK_SECRET = receiver, secret
    Receiver.secret, Receiver.verified = secret.encode(), []
    node = Node.objects.create(name="validator-1")
    incident = services.declare(title="Stalled blocks", severity="SEV2", nodes=[node],
                                declared_by=rita)
    delivered = actions._webhook(incident, {"incident": incident.pk})
    Receiver.secret = b"a-different-secret"
    refused = actions._webhook(incident, {"incident": incident.pk})

    assert Receiver.verified == [True, False]
    assert delivered.ok and not refused.ok and refused.response_status == 401
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert password not in logged and secret not in logged
    stored = json.dumps(list(NotificationDelivery.objects.values()), default=str)
    assert secret not in stored


def test_evidence_is_only_served_under_its_own_incident(client, rita, evidence_dir, published):
    client.force_login(rita)
    node = Node.objects.create(name="validator-1")
    mine, other = (services.declare(title=f"Incident {n}", severity="SEV3", nodes=[node],
                                    declared_by=rita) for n in (1, 2))
    name = actions.evidence_storage().save(f"incident-{mine.pk}/logs.export", ContentFile(b"log"))
    evidence = Evidence.objects.create(incident=mine, node=node, kind=Evidence.LOGS,
                                       storage_name=name, size=3, sha256="0" * 64)
    assert client.get(reverse("incidents:evidence", args=[mine.pk, evidence.pk])).status_code == 200
    assert client.get(reverse("incidents:evidence", args=[other.pk, evidence.pk])).status_code == 404


@pytest.mark.django_db
def test_a_forged_host_header_gets_the_400_page_not_a_500():
    # Django refuses the host before the auth middleware runs, so the 400 page is
    # rendered for a request that has no user at all.
    response = Client(raise_request_exception=False).get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert b"qpgov" in response.content
