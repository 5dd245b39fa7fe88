"""The demo node: a small real process with a data directory and a log.

`make run` (through `manage.py demo_node --setup`) and the tests register one
as a local Node; the "demo" command set in fleet.drivers drives it with
node.sh exactly as the "systemd" set drives a real node with systemctl.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "node.sh"


def node_sh(action: str, data_dir: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), action, str(data_dir)], capture_output=True,
                          text=True, timeout=30)


def start(data_dir: str | Path) -> None:
    node_sh("start", data_dir).check_returncode()


def stop(data_dir: str | Path) -> None:
    node_sh("stop", data_dir)


def is_running(data_dir: str | Path) -> bool:
    return node_sh("status", data_dir).returncode == 0
