"""/metrics under real gunicorn with two workers: every scrape shows the sum of both."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, wait_for

REQUESTS = 40

# The workers read the test database, so it must be committed; serialized
# rollback keeps the content types intact for the tests after, as elsewhere.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "qpgov_http_requests_total" and sample.labels.get("view") == "healthz":
                return sample.value
    return 0.0


@pytest.fixture
def gunicorn(process_env, tmp_path):
    pytest.importorskip("gunicorn", reason="gunicorn is not installed")
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    # A leftover file from an earlier run: the config must clear it at start.
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")
    env = {**process_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qpgov.wsgi:application",
         "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while get(base + "/metrics")[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail("gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
        time.sleep(0.2)
    yield base, metrics_dir, proc
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def worker_pids_with_counts(metrics_dir) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}


def test_a_scrape_adds_up_the_counts_of_every_worker(gunicorn):
    base, metrics_dir, proc = gunicorn
    assert 1 not in worker_pids_with_counts(metrics_dir)  # the stale file was cleared

    # Eight at a time, so both sync workers have to answer some of them.
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(base + "/healthz")[0], range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    assert len(worker_pids_with_counts(metrics_dir)) == 2, "both workers should have answered"

    # Whichever worker answers the scrape, it reports all of them, next to
    # what the database says.
    for _ in range(6):
        status, text = get(base + "/metrics")
        assert status == 200
        assert healthz_count(text) == REQUESTS
        assert 'qpgov_metrics_collector_up{collector="incidents"} 1.0' in text
        assert 'qpgov_metrics_collector_up{collector="changes"} 1.0' in text

    # A worker that dies does not take its counts with it.
    victim = next(pid for pid in worker_pids_with_counts(metrics_dir) if pid != proc.pid)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in live_workers(proc.pid), message="gunicorn to reap the worker")
    assert get(base + "/healthz")[0] == 200
    assert healthz_count(get(base + "/metrics")[1]) == REQUESTS + 1


def live_workers(master_pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True,
                         text=True, check=False).stdout
    return {int(pid) for pid in out.split()}
