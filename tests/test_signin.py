"""Sign-in throttling (issue 12, items 1, 2 and 11): behind the proxy, per account and
per real client address, one try at a time, lifted by the account's own password reset,
the same on /admin/login/, and sessions that end on time."""

import re
import threading
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.test_changes_races import SQLITE_SERIALISES

PROXY = "127.0.0.1"  # gunicorn's only peer: the TLS proxy on the same host
ATTACKER, OLGA_AT_HOME = "81.2.69.160", "81.2.69.192"


def via_proxy(client_ip, spoofed=""):
    """What nginx passes on: the peer it saw appended to whatever the client sent."""
    chain = f"{spoofed}, {client_ip}" if spoofed else client_ip
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": chain}


def sign_in(client, username, password, path=None, **extra):
    return client.post(path or reverse("login"), {"username": username, "password": password},
                       **extra)


def signed_in(client):
    return "_auth_user_id" in client.session


@pytest.fixture
def behind_proxy(settings):
    settings.AXES_IPWARE_PROXY_COUNT = 0  # QPGOV_TRUSTED_PROXIES=1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")


def test_one_client_guessing_behind_the_proxy_locks_out_only_that_client(
        client, olga, eve, behind_proxy, settings):
    for n in range(30):  # more than the per-address limit (20)
        # Sending its own X-Forwarded-For does not give the attacker a fresh address.
        sign_in(client, f"user{n % 4}", "guess", **via_proxy(ATTACKER, spoofed=f"10.9.8.{n}"))
    assert sign_in(client, "eve", "pw-eve", **via_proxy(ATTACKER)).status_code == 429
    assert not signed_in(client)

    olga_client = Client()
    response = sign_in(olga_client, "olga", "pw-olga", **via_proxy(OLGA_AT_HOME))
    assert response.status_code == 302 and signed_in(olga_client)


def test_the_client_address_is_the_one_the_trusted_proxy_saw(rf, behind_proxy, settings):
    from axes.helpers import get_client_ip_address

    assert get_client_ip_address(rf.get("/", **via_proxy(ATTACKER))) == ATTACKER
    assert get_client_ip_address(rf.get("/", **via_proxy(ATTACKER, spoofed="1.2.3.4"))) == ATTACKER
    settings.AXES_IPWARE_PROXY_COUNT = 1  # two proxies: the outer one's entry is the client
    two_hops = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"1.2.3.4, {ATTACKER}, 10.0.0.5"}
    assert get_client_ip_address(rf.get("/", **two_hops)) == ATTACKER


def test_the_production_default_trusts_one_proxy(tmp_path):
    import subprocess
    import sys

    code = ("from qpgov import settings as s; "
            "print(s.QPGOV_TRUSTED_PROXIES, s.AXES_IPWARE_PROXY_COUNT, "
            "s.AXES_IPWARE_META_PRECEDENCE_ORDER[0])")
    env = {"SECRET_KEY": "x" * 50, "PATH": "/usr/bin:/bin", "QPGOV_VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    assert out == ["1", "0", "HTTP_X_FORWARDED_FOR"]


@pytest.mark.parametrize("variant", ["olga ", " olga", "ｏlga", "OLGA", "Olga\t"])
def test_every_spelling_of_a_username_counts_against_the_same_account(client, olga, settings,
                                                                      variant):
    for _ in range(settings.QPGOV_SIGNIN_MAX_FAILURES - 1):
        sign_in(client, "olga", "wrong")
    sign_in(Client(), variant, "wrong", REMOTE_ADDR="81.2.69.1")  # the last allowed failure
    response = sign_in(Client(), "olga", "pw-olga", REMOTE_ADDR="81.2.69.2")
    assert response.status_code == 429


def test_a_username_variant_signs_in_as_the_one_account_it_names(client, olga):
    # The form resolves "ｏlga " to olga; the throttle keys on the same name.
    response = sign_in(client, "ｏlga ", "pw-olga")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(olga.pk)


def test_the_lockout_page_offers_the_password_reset(client, olga, settings):
    for _ in range(settings.QPGOV_SIGNIN_MAX_FAILURES):
        response = sign_in(client, "olga", "wrong")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert reverse("password_reset").encode() in response.content


def test_the_accounts_own_password_reset_lifts_its_lock(client, olga, settings):
    for _ in range(settings.QPGOV_SIGNIN_MAX_FAILURES + 3):
        sign_in(client, "olga", "wrong", REMOTE_ADDR="81.2.69.77")  # someone else guessing
    assert sign_in(client, "olga", "pw-olga").status_code == 429

    client.post(reverse("password_reset"), {"email": "olga@example.invalid"})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[-1].body).group(1)
    form_url = client.get(link).url  # Django moves the token out of the URL first
    response = client.post(form_url, {"new_password1": "Wide-Margin-Plankton-41",
                                      "new_password2": "Wide-Margin-Plankton-41"})
    assert response.status_code == 302

    response = sign_in(client, "olga", "Wide-Margin-Plankton-41")
    assert response.status_code == 302 and signed_in(client)


def test_the_admin_sign_in_is_throttled_like_the_main_one(client, staff):
    admin_login = reverse("admin:login")
    for _ in range(40):
        sign_in(client, "stan", "wrong", path=admin_login)
    response = sign_in(client, "stan", "pw-stan", path=admin_login)
    assert response.status_code == 429
    assert not signed_in(client)


def test_the_admin_and_the_main_sign_in_share_one_count(client, staff, settings):
    for _ in range(settings.QPGOV_SIGNIN_MAX_FAILURES - 1):
        sign_in(client, "stan", "wrong", path=reverse("admin:login"))
    sign_in(client, "stan", "wrong")
    assert sign_in(client, "stan", "pw-stan", path=reverse("admin:login")).status_code == 429


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(client, olga, settings):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert sign_in(client, "olga", "pw-olga").status_code == 302
    for hours in range(1, 12):
        with time_machine.travel(start + timezone.timedelta(hours=hours), tick=False):
            client.session.save()  # activity that changes the session
            assert client.get(reverse("changes:list")).status_code == 200
    with time_machine.travel(start + timezone.timedelta(hours=12, minutes=1), tick=False):
        assert client.get(reverse("changes:list")).status_code == 302  # back to sign-in


@pytest.mark.postgres(reason=SQLITE_SERIALISES)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_guesses_are_checked_one_at_a_time(monkeypatch, settings):
    """16 guesses released together: no more passwords are tried than the limit allows."""
    User.objects.create_user("olga", "olga@example.invalid", "pw-olga")
    checked = []
    real_check = User.check_password

    def counting_check(user, raw):
        checked.append(raw)
        return real_check(user, raw)

    monkeypatch.setattr(User, "check_password", counting_check)
    barrier = threading.Barrier(16)
    statuses = []

    def guess(n):
        try:
            barrier.wait()
            statuses.append(sign_in(Client(), "olga", f"guess-{n}",
                                    REMOTE_ADDR=f"81.2.70.{n}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(statuses) == 16
    assert len(checked) == settings.QPGOV_SIGNIN_MAX_FAILURES, checked
    assert statuses.count(429) == 16 - settings.QPGOV_SIGNIN_MAX_FAILURES + 1
