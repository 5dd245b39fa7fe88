"""The published post-mortem page in headless Chromium: XSS payloads stay inert."""

from pathlib import Path

import pytest

from incidents import postmortems
from tests import postmortem_factories as pmf
from tests.test_postmortems_public import XSS

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium"),
    # live_server needs a transactional database; serialized rollback keeps the
    # content types the worker tests reload intact, as they do.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PAYLOADS = XSS + [
    '<img src=x onerror="window.__pwned = 1">',
    "<details open ontoggle=\"window.__pwned = 2\">",
    '[x](javascript:window.__pwned=3)',
    "<<script>script>window.__pwned = 4<</script>/script>",
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=5">',
]


def test_xss_payloads_do_nothing_in_a_real_browser(live_server, rita, carol):
    from playwright.sync_api import sync_playwright

    text = "\n\n".join(PAYLOADS)
    # All database work happens before Playwright starts its event loop: Django
    # refuses synchronous ORM calls from a thread that runs one.
    pm = postmortems.publish(pmf.in_review(rita, text=pmf.body(Summary=text)), carol,
                             "XSS corpus for the test.")
    amendment = pmf.amendment_in_review(pm, rita, text=text)
    postmortems.publish(amendment, carol, "XSS corpus for the test.")
    url = live_server.url + pm.get_public_url()

    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            response = page.goto(url, wait_until="load")
            assert response.status == 200
            assert page.locator("h1").first.inner_text() == pm.title
            # Give any handler a chance to fire: hover and click every link in the article.
            for link in page.locator("article a").all():
                link.hover()
                link.click(no_wait_after=True)
            page.wait_for_timeout(200)
            injected = page.evaluate("""() => document.querySelectorAll(
                'article script, article img, article svg, article iframe, article math,'
                + ' article details, article style, article [onerror], article [onload],'
                + ' article [onmouseover], article [ontoggle], a[href^="javascript:"],'
                + ' a[href^="data:"]').length""")
            pwned = page.evaluate("() => window.__pwned")
            scripts = page.evaluate("() => document.scripts.length")
            shown = page.locator("article").inner_text()
        finally:
            browser.close()
    assert dialogs == []
    assert injected == 0 and pwned is None and scripts == 0
    assert '<script>alert("x")</script>' in shown  # shown as text


# A plain English paragraph, long enough for many lines at any desktop width.
PROSE = " ".join([
    "Block production stalled for fourteen minutes after a validator restarted with a",
    "configuration that disagreed with the rest of the network about the block size limit.",
    "The other validators kept proposing blocks, but none reached the votes it needed, so",
    "the chain waited until the operator restored the previous file and restarted again.",
    "No transaction was lost; those sent during the stall were included once blocks resumed.",
] * 3)

LINE_LENGTHS = """() => {
    // Characters on each rendered line of the paragraph, found from where each one sits.
    const p = [...document.querySelectorAll('article .rendered p')]
        .find(el => el.textContent.startsWith('Block production stalled'));
    const text = p.firstChild, range = document.createRange(), lines = [];
    let top = null;
    for (let i = 0; i < text.length; i++) {
        range.setStart(text, i); range.setEnd(text, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        if (top === null || rect.top > top + 2) { lines.push(0); top = rect.top; }
        lines[lines.length - 1]++;
    }
    return lines;
}"""


def test_the_public_text_is_set_at_about_75_characters_a_line(live_server, rita, carol):
    """Measured in the browser, not read from the CSS: 75ch holds ~87 characters of prose."""
    from playwright.sync_api import sync_playwright

    pm = postmortems.publish(pmf.in_review(rita, text=pmf.body(Summary=PROSE)), carol)
    url = live_server.url + pm.get_public_url()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            assert page.goto(url, wait_until="load").status == 200
            lines = page.evaluate(LINE_LENGTHS)
        finally:
            browser.close()
    full = lines[:-1]  # the last line of a paragraph is short
    assert len(full) >= 5, lines
    average = sum(full) / len(full)
    print(f"{average:.1f} characters a line: {lines}")
    assert 68 <= average <= 82, f"{average:.0f} characters a line: {lines}"
