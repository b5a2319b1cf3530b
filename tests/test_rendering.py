"""The renderer of model output is linear and bounded (issue 15 point 2): highlighting in
an allow-list of languages, a line at a time, within a budget; huge texts shown escaped;
long responses folded on the pages with "show all"."""

import time

import pytest
from django.utils import timezone

from labelling.queue import assignment_lease_next
from labelling.rendering import (
    FOLD_CHARS,
    HIGHLIGHT_BUDGET,
    HIGHLIGHT_LINE,
    LANGUAGES,
    MARKDOWN_MAX,
    plain_text,
    render_markdown,
)
from tests.conftest import PASSWORD, import_items, prompt_line

# Inputs that trip regular expressions: runs of one character or a short unit, tabs and
# nesting. Each is repeated to the size asked for.
ADVERSARIAL = [
    "a", " ", "\t", "a\n", "\t\n", "  \n", "(", "[", "{", "'", '"', "`", "/*", "<!--", "#",
    "\\", "<", "${", "$(", "'a", '"\\', "a.", "a ", ";", ",", ")", "~", "0x", "::", "->",
]  # fmt: skip


def _code(language: str, unit: str, size: int) -> str:
    return f"```{language}\n{(unit * (size // len(unit) + 1))[:size]}\n```\n"


def _seconds(text: str, tries: int = 2) -> float:
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        render_markdown(text)
        best = min(best, time.perf_counter() - start)
    return best


def _growth(small: str, big: str, bound: float = 10) -> float:
    """How many times longer the big text takes than the small one, measured up to three
    times until it is under `bound`, so a moment of load on a shared machine does not
    decide it (a quadratic renderer is slow every time)."""
    growth = float("inf")
    for _ in range(3):
        growth = min(growth, _seconds(big) / max(_seconds(small), 0.002))
        if growth < bound:
            break
    return growth


def test_only_allowed_languages_are_highlighted():
    assert '<span class="k">def</span>' in render_markdown("```python\ndef f(): pass\n```")
    plain = render_markdown("```brainfuck\n+++[>+<-]\n```")
    assert "<span" not in plain and "+++[&gt;+&lt;-]" in plain
    assert "<span" not in render_markdown("```\nno language\n```")


def test_long_lines_and_code_past_the_budget_stay_plain():
    long_line = "x = 1  # " + "a" * HIGHLIGHT_LINE
    html = render_markdown(f"```python\ndef f(): pass\n{long_line}\n```")
    assert '<span class="k">def</span>' in html and ("a" * HIGHLIGHT_LINE) in html
    lines = "\n".join(["def f(): pass"] * (HIGHLIGHT_BUDGET // 10))
    html = render_markdown(f"```python\n{lines}\n```\n\n```python\ndef g(): pass\n```")
    assert html.count('<span class="k">def</span>') < HIGHLIGHT_BUDGET // 10


def test_a_huge_text_is_shown_escaped_without_markdown():
    text = "<b>**bold**</b> " * (MARKDOWN_MAX // 10)
    html = render_markdown(text)
    assert html.startswith('<pre class="plain-text">') and "<strong>" not in html
    assert "&lt;b&gt;**bold**&lt;/b&gt;" in html


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(set(LANGUAGES.values())))
def test_every_allowed_lexer_grows_linearly_on_adversarial_input(language):
    """Four times the text should take about four times as long; a quadratic lexer takes
    sixteen. The bound, 10, leaves room for a noisy machine and for memory (measured:
    5-7 times for linear work that outgrows the caches); the small size is large enough
    for the timer."""
    for unit in ADVERSARIAL:
        growth = _growth(_code(language, unit, 2_000), _code(language, unit, 8_000))
        assert growth < 10, (language, unit, growth)


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["\\", "&", "a\n", "*_", "a*", "](", "> \n", "- \n", "`", "["])
def test_markdown_grows_linearly_on_adversarial_input(unit):
    growth = _growth((unit * 30_000)[:30_000], (unit * 120_000)[:120_000])
    assert growth < 10, (unit, growth)


@pytest.fixture
def long_item(project, cast):
    long_text = "\n".join(f"Line {i}: " + "word " * 20 for i in range(1_500))  # ~160 KB
    item = prompt_line("p-1")
    for response in item["responses"]:
        response["text"] = long_text + "\n\nTHE END"
    import_items(project, item)
    return assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())


