"""Qualification in chromium (issue 18, points 1-3): an admin makes and requires a set on
the page; a rater is sent to it from their home page, answers each item by keyboard,
reads the expert's ranking and explanation, and starts labelling once passed. Every
page passes axe-core at desktop size and on a phone."""

import pytest
from django.utils import timezone

from labelling.services import project_update
from tests.browser import ARTIFACTS, DESKTOP, PHONE, axe_violations, login
from tests.conftest import import_items, prompt_line

pytestmark = pytest.mark.slow

GOLD = [["r1"], ["r2"], ["r3"], ["r4"]]  # "Answer 1" best


def _check(page, name: str, found: dict) -> None:
    """axe at both sizes, and a screenshot of each for the eye."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"qualification-{name}-{label}.png"), full_page=True)
        if problems := axe_violations(page):
            found[f"{name} {label}"] = problems
        # Nothing wider than the screen: a wide table scrolls in its own box.
        if page.evaluate("document.documentElement.scrollWidth") > size["width"]:
            found[f"{name} {label} overflow"] = ["the page is wider than the screen"]
    page.set_viewport_size(DESKTOP)


def _rank_by_text(page, *, right: bool) -> None:
    """Rank the responses by their text, Answer 1 first (as the expert) or last, with the
    keyboard: focus each rank select and type its number."""
    cards = page.locator("article.response")
    texts = [cards.nth(i).locator(".response-text").inner_text() for i in range(cards.count())]
    order = sorted(range(len(texts)), key=lambda i: texts[i], reverse=not right)
    for rank, index in enumerate(order, start=1):
        select = cards.nth(index).locator("select.rank-select")
        select.focus()
        page.keyboard.press(str(rank))
    page.keyboard.press("Enter")  # submits the form from a select


@pytest.mark.django_db(transaction=True)
def test_a_rater_qualifies_by_keyboard_and_then_labels(live_server, browser_page, project, cast):
    import_items(
        project,
        prompt_line("g-1", gold=GOLD),
        prompt_line("g-2", gold=GOLD, prompt="Explain DNS caching."),
        prompt_line("p-1"),
    )
    project_update(project=project, actor=cast["adam"], now=timezone.now(), gold_rate=0.0)
    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    login(page, live_server.url, "adam")
    page.goto(f"{live_server.url}/projects/{project.pk}/qualification/")
    _check(page, "admin-empty", found)
    page.fill("#set-name", "Basics")
    page.click("button:has-text('Make the set')")  # nothing chosen: refused, said why
    page.wait_for_selector("#form-errors")
    assert "Choose at least one gold prompt." in page.inner_text("#form-errors")
    for index, ext in enumerate(("g-1", "g-2"), start=1):
        page.check(f"input[name=prompt][value={ext}]")
        page.fill(f"#explanation-{index}", f"Answer 1 is right for {ext}; <b>4</b> is wrong.")
    page.click("button:has-text('Make the set')")
    page.wait_for_selector(".qualification-set")
    page.click("button:has-text('Require from v1')")
    page.wait_for_selector(".badge.ok:has-text('required since v1')")
    _check(page, "admin-set", found)

    login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/")
    assert "A qualification is asked before your next item." in page.inner_text("main")
    page.click("button:has-text('Qualify')")
    page.wait_for_selector("#qualify-intro")
    _check(page, "intro", found)
    page.keyboard.press("Enter")  # Start has the focus
    page.wait_for_selector("#qualify-form")
    assert "item 1 of 2" in page.inner_text("#qualify-progress")
    _check(page, "item", found)

    _rank_by_text(page, right=True)
    page.wait_for_selector("#feedback")
    assert "Same order as the expert" in page.inner_text("#feedback")
    explanation = page.inner_text("#explanation")
    # The admin's HTML is text, not markup.
    assert "Answer 1 is right" in explanation and page.locator("#explanation b").count() == 0
    _check(page, "feedback", found)
    page.keyboard.press("Enter")  # Next item has the focus

    page.wait_for_selector("#qualify-form")
    _rank_by_text(page, right=False)
    page.wait_for_selector("#result")
    assert "6 pairs in another order" in page.inner_text("#feedback")
    assert "not passed" in page.inner_text("#result")
    _check(page, "failed", found)
    page.keyboard.press("Enter")  # Try again

    page.wait_for_selector("#qualify-intro")
    assert "Attempt 2 of 2." in page.inner_text("#qualify-intro")
    page.keyboard.press("Enter")
    for _ in range(2):
        page.wait_for_selector("#qualify-form")
        _rank_by_text(page, right=True)
        page.wait_for_selector("#feedback")
        if page.locator("#result").count():
            break
        page.keyboard.press("Enter")
    assert "passed" in page.inner_text("#result")
    page.keyboard.press("Enter")  # Start labelling
    page.wait_for_selector("#label-form")
    assert not found, found
    assert not page.problems, page.problems
