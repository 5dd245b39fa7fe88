"""Every page, as every actor, through two independent validators; every feed through feedparser.


The pages are discovered, not listed: every URL of the permission table
(tests/permission_table.py, which must name every URL in the URL conf) is
opened in headless Chromium by each actor who may GET it, on the sample
objects the permission matrix builds. Each HTML page is checked with axe-core
(axe-playwright-python) in the browser, and its HTML as served goes to the W3C
Nu HTML checker (vnu.jar, installed by `make validators`), run once over all
pages. Atom feeds must parse cleanly and name an author.
"""


import inspect
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import feedparser
import pytest
from django.contrib.syndication.views import Feed
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from changes.models import Proposal, State
from fleet import demo
from incidents.models import Incident, Postmortem
from qpgov import checkpoints
from qpgov.management.commands.demo_history import DEMO_NODE
from tests import permission_table as table
from tests.conftest import ROOT
from tests.test_permission_matrix import build_actors, build_samples, url_for

CHROMIUM = "/usr/bin/chromium"
VNU_JAR = ROOT / ".ci/validators/node_modules/vnu-jar/build/dist/vnu.jar"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


# URLs not crawled, each with its reason. Everything else in the table is.
NOT_CRAWLED = {
    "admin": "Django's own admin site: its templates are Django's, not this project's.",
    "incidents:live": "a fragment of the incident page for static/js/incident-live.js to swap "
                      "in; the same includes are checked as part of incidents:detail.",
}


# Deliberate exceptions: (url name or "*", axe rule id or Nu message start) -> why.
AXE_EXCEPTIONS: dict[tuple[str, str], str] = {}
NU_EXCEPTIONS: dict[tuple[str, str], str] = {}


# A GET past the permission check that answers other than 200, and why.
STATUS = {
    "incidents:resolve": (409, "the sample incident is still running its steps: the refusal "
                               "page is what is checked"),
}


# ID references that axe only lists as "needs review" when nothing matches and
# the Nu checker does not check: Django's aria-describedby="id_X_helptext" once
# pointed at a span named id_X_help on every form.
DANGLING_IDREFS = """() => {
  const attrs = ["aria-describedby", "aria-labelledby", "aria-controls", "aria-errormessage",
                 "aria-owns", "aria-details"];
  const found = [];
  for (const el of document.querySelectorAll(attrs.map(a => `[${a}]`).join(","))) {
    for (const attr of attrs) {
      for (const id of (el.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) found.push(`${attr}="${id}" on ${el.outerHTML.slice(0, 120)}`);
      }
    }
  }
  return found;
}"""


# Forms not sent empty: signing out would end the crawl's session.
NOT_POSTED = {"logout", "admin"}


# Pages that are not in the table as a GET for someone, crawled for their templates:
# what a person turned away or lost sees.
EXTRA_PAGES = [
    (table.OUTSIDER, "403", "/changes/"),
    (table.PROPOSER, "404", "/no-such-page/"),
]


def require_tool(present: bool, what: str, how: str):
    """Skip on a laptop without the tool; fail in CI, where .ci/run installs it."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is not installed ({how})")


def java() -> str:
    path = shutil.which("java")
    require_tool(path is not None, "java", "Debian package default-jre-headless")
    require_tool(VNU_JAR.exists(), "the Nu HTML checker", "run `make validators`")
    return path


def feed_url_names(patterns=None, namespace=""):
    """'namespace:name' of every URL served by a syndication Feed."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace != "admin":
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from feed_url_names(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            # A syndication Feed, or a view that serves one through the page cache.
            callback = entry.callback
            if isinstance(inspect.unwrap(callback), Feed) or getattr(callback, "serves_feed", False):
                yield namespace + entry.name


def pages_to_crawl(samples):
    """(actor, url name, url) for every page each actor may GET, then the extra pages."""
    pages = []
    for actor in table.ACTORS:
        for name, (sample, allowed) in sorted(table.TABLE.items()):
            if name in NOT_CRAWLED or actor not in allowed.get("GET", table.NOBODY):
                continue
            pages.append((actor, name, url_for(name, sample, samples)))
    return pages + EXTRA_PAGES


def every_object(actors):
    """The detail pages of every proposal, incident and post-mortem in the database, each
    for one reader: the samples show each page, these show it in every state."""
    for proposal in Proposal.objects.exclude(state=State.DRAFT):
        yield table.CORE_OPS, "changes:detail", reverse("changes:detail", args=[proposal.pk])
    for incident in Incident.objects.all():
        yield table.RESPONDER, "incidents:detail", reverse("incidents:detail", args=[incident.pk])
    for pm in Postmortem.objects.all():
        yield table.COUNCIL, "incidents:postmortem", reverse("incidents:postmortem",
                                                             args=[pm.incident_id])
        if pm.state == Postmortem.PUBLISHED:
            yield table.ANON, "postmortems:detail", pm.get_public_url()


@contextmanager
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made
    # between browser steps are ordinary blocking ones, safe here (see test_browser.py).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                connections.close_all()
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def axe_findings(name, results) -> list[str]:
    found = []
    for violation in results.response["violations"]:
        if (name, violation["id"]) in AXE_EXCEPTIONS or ("*", violation["id"]) in AXE_EXCEPTIONS:
            continue
        for node in violation["nodes"]:
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} "
                         f"at {' '.join(node['target'])}: {node['html'][:160]}")
    return found