def test_a_long_response_is_sent_folded_with_show_all(client, project, long_item):
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/assignments/{long_item.pk}/").content.decode()
    assert "THE END" not in page and "Line 10:" in page
    assert page.count("Show all (") == 4
    assert len(page) < 4 * FOLD_CHARS * 2 + 30_000  # not the 640 KB of the four texts
    whole = client.get(f"/assignments/{long_item.pk}/responses/B/")
    assert whole.status_code == 200 and "THE END" in whole.content.decode()
    fragment = client.get(f"/assignments/{long_item.pk}/responses/B/?fragment=1").content.decode()
    assert fragment.startswith("<p>") and "THE END" in fragment and "<html" not in fragment
    assert client.get(f"/assignments/{long_item.pk}/responses/I/").status_code == 404


def test_the_review_page_folds_long_responses_too(client, project, cast, long_item):
    from tests.conftest import annotate

    annotate(project, cast["bob"])
    client.login(username="rita", password=PASSWORD)
    prompt = long_item.prompt
    page = client.get(f"/projects/{project.pk}/review/{prompt.pk}/").content.decode()
    assert "THE END" not in page and page.count("Show all (") == 4
    response = prompt.responses.first()
    whole = client.get(f"/projects/{project.pk}/review/{prompt.pk}/responses/{response.pk}/")
    assert "THE END" in whole.content.decode()


def test_list_previews_show_what_a_reader_sees_not_the_markup(client, project, cast):
    assert plain_text("Explain **TCP** slow start, see [RFC](https://x.org).") == (
        "Explain TCP slow start, see RFC."
    )
    assert plain_text("# Title\n\n```python\nprint(1)\n```\n- one\n- two") == (
        "Title print(1) one two"
    )
    assert plain_text("<script>alert(1)</script> `code`") == "<script>alert(1)</script> code"
    assert plain_text("word " * 100, length=20) == "word word word word…"
    assert len(plain_text("x" * 1_000_000)) == 80
    import_items(project, prompt_line("p-1", prompt="Explain **TCP** slow _start_."))
    client.login(username="adam", password=PASSWORD)
    html = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Explain TCP slow start." in html and "**TCP**" not in html


def test_two_texts_side_by_side_mark_what_the_other_lacks_and_stay_escaped():
    from labelling.rendering import DIFF_WORDS_MAX, diff_sides

    left, right = diff_sides("keep <b>old</b> end", "keep <i>new</i> end")
    assert left == "keep <del>&lt;b&gt;old&lt;/b&gt;</del> end"
    assert right == "keep <ins>&lt;i&gt;new&lt;/i&gt;</ins> end"
    # Long texts are compared line by line, in bounded time.
    many = "\n".join(f"line {i} " + "word " * 3 for i in range(DIFF_WORDS_MAX))
    left, right = diff_sides(many, many.replace("line 7 ", "line seven "))
    assert left.count("<del>") == 1 and "line 7 word" in left.split("<del>")[1]


def test_a_rater_compares_two_responses_of_their_own_item(client, project, cast):
    import_items(project, prompt_line("p-1"))
    held = assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/assignments/{held.pk}/compare/", {"a": "C", "b": "C"}).content.decode()
    assert "Responses C and A side by side" in page  # the same letter twice: another one
    page = client.get(f"/assignments/{held.pk}/compare/", {"a": "<x>", "b": "D"}).content.decode()
    assert "Responses A and D side by side" in page
    assert "model-" not in page and "p-1" not in page  # blind as the labelling page
