"""The one renderer for text that users and models wrote (DESIGN.md section 9).

markdown-it-py turns markdown into HTML with raw HTML switched off (so `<script>` in the
source stays text), and nh3 (the ammonia sanitiser) then keeps only an allow-list of tags,
attributes and URL schemes, as a second wall should the first ever let something through.
"""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
# `class` carries the code language and Pygments' token classes, nothing else.
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "th": {"align"},
    "td": {"align"},
}


def _highlight(code: str, language: str, _attrs) -> str:
    """Pygments' token spans for a fenced block in a language it knows; "" lets
    markdown-it escape the block as plain text."""
    try:
        lexer = get_lexer_by_name(language.strip()) if language.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "highlight": _highlight}
    ).enable("table")


def render_markdown(text: str) -> SafeString:
    html = _markdown().render(text or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised just above
