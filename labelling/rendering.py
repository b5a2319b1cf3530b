"""The one renderer for text that users and models wrote (design §9), linear in
the size of the text and bounded (issue 15 point 2).

markdown-it-py turns markdown into HTML with raw HTML switched off (so `<script>` in the
source stays text), and nh3 (the ammonia sanitiser) then keeps only an allow-list of tags,
attributes and URL schemes, as a second wall should the first ever let something through.

Bounds, because model output is hostile input:

- Code is highlighted by Pygments in a short allow-list of languages only; any other
  language is plain text. Pygments' lexers are regular expressions, and many of them
  take time quadratic in the input on text made to trip them (measured here: 10,000
  characters of "a\\n" took 23 s in the C# lexer, 3 s in Python's), so a block is lexed
  a line at a time, lines longer than HIGHLIGHT_LINE are left plain, and a text has at
  most HIGHLIGHT_BUDGET characters highlighted in all. The price: a string or comment
  spanning lines is coloured line by line.
- A text longer than MARKDOWN_MAX is shown escaped as it is, without markdown.
- Pages show long texts folded (render_folded): the first FOLD_CHARS characters, and a
  link to the whole.
"""

import re
from contextvars import ContextVar
from difflib import SequenceMatcher
from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import format as pygments_format
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Text

# The languages highlighted, by the names a fence may give (```python): the common ones.
LANGUAGES = {
    "python": "python", "py": "python", "javascript": "javascript", "js": "javascript",
    "typescript": "typescript", "ts": "typescript", "java": "java", "c": "c", "cpp": "cpp",
    "c++": "cpp", "csharp": "csharp", "cs": "csharp", "go": "go", "rust": "rust",
    "ruby": "ruby", "php": "php", "bash": "bash", "sh": "bash", "shell": "bash",
    "sql": "sql", "json": "json", "yaml": "yaml", "yml": "yaml", "html": "html",
    "css": "css", "xml": "xml", "diff": "diff", "toml": "toml", "kotlin": "kotlin",
    "swift": "swift",
}  # fmt: skip
HIGHLIGHT_LINE = 200  # characters: a longer line of code is shown plain
HIGHLIGHT_BUDGET = 20_000  # characters of code highlighted in one text
MARKDOWN_MAX = 200_000  # characters: a longer text is shown escaped, without markdown
FOLD_CHARS = 6_000  # characters of a long text shown before "show all"

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
_budget: ContextVar[int] = ContextVar("highlight_budget", default=HIGHLIGHT_BUDGET)


@lru_cache(maxsize=len(set(LANGUAGES.values())))
def _lexer(name: str) -> Lexer:
    return get_lexer_by_name(name, stripnl=False, ensurenl=True)


def highlight_lines(code: str, language: str) -> str:
    """Pygments' token spans for a block in an allowed language, a line at a time; ""
    (markdown-it escapes the block as plain text) for any other language, or once the
    text's budget is spent. Long lines stay plain within a highlighted block."""
    name = LANGUAGES.get(language.strip().lower())
    budget = _budget.get()
    if name is None or budget <= 0:
        return ""
    lexer = _lexer(name)
    tokens = []
    for line in code.splitlines():
        if len(line) > HIGHLIGHT_LINE or budget <= 0:
            tokens.append((Text, line + "\n"))
            continue
        budget -= len(line) + 1
        tokens.extend(lexer.get_tokens(line))
    _budget.set(budget)
    return pygments_format(tokens, HtmlFormatter(nowrap=True))


def _highlight(code: str, language: str, _attrs: object) -> str:
    return highlight_lines(code, language)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "highlight": _highlight}
    ).enable("table")


def render_markdown(text: str) -> SafeString:
    text = text or ""
    if len(text) > MARKDOWN_MAX:
        return mark_safe(f'<pre class="plain-text">{escape(text)}</pre>')  # noqa: S308 - escaped
    token = _budget.set(HIGHLIGHT_BUDGET)
    try:
        html = _markdown().render(text)
    finally:
        _budget.reset(token)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised just above


def fold_point(text: str, limit: int = FOLD_CHARS) -> int | None:
    """Where a long text is cut for its first showing (at a line's end near `limit`), or
    None if it is shown whole."""
    if len(text) <= limit * 1.25:  # not worth a click for the last quarter
        return None
    cut = text.rfind("\n", 0, limit)
    return cut if cut > limit // 2 else limit


def render_folded(text: str, limit: int = FOLD_CHARS) -> tuple[SafeString, int]:
    """The text as shown first: whole, or its beginning; and how many characters are
    left out (0: none)."""
    text = text or ""
    cut = fold_point(text, limit)
    if cut is None:
        return render_markdown(text), 0
    return render_markdown(text[:cut]), len(text) - cut


def plain_text(text: str, length: int = 80) -> str:
    """The beginning of a markdown text as plain text, for one line of a list: what a
    reader sees of it, without the markup (`**TCP**` is "TCP", a fence is its code).
    Only the first few lines are parsed, so a long text costs no more than a short one."""
    head = (text or "")[: length * 4]
    words: list[str] = []
    for token in _markdown().parse(head):
        if token.type == "inline":
            words.append(
                "".join(
                    " " if child.type in ("softbreak", "hardbreak") else child.content
                    for child in token.children or ()
                )
            )
        elif token.type in ("fence", "code_block"):
            words.append(token.content)
    flat = " ".join(" ".join(words).split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


# --- differences ----------------------------------------------------------------------------

_TOKENS = re.compile(r"\s+|[^\s]+")
_LINES = re.compile(r"[^\n]*\n|[^\n]+")
# Word by word up to this many tokens a side; beyond, line by line (SequenceMatcher's
# time grows with the product of the two lengths); beyond DIFF_LINES_MAX lines a side,
# not marked at all (a bound on what one page view may cost).
DIFF_WORDS_MAX = 4000
DIFF_LINES_MAX = 2000


def diff_opcodes(old: str, new: str) -> tuple[list[str], list[str], list[tuple]]:
    """Both texts cut into words (white space kept as tokens, so nothing is lost), or into
    lines when either is long, and the opcodes that turn one into the other."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    if max(len(a), len(b)) > DIFF_WORDS_MAX:
        a, b = _LINES.findall(old or ""), _LINES.findall(new or "")
    if max(len(a), len(b)) > DIFF_LINES_MAX:
        return a, b, [("replace", 0, len(a), 0, len(b))]
    return a, b, SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()


def diff_sides(old: str, new: str) -> tuple[SafeString, SafeString]:
    """Two texts as escaped HTML, each with what the other lacks marked: `old` with
    <del>, `new` with <ins>."""
    a, b, opcodes = diff_opcodes(old, new)
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            left.append(escape("".join(a[i1:i2])))
            right.append(escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            right.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(left)), mark_safe("".join(right))  # noqa: S308 - escaped above