def nu_errors(java_path, files: dict[Path, str]) -> dict[str, list[str]]:
    """Run the Nu checker once over every file; page label -> its errors (exceptions removed)."""
    result = subprocess.run(
        [java_path, "-Xss8m", "-jar", str(VNU_JAR), "--format", "json", "--errors-only",
         *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stderr or result.stdout)
    by_uri = {path.resolve().as_uri(): label for path, label in files.items()}
    errors: dict[str, list[str]] = {}
    for message in report["messages"]:
        if message["type"] not in ("error", "non-document-error"):
            continue
        label = by_uri.get(message.get("url", "").replace("file:/", "file:///", 1), message.get("url"))
        name = label.split(" ", 1)[-1] if label else ""
        text = message["message"]
        if any(key in (name, "*") and text.startswith(start) for key, start in NU_EXCEPTIONS):
            continue
        errors.setdefault(label, []).append(
            f"line {message.get('lastLine')}: {text} [{message.get('extract', '').strip()}]")
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return errors


def feed_problems(body: bytes) -> list[str]:
    feed = feedparser.parse(body)
    problems = []
    if feed.bozo:
        problems.append(f"not well-formed: {feed.bozo_exception}")
    if feed.version != "atom10":
        problems.append(f"not Atom 1.0 but {feed.version!r}")
    authors = [feed.feed.get("author")] + [entry.get("author") for entry in feed.entries]
    if not feed.feed.get("author") and not all(authors[1:]):
        problems.append("no atom:author for the feed or for every entry")
    if not feed.entries:
        problems.append("no entries: the crawl's data should give every feed one")
    return problems


def serve(response):
    """A Playwright route handler answering with a response the test client got."""
    def handler(route):
        route.fulfill(status=response.status_code, content_type=response["Content-Type"],
                      body=response.content)
    return handler


def test_every_page_for_every_role_passes_axe_and_the_nu_checker(live_server, evidence_dir,
                                                                   published, settings, tmp_path):
    if not Path(CHROMIUM).exists():
        require_tool(False, "Chromium", f"no Chromium at {CHROMIUM}")
    java_path = java()
    from axe_playwright_python.sync_playwright import Axe

    # A verifier key, so that audit:key serves it rather than its 404 page.
    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "checkpoint-key.pem")
    checkpoints.generate_key_file(tmp_path / "checkpoint-key.pem")
    actors = build_actors()
    # The demo history adds what the samples lack: proposals in every state, a
    # resolved incident, a published post-mortem, entries in every feed. It runs
    # before the samples, some of which (a freeze, an open SEV1) hold decisions.
    settings.QPGOV_DEMO_NODE_DIR = tmp_path / "nodes"
    try:
        call_command("demo_history", stdout=StringIO())
    finally:
        demo.stop(tmp_path / "nodes" / DEMO_NODE / "data")
    samples = build_samples(actors)
    pages = pages_to_crawl(samples)
    pages += [page for page in every_object(actors) if page not in pages]
    feeds_expected = set(feed_url_names())

    # First every URL through the test client: what is HTML goes to the browser
    # and to the Nu checker as served, feeds to feedparser, the rest (text notes,
    # metrics, evidence downloads) is no page.
    failures, files, feeds_seen, html_pages = [], {}, set(), []
    clients = {}
    for actor, user in actors.items():
        clients[actor] = Client()
        if user is not None:
            user.refresh_from_db()  # demo_accounts may have set a new password
            clients[actor].force_login(user)
    for actor, name, url in pages:
        label = f"{actor} {name}"
        response = clients[actor].get(url)
        kind = response.get("Content-Type", "")
        is_html, is_feed = kind.startswith("text/html"), "atom+xml" in kind or "rss+xml" in kind
        if not (is_html or is_feed):
            continue
        expected_status = int(name) if name.isdigit() else STATUS.get(name, (200,))[0]
        if response.status_code != expected_status:
            failures.append(f"{label} {url}: HTTP {response.status_code}")
        elif is_feed:
            feeds_seen.add(name)
            failures += [f"{label} {url}: feed {p}" for p in feed_problems(response.content)]
        else:
            path = tmp_path / f"{len(files):03d}.html"
            path.write_bytes(response.content)
            files[path] = label
            html_pages.append((actor, name, url, None))
    # Then every form sent empty, after all the reading (a form that needs no
    # field may act): the page that says what is wrong is a page too.
    for actor, name, url in pages:
        if actor not in table.TABLE.get(name, (None, {}))[1].get("POST", ()) or name in NOT_POSTED:
            continue
        response = clients[actor].post(url, {})
        if response.status_code in (200, 400, 409) and response["Content-Type"].startswith("text/html"):
            path = tmp_path / f"{len(files):03d}.html"
            path.write_bytes(response.content)
            files[path] = f"{actor} {name} (sent empty)"
            html_pages.append((actor, name, url, response))
    cookies = {actor: client.cookies[settings.SESSION_COOKIE_NAME].value
               for actor, client in clients.items() if actors[actor] is not None}

    axe = Axe()
    started = time.monotonic()
    with chromium() as browser:
        for actor in table.ACTORS:
            context = browser.new_context(base_url=live_server.url)
            context.set_default_timeout(20_000)
            if actor in cookies:
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookies[actor],
                                      "url": live_server.url}])
            page = context.new_page()
            for who, name, url, sent in html_pages:
                if who != actor:
                    continue
                if sent is not None:  # the answer to the empty form, served with its styles
                    page.route(live_server.url + url, serve(sent))
                page.goto(url)
                where = f"{actor} {name}{' (sent empty)' if sent else ''} {url}"
                failures += [f"{where}: axe {f}" for f in axe_findings(name, axe.run(page))]
                failures += [f"{where}: no element with {ref}" for ref in page.evaluate(DANGLING_IDREFS)]
                page.unroute_all()
            context.close()
    crawled = time.monotonic() - started
    nu = nu_errors(java_path, files)
    checked = time.monotonic() - started
    failures += [f"{label}: Nu {error}" for label, errors in nu.items() for error in errors]
    print(f"\n{len(pages)} URLs: {len(files)} HTML pages, {len(feeds_seen)} feeds; axe "
          f"with axe in {crawled:.1f} s; Nu checker done at {checked:.1f} s")

    assert feeds_seen == feeds_expected, f"feeds not crawled: {feeds_expected - feeds_seen}"
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)


def test_the_validators_catch_what_they_are_here_to_catch(live_server, tmp_path):
    """Each check reports a known-bad page, so a clean crawl means something."""
    if not Path(CHROMIUM).exists():
        require_tool(False, "Chromium", f"no Chromium at {CHROMIUM}")
    java_path = java()
    from axe_playwright_python.sync_playwright import Axe

    bad = ('<!doctype html><html><head><title>bad</title></head><body>'
           '<img src="x.png"><input id="a"><p><div>unclosed</p>'
           '<span aria-describedby="no-such-id">x</span></body></html>')
    path = tmp_path / "bad.html"
    path.write_text(bad)
    errors = nu_errors(java_path, {path: "anonymous bad"})
    assert any("“p” element in scope" in e for e in errors["anonymous bad"]), errors

    with chromium() as browser:
        page = browser.new_page()
        page.set_content(bad)
        found = axe_findings("bad", Axe().run(page))
        dangling = page.evaluate(DANGLING_IDREFS)
    assert dangling and 'aria-describedby="no-such-id"' in dangling[0], dangling
    for rule in ("image-alt", "label", "html-has-lang"):
        assert any(f.startswith(rule + " ") for f in found), (rule, found)

    assert feed_problems(b"<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title>")
