"""Where a node's data directory may be: inside one of settings.QPGOV_NODE_DATA_ROOTS.

The registry form checks it when a node is saved and the driver checks it again
right before a command runs, since the database and the filesystem can change
in between. Symlinks are followed only for a node on the worker's own machine:
the worker cannot see a remote node's filesystem (docs/security.md says what
guards that case).
"""

from __future__ import annotations

import os
import posixpath

from django.conf import settings


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def data_dir_problem(data_dir: str, *, resolve: bool) -> str:
    """Why `data_dir` may not be used, or "" if it may. `resolve`: follow symlinks here."""
    roots = [posixpath.normpath(str(root)) for root in settings.QPGOV_NODE_DATA_ROOTS]
    listed = ", ".join(roots) or "none configured"
    if not data_dir.startswith("/") or posixpath.normpath(data_dir) != data_dir:
        return ("Give a plain absolute path: no '.' or '..' parts, no '//', no trailing '/'.")
    if not any(_inside(data_dir, root) for root in roots):
        return f"{data_dir} is outside the node data roots ({listed}; QPGOV_NODE_DATA_ROOTS)."
    if resolve:
        real = os.path.realpath(data_dir)
        if not any(_inside(real, os.path.realpath(root)) for root in roots):
            return (f"{data_dir} resolves to {real}, outside the node data roots "
                    f"({listed}; QPGOV_NODE_DATA_ROOTS).")
    return ""
