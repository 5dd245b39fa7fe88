"""Screenshots of the main pages at desktop and phone widths, for the docs: `make screenshots`.

Builds a throwaway dev instance (its own var folder, the demo accounts, the
demo node and `manage.py demo_history`), serves it with runserver, signs in
as the demo people in headless Chromium and saves each page, reduced to a
small palette, as docs/img/screenshots/<page>-<width>.png.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "qpgov-demo"  # the demo accounts' password (qpgov/management/commands/demo_accounts.py)
WIDTHS = {"desktop": (1280, 860), "phone": (390, 844)}


def pages():
    """(file name, who signs in or None, path): found in the demo history, not hard-coded."""
    from changes.models import Proposal, State
    from incidents.models import Incident

    in_review = Proposal.objects.filter(title__startswith="[demo]", state=State.IN_REVIEW).get()
    incident = Incident.objects.get(title__startswith="[demo]")
    return [
        ("home", "olga", "/"),
        ("proposals", "olga", "/changes/"),
        ("proposal-in-review", "olga", in_review.get_absolute_url()),
        ("new-proposal", "alice", "/changes/new/"),
        ("incident", "rita", f"/incidents/{incident.pk}/"),
        ("change-log", None, "/changes/public/"),
        ("post-mortem", None, incident.postmortem.get_public_url()),
        ("audit", None, "/audit/"),
    ]


def manage(*args, env):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (our own local server)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def shrink(path: Path):
    """A 64-colour palette: text and flat colours survive, the file gets a fraction of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main():
    from playwright.sync_api import sync_playwright

    var = Path(tempfile.mkdtemp(prefix="qpgov-screenshots."))
    env = {**os.environ, "QPGOV_ENV": "dev", "QPGOV_VAR_DIR": str(var), "PYTHONPATH": str(ROOT),
           "DJANGO_SETTINGS_MODULE": "qpgov.settings", "DATABASE_URL": f"sqlite:///{var}/db.sqlite3"}
    os.environ.update(env)
    server = None
    try:
        for args in (["checkpoint_key", "--generate"], ["migrate", "--noinput"], ["demo_accounts"],
                     ["demo_history"], ["sign_checkpoint"]):
            manage(*args, env=env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        to_take = pages()  # before Playwright's event loop starts in this thread
        port = free_port()
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}",
                                   "--noreload"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        OUT.mkdir(parents=True, exist_ok=True)
        wait_for(base + "/healthz")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"])
            for name, who, path in to_take:
                for width_name, (width, height) in WIDTHS.items():
                    context = browser.new_context(base_url=base,
                                                  viewport={"width": width, "height": height})
                    page = context.new_page()
                    if who:
                        page.goto("/accounts/login/")
                        page.fill("#id_username", who)
                        page.fill("#id_password", PASSWORD)
                        page.click("button:has-text('Sign in')")
                        page.wait_for_selector("button:has-text('Sign out')")
                    page.goto(path)
                    target = OUT / f"{name}-{width_name}.png"
                    page.screenshot(path=str(target))
                    shrink(target)
                    print(f"{target.relative_to(ROOT)}  {target.stat().st_size // 1024} KiB")
                    context.close()
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        subprocess.run([sys.executable, "manage.py", "demo_node", "--stop", "--name", "demo-rpc"],
                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
        subprocess.run(["rm", "-rf", str(var)], check=False)


if __name__ == "__main__":
    main()
