from html.parser import HTMLParser

import pytest

from qpgov.markdown import render_markdown


class ElementCollector(HTMLParser):
    """Collects the real elements and attributes, ignoring escaped text."""

    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def elements(html):
    parser = ElementCollector()
    parser.feed(html)
    return parser.elements

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<svg onload="alert(1)"><circle/></svg>',
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil></iframe>",
    '<div><p><b onclick="alert(1)">nested</b></p></div>',
    "![img](javascript:alert(1))",
]


@pytest.mark.parametrize("payload", XSS)
def test_it_renders_hostile_input_inert(payload):
    for tag, attrs in elements(render_markdown(payload)):
        assert tag not in {"script", "svg", "iframe", "img", "object", "embed", "style"}, payload
        assert not any(name.startswith("on") for name in attrs), payload
        href = attrs.get("href", "").strip().lower()
        assert not href or href.startswith(("http:", "https:", "mailto:")), (payload, href)


def test_it_keeps_ordinary_markdown():
    html = render_markdown("# Plan\n\n* one\n* **two**\n\n`code` [docs](https://example.org)")
    assert "<h1>Plan</h1>" in html
    assert "<strong>two</strong>" in html
    assert '<a href="https://example.org" rel="nofollow noopener noreferrer">docs</a>' in html


def test_raw_html_shows_as_text_rather_than_markup():
    assert "&lt;b&gt;" in render_markdown("<b>bold?</b>")
