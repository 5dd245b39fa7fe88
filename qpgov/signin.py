"""Sign-in throttling on top of django-axes, shared by /accounts/login/ and /admin/login/.

django-axes counts failures per username and per client address (django-ipware
finds the client behind the proxies; see QPGOV_TRUSTED_PROXIES). What this
module adds:

- one key per account: usernames are compared the way sign-in resolves them
  (NFKC, stripped), and also case-folded, so "olga ", " olga", "ｏlga" and
  "OLGA" share one count;
- one try at a time per username and per address: axes checks the count, then
  the password is hashed, then axes records the failure. Parallel guesses would
  all pass the check before any is recorded, so `SignInForm` runs the three in
  one transaction holding a lock on both keys;
- separate limits for an account and for an address;
- a password reset through the account's own e-mail lifts the account's lock;
- a signed-in session lasts SESSION_COOKIE_AGE from sign-in, not from last use.
"""

from __future__ import annotations

import unicodedata
from contextlib import contextmanager
from datetime import timedelta
from hashlib import sha256

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone


def normalise_username(username: str | None) -> str:
    """The key an account's failures are counted under."""
    return unicodedata.normalize("NFKC", username or "").strip().casefold()[:150]


def username_key(request, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: the normalised username of this try."""
    if credentials is not None and "username" in credentials:
        raw = credentials["username"]
    else:
        raw = request.POST.get("username") if request is not None else None
    return normalise_username(raw)


def failure_limit(request, credentials) -> int:
    """AXES_FAILURE_LIMIT, read when used so that it can be changed per test or per host."""
    return settings.QPGOV_SIGNIN_MAX_FAILURES


def cool_off(request) -> timedelta:
    """AXES_COOLOFF_TIME: failures older than this no longer count."""
    return timedelta(minutes=settings.QPGOV_SIGNIN_WINDOW_MINUTES)


class SignInAttempts(AxesDatabaseHandler):
    """Axes' database handler with one limit per account and a higher one per address.

    Axes compares the larger of the per-key counts with one limit. The address
    count is scaled so that it reaches that limit exactly when it reaches the
    address limit: floor(n * L / A) >= L if and only if n >= A.
    """

    def get_failures(self, request, credentials=None) -> int:
        # AXES_LOCKOUT_PARAMETERS is ["username", "ip_address"], in that order.
        by_username, by_address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        limit = settings.QPGOV_SIGNIN_MAX_FAILURES
        per_address = settings.QPGOV_SIGNIN_MAX_FAILURES_PER_ADDRESS
        return max(by_username, by_address * limit // per_address)


def _lock_id(key: str) -> int:
    """A signed 64-bit id for pg_advisory_xact_lock, derived from `key`."""
    return int.from_bytes(sha256(key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def one_try_at_a_time(request, username: str | None):
    """Serialise sign-in tries for this username and this client address.

    The check against the count, the password check and the recording of a
    failure all happen inside; the next try for the same key waits, and then
    sees this one's failure. On SQLite the IMMEDIATE transaction already
    serialises every writer.
    """
    keys = sorted({f"signin-user:{normalise_username(username)}",
                   f"signin-addr:{get_client_ip_address(request)}"})
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for key in keys:  # always in the same order: no deadlock between two tries
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(key)])
        yield


class _SerialisedClean:
    def clean(self):
        with one_try_at_a_time(self.request, self.data.get("username")):
            try:
                return super().clean()
            except ValidationError as refused:
                # Raised outside the block, or the rollback would take the
                # recorded failure with it.
                error = refused
        raise error


class SignInForm(_SerialisedClean, AuthenticationForm):
    """Django's sign-in form, one try at a time per account and per address."""


class AdminSignInForm(_SerialisedClean, AdminAuthenticationForm):
    """The admin's sign-in form under the same throttle as the main one."""


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset confirmation; a new password set through the mailed link
    also lifts the sign-in lock on that account, since only its owner gets the mail."""

    def form_valid(self, form):
        response = super().form_valid(form)
        AxesProxyHandler.reset_attempts(username=normalise_username(form.user.get_username()))
        return response


def end_session_on_time(sender, request, user, **kwargs):
    """user_logged_in receiver: the session ends SESSION_COOKIE_AGE after sign-in.

    Django would otherwise count the age from the session's last change, so a
    busy session could live on indefinitely.
    """
    if hasattr(request, "session"):
        request.session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
