"""gunicorn settings for qpgov: only what /metrics needs across worker processes.

Every other setting stays on the command line (deploy/systemd/qpgov-web.service).
Each worker keeps its request counters in files under PROMETHEUS_MULTIPROC_DIR,
and the worker that answers a scrape adds up all of them (qpgov/metrics.py);
without the folder a scrape would show only the share of the worker it reached.
See https://prometheus.github.io/client_python/multiprocess/.
"""

import os
import shutil
import tempfile

_created_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Set before the workers fork and import prometheus_client, so they inherit it.
    _created_dir = tempfile.mkdtemp(prefix="qpgov-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_dir


def on_starting(server):
    """Start from zero: files left by an earlier run would be added to this one's counts."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A dead worker's counters stay (counters never go back), its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_dir:
        shutil.rmtree(_created_dir, ignore_errors=True)
