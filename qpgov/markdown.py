"""The one Markdown renderer. It is the only code that marks HTML as safe."""

from functools import lru_cache

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

from .text import xml_safe

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def _converter() -> md.Markdown:
    converter = md.Markdown(extensions=["extra", "sane_lists"], output_format="html")
    # Raw HTML is not Markdown's business here: drop it before it is parsed, so
    # it shows as text rather than relying on the sanitizer alone.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


def render_markdown(text: str) -> SafeString:
    """Render Markdown to sanitized HTML: allow-listed tags, http/https/mailto links only.

    The output never holds a character XML 1.0 forbids, whether it was typed raw
    or written as a numeric reference (&#14;): pages and feeds stay well-formed.
    """
    return _render(text or "")


# The same text always renders to the same HTML, and pages show the same few
# texts over and over: remember the most recent ones.
@lru_cache(maxsize=1024)
def _render(text: str) -> SafeString:
    html = _converter().convert(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
    # After nh3, which turns a reference such as &#14; into the raw character.
    return mark_safe(xml_safe(clean))  # noqa: S308 - sanitized by nh3 just above
