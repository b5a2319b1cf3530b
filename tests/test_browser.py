"""End to end in Debian's chromium, driven by Playwright: an annotator labels two items."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labelling.models import Annotation, Assignment
from tests.browser import ARTIFACTS
from tests.browser import login as _login
from tests.conftest import PASSWORD, import_items, prompt_line

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_an_annotator_ranks_by_drag_and_keyboard_rates_critiques_and_gets_the_next_item(
    live_server, browser_page, project
):
    project.required_critiques = "worst"
    project.save()
    import_items(
        project,
        prompt_line("p-1", prompt="Explain **TCP** slow start."),
        prompt_line("p-2", prompt="What is 2+2?"),
    )
    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    start_labelling(page, live_server.url, "alice")
    page.wait_for_selector("#rank-list .rank-item")

    letters = page.eval_on_selector_all(
        "#rank-list .rank-item", "items => items.map(i => [i.dataset.label, i.dataset.id])"
    )
    # The page names the responses by letter only: no response id in it.
    assert letters == [["A", "A"], ["B", "B"], ["C", "C"], ["D", "D"]]
    assert "model-" not in page.content()  # blind: no model names anywhere on the page
    assert "p-1" not in page.content() and "p-2" not in page.content()  # nor import ids

    # Drag D to the front: D A B C.
    page.drag_and_drop(
        '#rank-list .rank-item[data-label="D"]', '#rank-list .rank-item[data-label="A"]'
    )
    assert _order(page) == ["D", "A", "B", "C"]
    # Keyboard: C to place 2 (D C A B), B up one (D C B A), then A tied with B.
    page.focus('#rank-list .rank-item[data-label="C"]')
    page.keyboard.press("2")
    page.focus('#rank-list .rank-item[data-label="B"]')
    page.keyboard.press("ArrowUp")
    page.focus('#rank-list .rank-item[data-label="A"]')
    page.keyboard.press("t")
    assert _order(page) == ["D", "C", "B", "A"]
    ranks = {letter: page.input_value(f'select[name="rank-{letter}"]') for letter in "ABCD"}
    assert ranks == {"D": "1", "C": "2", "B": "3", "A": "3"}

    for letter in "ABCD":
        for key, value in [("helpfulness", 6 if letter == "D" else 3), ("honesty", 5)]:
            page.check(f'input[name="rating-{letter}-{key}"][value="{value}"]', force=True)
    page.fill('textarea[name="critique-A"]', "Misses the question.")
    page.fill('textarea[name="critique-B"]', "Padded and vague.")
    page.check('input[name="flag-B"][value="factual_error"]')
    page.screenshot(path=str(ARTIFACTS / "labelling-ranked.png"), full_page=True)

    first = Assignment.objects.get()
    id_of = dict(zip("ABCD", first.display_order, strict=True))
    page.focus('#rank-list .rank-item[data-label="D"]')
    page.keyboard.press("Enter")  # saves and loads the next item
    page.wait_for_url(lambda url: f"/assignments/{first.pk}/" not in url)
    page.wait_for_selector("text=Saved. Here is the next one.")
    page.screenshot(path=str(ARTIFACTS / "labelling-next.png"), full_page=True)

    annotation = Annotation.objects.get()
    assert annotation.ranking == [[id_of["D"]], [id_of["C"]], sorted([id_of["A"], id_of["B"]])]
    assert annotation.ratings[str(id_of["D"])] == {"helpfulness": 6, "honesty": 5}
    assert annotation.critiques == {
        str(id_of["A"]): "Misses the question.",
        str(id_of["B"]): "Padded and vague.",
    }
    assert annotation.flags == {str(id_of["B"]): ["factual_error"]}
    second = Assignment.objects.exclude(pk=first.pk).get()
    assert second.status == "leased" and page.url.endswith(f"/assignments/{second.pk}/")
    assert page.locator("#done-today").inner_text() == "1"
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_a_bad_submission_keeps_what_was_typed_and_marks_the_fields(
    live_server, browser_page, project
):
    import_items(project, prompt_line("p-1"))
    page = browser_page
    start_labelling(page, live_server.url, "alice")
    page.focus('#rank-list .rank-item[data-label="B"]')
    page.keyboard.press("1")
    rid = page.get_attribute('#rank-list .rank-item[data-label="C"]', "data-id")
    assert rid == "C"
    page.fill(f'textarea[name="critique-{rid}"]', "Keep this text.")
    page.click("#submit")

    page.wait_for_selector("#form-errors")
    assert "Nothing was saved yet" in page.inner_text("#form-errors")
    assert page.input_value(f'textarea[name="critique-{rid}"]') == "Keep this text."
    assert _order(page)[0] == "B"  # the ranking survives the round trip
    assert page.locator(".response.has-error").count() == 4  # every response lacks ratings
    assert not Annotation.objects.exists()
    assert not page.problems, page.problems


def start_labelling(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.click("text=Start labelling")
    # The ranker is shown by the page's script once its handlers are bound: keys pressed
    # before that would go nowhere.
    page.wait_for_selector("#ranker:not([hidden])")


def _order(page) -> list[str]:
    return page.eval_on_selector_all(
        "#rank-list .rank-item", "items => items.map(i => i.dataset.label)"
    )


@pytest.mark.django_db(transaction=True)
def test_every_page_runs_under_the_content_security_policy(
    live_server, browser_page, project, cast
):
    """The policy forbids inline scripts: each page's own scripts must still work, and
    no page may trip it (a violation is a console error the fixture records)."""
    from tests.conftest import annotate

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    annotate(project, cast["alice"], rank=lambda ids: [[i] for i in ids])
    annotate(project, cast["bob"], rank=lambda ids: [[i] for i in reversed(ids)])
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    prompt = project.prompts.get(external_id="p-1")
    for path, proof in [
        ("/", "Chatbot comparisons"),
        (f"/projects/{project.pk}/", "Reward model"),
        (f"/projects/{project.pk}/dashboard/", "Agreement over time"),
        (f"/projects/{project.pk}/review/", "Review queue"),
        (f"/projects/{project.pk}/review/{prompt.pk}/", "Annotations side by side"),
        (f"/projects/{project.pk}/exports/", "New export"),
        (f"/projects/{project.pk}/guidelines/", "Version 1"),
        (f"/projects/{project.pk}/guidelines/new/", "What changed"),
        ("/account/tokens/", "Make a token"),
        ("/account/password/", "revokes every API token"),
        ("/admin/", "Site administration"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert proof in page.content(), path
    # Swagger UI starts from a script file of its own (no inline script) and renders.
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "Preference labelling API" in page.inner_text(".swagger-ui .info .title")
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_hostile_text_never_runs_anywhere_it_is_shown(live_server, browser_page, project, cast):
    """Fifty-odd XSS payloads as the project's name, a criterion, prompts (text and chat),
    responses, model names, critiques, comments, guideline text and a username, then every page that
    shows them opened in chromium: no script runs (no dialog, the sentinel global stays
    unset) and each payload's label is still there to read."""
    from labelling.guidelines import guideline_acknowledge, guideline_publish
    from labelling.models import Membership
    from labelling.services import membership_set, project_update
    from tests.conftest import acknowledge, annotate
    from tests.xss_payloads import PAYLOADS

    now = timezone.now()
    n = len(PAYLOADS)
    project = project_update(
        project=project,
        actor=cast["adam"],
        now=now,
        name=PAYLOADS[1][:200],
        criteria=[
            {
                "key": "helpfulness",
                "label": PAYLOADS[6][:100],
                "scale": [1, 7],
                "help": PAYLOADS[7],
            },
            {"key": "honesty", "label": "Honesty", "scale": [1, 7]},
        ],
    )
    items = []
    for i in range(14):
        prompt = (
            [{"role": "system", "content": PAYLOADS[3]}, {"role": "user", "content": PAYLOADS[4]}]
            if i == 13
            else PAYLOADS[i % n]
        )
        item = prompt_line(f"p-{i:02d}", prompt=prompt)
        for r, response in enumerate(item["responses"]):
            response["text"] = PAYLOADS[(4 * i + r) % n]
            response["model"] = PAYLOADS[(4 * i + r + 7) % n][:200]
        items.append(item)
    import_items(project, *items, now=now)
    guideline_publish(
        project=project,
        body="\n\n".join(PAYLOADS),
        change_summary=PAYLOADS[2],
        actor=cast["adam"],
        now=now,
    )
    acknowledge(project, cast["alice"], cast["bob"])
    project.refresh_from_db()

    for user in ("alice", "bob"):
        annotate(
            project,
            cast[user],
            rank=(lambda ids: [[i] for i in reversed(ids)]) if user == "bob" else None,
            critiques=lambda ids: {str(r): PAYLOADS[(k * 5) % n] for k, r in enumerate(ids)},
            comment=PAYLOADS[9],
            flags=lambda ids: {str(ids[0]): ["unsafe"]},
        )
    membership_set(
        project=project, user=cast["olga"], role=Membership.Role.ANNOTATOR, actor=None, now=now
    )
    guideline_acknowledge(project=project, user=cast["olga"], version=1, now=now)
    reviewed = project.prompts.get(external_id="p-00")
    # A username as hostile text: the API refuses such names, but an account made some
    # other way (a directory import, the shell) must still render inert wherever it shows.
    hostile_name = PAYLOADS[10][:150]
    cast["bob"].username = hostile_name
    cast["bob"].save(update_fields=["username"])

    page, base = browser_page, live_server.url
    seen: set[str] = set()

    def visit(path: str) -> str:
        page.goto(f"{base}{path}")
        assert page.evaluate("window.__xss") is None, path
        text = page.inner_text("body")
        seen.update(label for label in (p.split()[0] for p in PAYLOADS) if label in text)
        return text

    _login(page, base, "olga")
    text = visit(f"/projects/{project.pk}/guidelines/acknowledge/")
    assert all(p.split()[0] in text for p in PAYLOADS)  # the new guideline, every payload
    visit("/")

    _login(page, base, "alice")
    page.goto(f"{base}/")
    page.click("text=Start labelling")
    page.wait_for_selector("#ranker:not([hidden])")
    assert page.evaluate("window.__xss") is None
    label_page = page.inner_text("body")
    assert PAYLOADS[6].split()[0] in label_page  # the criterion's label

    _login(page, base, "sam")
    for path in [
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/guidelines/",
        f"/projects/{project.pk}/review/",
        f"/projects/{project.pk}/review/{reviewed.pk}/",
        f"/projects/{project.pk}/dashboard/",
        f"/projects/{project.pk}/exports/",
        f"/admin/labelling/prompt/{reviewed.pk}/change/",
    ]:
        visit(path)
    review = visit(f"/projects/{project.pk}/review/{reviewed.pk}/")
    assert hostile_name.split()[0] in review  # bob's annotation, under his name
    assert hostile_name.split()[0] in visit(f"/projects/{project.pk}/")  # the members
    for k in range(4):  # the critiques of both annotators, and the comment
        assert PAYLOADS[(k * 5) % n].split()[0] in review
    assert PAYLOADS[9].split()[0] in review
    assert seen == {p.split()[0] for p in PAYLOADS}
    assert not page.problems, page.problems


