"""Test settings: the real settings in dev mode, with state under var/test/.

A separate var folder keeps the test database and the test broker queue
away from a `make run` instance on the same checkout.
"""

import os
from pathlib import Path

os.environ.setdefault("QPGOV_ENV", "dev")
os.environ.setdefault("QPGOV_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from qpgov.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
