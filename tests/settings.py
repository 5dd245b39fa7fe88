"""Test settings: the real settings in dev mode, with state under var/test/.

A separate var folder keeps the test database and the test broker queue
away from a `make run` instance on the same checkout.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("QPGOV_ENV", "dev")
os.environ.setdefault("QPGOV_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from qpgov.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Demo nodes in tests live under pytest's tmp_path, in the system temp folder;
# tests of the confinement itself set their own roots.
QPGOV_NODE_DATA_ROOTS = [*QPGOV_NODE_DATA_ROOTS, Path(tempfile.gettempdir())]  # noqa: F405