def _fill_item(page, comment: str) -> None:
    """Rank A > B > C > D by keyboard, rate every response, write a comment."""
    for position, letter in enumerate("ABCD", start=1):
        page.focus(f'#rank-list .rank-item[data-label="{letter}"]')
        page.keyboard.press(str(position))
    for letter in "ABCD":
        for key in ("helpfulness", "honesty"):
            page.check(f'input[name="rating-{letter}-{key}"][value="4"]', force=True)
    page.fill('textarea[name="comment"]', comment)


@pytest.mark.django_db(transaction=True)
def test_a_second_tab_is_warned_and_a_rejected_item_opens_read_only(
    live_server, browser_page, project, cast
):
    from playwright.sync_api import expect

    from labelling.review import annotation_reject
    from tests.browser import PHONE, axe_violations

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    first = browser_page
    start_labelling(first, live_server.url, "alice")
    item = first.url
    second = first.context.new_page()
    second.goto(item)
    second.wait_for_selector("#ranker:not([hidden])")
    _fill_item(first, "Saved in the first tab.")
    _fill_item(second, "Typed in the second tab.")
    first.click("#submit")
    first.wait_for_selector("text=Saved. Here is the next one.")
    second.click("#submit")
    warning = second.locator("#changed-elsewhere")
    expect(warning).to_be_focused()
    expect(warning).to_contain_text("saved from somewhere else")
    assert second.input_value('textarea[name="comment"]') == "Typed in the second tab."
    assert Annotation.objects.get(is_current=True).comment == "Saved in the first tab."
    second.screenshot(path=str(ARTIFACTS / "labelling-changed-elsewhere.png"), full_page=True)
    assert not axe_violations(second)
    second.click("#submit")
    second.wait_for_selector("text=Your changes are saved.")
    mine = Annotation.objects.get(is_current=True)
    assert (mine.comment, mine.version) == ("Typed in the second tab.", 2)

    annotation_reject(
        annotation=mine, reviewer=cast["rita"], reason="Rule 3: rank by safety first.",
        now=timezone.now(),
    )  # fmt: skip
    second.goto(f"{live_server.url}/")
    second.click(f'a[href="/assignments/{mine.assignment_id}/"]')
    expect(second.locator("#locked")).to_contain_text("Rule 3: rank by safety first.")
    assert second.locator("#submit").count() == 0
    assert second.locator('textarea[name="comment"]').is_disabled()
    second.screenshot(path=str(ARTIFACTS / "labelling-rejected.png"), full_page=True)
    assert not axe_violations(second)
    second.click("text=All my annotations")
    expect(second.locator(".badge.mine-rejected")).to_have_count(1)
    for viewport, name in [(None, "my-annotations"), (PHONE, "my-annotations-phone")]:
        if viewport:
            second.set_viewport_size(viewport)
        second.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        assert not axe_violations(second)
    assert second.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not first.problems, first.problems


