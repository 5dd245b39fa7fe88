"""Outgoing webhooks, signed the Standard Webhooks way (standardwebhooks.com).

Each request carries `webhook-id` (the same on every retry of one message),
`webhook-timestamp` (Unix seconds) and `webhook-signature`: `v1,` and the
base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`. A receiver that checks the
signature and refuses timestamps more than five minutes off cannot be fooled
by a captured request replayed later. Redirects are never followed: the
configured URL is the only address qpgov posts to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.utils import timezone

MIN_KEY_BYTES = 24  # the Standard Webhooks minimum; 32 is usual


def signing_key(secret: str) -> bytes | None:
    """The HMAC key for `secret`, or None if it is unusable (empty, short, bad base64).

    `whsec_<base64>` is the Standard Webhooks form and is decoded; any other
    string is used as its UTF-8 bytes.
    """
    secret = (secret or "").strip()
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        key = secret.encode()
    return key if len(key) >= MIN_KEY_BYTES else None


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # Returning None makes urllib raise HTTPError for the 3xx instead of following it.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_RefuseRedirects)


@dataclass
class Result:
    ok: bool
    status: int | None
    excerpt: str
    signature: str = ""


def post(url: str, secret: str, message_id: str, body: bytes, timeout: float = 10) -> Result:
    """POST `body` (JSON) to `url`, signed; never follows a redirect and never raises."""
    key = signing_key(secret)
    if key is None:
        return Result(False, None, "not sent: the webhook secret is empty or too short "
                                   "(see the qpgov.E002 system check)")
    timestamp = int(timezone.now().timestamp())
    sig = signature(key, message_id, timestamp, body)
    request = urllib.request.Request(  # noqa: S310 - the URL is an operator's setting
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "webhook-id": message_id,
                 "webhook-timestamp": str(timestamp), "webhook-signature": sig},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            excerpt = response.read(2000).decode("utf-8", "replace")
            return Result(200 <= response.status < 300, response.status, excerpt, sig)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            # Neither the body nor the target is kept: a redirect may point at an
            # internal address, and incident readers see this excerpt.
            exc.close()
            return Result(False, exc.code, f"answered {exc.code} (a redirect): not followed; "
                                           "webhooks only go to the configured URL", sig)
        with exc:
            return Result(False, exc.code, exc.read(2000).decode("utf-8", "replace"), sig)
    except Exception as exc:  # connection refused, DNS, timeout
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:1000], sig)