@pytest.mark.django_db(transaction=True)
def test_a_closed_tab_loses_nothing_and_a_signed_out_rater_neither(
    live_server, browser_page, project
):
    from playwright.sync_api import expect

    from labelling.models import Draft

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    page = browser_page
    start_labelling(page, live_server.url, "alice")
    item = page.url
    page.focus('#rank-list .rank-item[data-label="C"]')
    page.keyboard.press("1")
    page.check('input[name="rating-B-honesty"][value="6"]', force=True)
    page.fill('textarea[name="critique-A"]', "Too long by half.")
    expect(page.locator("#draft-status")).to_contain_text("Draft kept at")
    # The tab is closed, the browser gone: another browser, signed in again.
    page.close()
    other = browser_page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    again = other.new_page()
    _login(again, live_server.url, "alice")
    again.click("text=Continue")  # the item held
    again.wait_for_selector("#ranker:not([hidden])")
    assert again.url == item
    expect(again.locator("#restored")).to_contain_text("restored below, as you left it")
    assert again.input_value('textarea[name="critique-A"]') == "Too long by half."
    assert again.is_checked('input[name="rating-B-honesty"][value="6"]')
    assert _order(again)[0] == "C"
    again.screenshot(path=str(ARTIFACTS / "labelling-draft-restored.png"), full_page=True)

    # The session ends while the rater types: the page says so and keeps the text.
    other.clear_cookies()
    again.fill('textarea[name="comment"]', "Typed after the session ended.")
    expect(again.locator("#draft-status")).to_contain_text("You are signed out")
    assert "Typed after" not in str(Draft.objects.get().values)
    # Signed in again in another tab, the item reopens with it, and it reaches the server.
    login_tab = other.new_page()
    _login(login_tab, live_server.url, "alice")
    again.goto(item)
    expect(again.locator("#draft-status")).to_contain_text("Draft kept at")
    assert again.input_value('textarea[name="comment"]') == "Typed after the session ended."
    assert Draft.objects.get().values["comment"] == "Typed after the session ended."
    assert again.input_value('textarea[name="critique-A"]') == "Too long by half."
    other.close()


@pytest.mark.django_db(transaction=True)
def test_four_responses_on_three_criteria_with_a_critique_take_under_thirty_keys(
    live_server, browser_page, project
):
    from playwright.sync_api import expect

    from tests.browser import axe_violations

    project.criteria = [
        *project.criteria,
        {"key": "safety", "label": "Safety", "scale": [1, 5]},
    ]
    project.save()
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    page = browser_page
    start_labelling(page, live_server.url, "alice")
    first = Assignment.objects.get()
    presses = 0

    def press(*keys):
        nonlocal presses
        for key in keys:
            page.keyboard.press(key)
            presses += 1

    press("c", "a", "d")  # the ranking, best first: C A D, and B falls into place
    assert _order(page) == ["C", "A", "D", "B"]
    expect(page.locator("#rank-announce")).to_have_text("D moved to position 3 of 4.")
    assert page.get_attribute('.rank-item[data-label="C"]', "aria-label") == (
        "Response C, position 1 of 4"
    )
    press("s")  # the first rating
    press(*"543" * 4)  # helpfulness 5, honesty 4, safety 3, for A, B, C and D
    press("c")  # the first critique
    page.keyboard.type("Vague.")
    presses += len("Vague.")
    press("Control+Enter")
    page.wait_for_selector("text=Saved. Here is the next one.")
    assert presses <= 30, presses
    annotation = Annotation.objects.get(assignment=first)
    id_of = dict(zip("ABCD", first.display_order, strict=True))
    assert annotation.ranking == [[id_of[x]] for x in "CADB"]
    assert annotation.ratings[str(id_of["D"])] == {"helpfulness": 5, "honesty": 4, "safety": 3}
    assert annotation.critiques == {str(id_of["A"]): "Vague."}
    # "?" lists every shortcut; Esc closes it.
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "labelling-shortcuts.png"))
    assert not axe_violations(page)
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    assert not page.problems, page.problems


LONG_CODE = (
    "```python\nvalues = [" + ", ".join(str(i) for i in range(400)) + "]\n```\n\n" + ("A" * 300)
)


@pytest.mark.django_db(transaction=True)
def test_long_content_never_widens_the_page_and_two_responses_compare(
    live_server, browser_page, project
):
    from playwright.sync_api import expect

    from tests.browser import PHONE, axe_violations

    item = prompt_line("p-1")
    item["responses"][0]["text"] = LONG_CODE
    item["responses"][1]["text"] = "The quick brown fox jumps over the lazy dog."
    item["responses"][2]["text"] = "The quick red fox jumps over the dog."
    import_items(project, item)
    page = browser_page
    start_labelling(page, live_server.url, "alice")
    for viewport in ({"width": 1440, "height": 900}, PHONE):
        page.set_viewport_size(viewport)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (viewport, width)
        # The code line scrolls inside its block.
        scrolls = page.evaluate(
            "Array.from(document.querySelectorAll('.response pre')).some("
            "p => p.scrollWidth > p.clientWidth)"
        )
        assert scrolls
    # On a phone the time left stays in view while the rater scrolls.
    page.evaluate("window.scrollTo(0, 2500)")
    strip = page.locator("#lease-timer-strip")
    expect(strip).to_contain_text("left")
    box = strip.bounding_box()
    assert box is not None and 0 <= box["y"] < 60
    page.screenshot(path=str(ARTIFACTS / "labelling-long-phone.png"))

    page.set_viewport_size({"width": 1440, "height": 900})
    page.click("text=Compare two responses side by side")
    assert (page.inner_text("#left-title"), page.inner_text("#right-title")) == ("A", "B")
    # The two foxes, under whatever letters this rater sees them.
    from labelling.models import Response

    shown = Assignment.objects.get().display_order
    texts = dict(Response.objects.values_list("pk", "text"))
    fox = [letter for letter, rid in zip("ABCD", shown, strict=True) if "fox" in texts[rid]]
    assert len(fox) == 2
    page.goto(f"{page.url.split('?')[0]}?a={fox[0]}&b={fox[1]}")
    marked = page.eval_on_selector_all(
        ".compare-grid del, .compare-grid ins", "nodes => nodes.map(n => n.textContent.trim())"
    )
    assert {"brown", "red", "lazy"} <= set(marked)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    assert not axe_violations(page)
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_ratings_against_the_ranking_are_asked_about_once_and_then_saved(
    live_server, browser_page, project
):
    """Issue 18, point 6: the rater ranks A best but rates D higher; the page asks, keeps
    everything typed, and "Save anyway" (Enter) saves it."""
    from tests.browser import PHONE, axe_violations

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    page = browser_page
    start_labelling(page, live_server.url, "alice")
    _fill_item(page, "D reads better, A is right.")
    page.check('input[name="rating-D-helpfulness"][value="7"]', force=True)
    page.click("#submit")

    box = page.locator("#against-ranking")
    expect(box).to_be_visible()
    expect(box).to_be_focused()  # read first, by a screen reader too
    assert "you ranked A above D, but rated D higher" in box.inner_text()
    assert "you ranked A above B" not in box.inner_text()
    assert page.input_value('textarea[name="comment"]') == "D reads better, A is right."
    assert _order(page) == ["A", "B", "C", "D"]
    assert not Annotation.objects.exists()
    assert not axe_violations(page)
    page.screenshot(path=str(ARTIFACTS / "against-ranking.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "against-ranking-phone.png"), full_page=True)

    expect(page.locator("#submit")).to_contain_text("Save anyway")
    page.focus('textarea[name="comment"]')
    page.keyboard.press("Control+Enter")  # the hotkey, as the button would
    page.wait_for_url(lambda url: "/assignments/" in url and "saved" not in url)
    expect(page.locator(".message")).to_contain_text("Saved")
    assert Annotation.objects.get().comment == "D reads better, A is right."
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_the_page_counts_the_time_it_is_in_use_and_not_the_time_it_is_left(
    live_server, browser_page, project
):
    """Issue 18, point 9: seconds count while the page is visible and the rater works;
    with no input for a minute they stop (the clock is Playwright's, run forward)."""
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    page = browser_page
    page.clock.install()
    start_labelling(page, live_server.url, "alice")
    for _ in range(10):  # ten seconds of work
        page.mouse.move(200, 300)
        page.clock.run_for(1000)
    worked = int(page.input_value("#active-seconds"))
    assert 8 <= worked <= 11, worked
    page.clock.run_for(5 * 60 * 1000)  # five minutes away: only the first idle minute counts
    away = int(page.input_value("#active-seconds"))
    assert worked + 55 <= away <= worked + 61, (worked, away)
    _fill_item(page, "Timed.")
    page.click("#submit")
    page.wait_for_url(lambda url: "saved" not in url and url.rstrip("/").split("/")[-1] != "")
    expect(page.locator(".message")).to_contain_text("Saved")
    saved = Annotation.objects.get()
    # The page's clock ran minutes ahead of the server's: what it sent is capped at the
    # seconds the server counted between lease and submit.
    assert saved.active_seconds == saved.seconds_spent < away
    assert not page.problems, page.problems
