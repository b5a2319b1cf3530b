"""Every page in chromium (issue 17): errors are where the eye and the keyboard land,
and axe-core finds no serious or critical violation, at desktop size and on a phone."""

import pytest

from tests.browser import ARTIFACTS, PHONE, axe_violations, login
from tests.conftest import annotate, import_items, prompt_line

pytestmark = pytest.mark.slow


def _pages(project) -> list[tuple[str, str]]:
    prompt = project.prompts.get(external_id="p-1")
    pk = project.pk
    return [
        ("home", "/"),
        ("project", f"/projects/{pk}/"),
        ("dashboard", f"/projects/{pk}/dashboard/"),
        ("rater-report", f"/projects/{pk}/raters/"),
        ("settings", f"/projects/{pk}/settings/"),
        ("review-queue", f"/projects/{pk}/review/"),
        ("review-prompt", f"/projects/{pk}/review/{prompt.pk}/"),
        ("prompts", f"/projects/{pk}/prompts/?status=open"),
        ("prompt", f"/projects/{pk}/prompts/{prompt.pk}/"),
        ("exports", f"/projects/{pk}/exports/"),
        ("relabel", f"/projects/{pk}/relabel/"),
        ("my-annotations", "/annotations/"),
        ("people", "/people/"),
        ("guidelines", f"/projects/{pk}/guidelines/"),
        ("guideline-new", f"/projects/{pk}/guidelines/new/"),
        ("tokens", "/account/tokens/"),
        ("password", "/account/password/"),
        ("not-found", "/no/such/page/"),
    ]


@pytest.mark.django_db(transaction=True)
def test_no_page_has_a_serious_accessibility_violation(live_server, browser_page, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    annotate(project, cast["alice"], rank=lambda ids: [[i] for i in ids])
    annotate(project, cast["bob"], rank=lambda ids: [[i] for i in reversed(ids)])
    # The dashboard's paused raters, with a resume form (issue 18, point 5).
    from django.utils import timezone

    from labelling.models import RaterPause

    project.pause_window = 3
    project.save(update_fields=["pause_window"])
    RaterPause.objects.create(
        project=project,
        annotator=cast["bob"],
        reason=RaterPause.Reason.LOW_GOLD,
        figure=0.3,
        threshold=0.7,
        items=3,
        paused_at=timezone.now(),
    )
    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}
    login(page, live_server.url, "sam")
    for viewport in (None, PHONE):
        if viewport:
            page.set_viewport_size(viewport)
        for name, path in _pages(project):
            page.goto(f"{live_server.url}{path}")
            if problems := axe_violations(page):
                found[f"{name} {'phone' if viewport else 'desktop'}"] = problems
    page.goto(f"{live_server.url}/accounts/login/")
    login(page, live_server.url, "alice")
    page.click("text=Start labelling")
    page.wait_for_selector("#ranker:not([hidden])")
    if problems := axe_violations(page):
        found["label"] = problems
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    if problems := axe_violations(page):
        found["login"] = problems
    assert not found, found
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_an_import_error_is_focused_and_says_the_file_is_not_jsonl(
    live_server, browser_page, project, cast, tmp_path
):
    page = browser_page
    login(page, live_server.url, "adam")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    sheet = tmp_path / "prompts.csv"
    sheet.write_text("external_id,prompt\np-1,Hello\n")
    page.set_input_files('input[type="file"]', str(sheet))
    page.click('button:has-text("Import")')
    page.wait_for_selector("[data-error-summary]")
    focused = page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert focused, "the error summary has the focus"
    assert "this is not a JSONL text file" in page.inner_text("[data-error-summary]")
    # The summary is on screen, wherever the import form sits on the page.
    box = page.locator("[data-error-summary]").bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"]
    page.screenshot(path=str(ARTIFACTS / "import-not-jsonl.png"))
    assert not axe_violations(page)
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_staff_build_a_project_with_the_criteria_builder_by_keyboard(
    live_server, browser_page, cast
):
    from playwright.sync_api import expect

    from labelling.models import Project

    page = browser_page
    login(page, live_server.url, "sam")
    page.click("text=New project")
    page.fill("#id_name", "Summaries")
    page.fill("#id_responses_per_prompt", "3")
    announce = page.locator("#criteria-announce")
    for label, high in [("Faithfulness", "5"), ("Brevity", "3"), ("Tone", "7")]:
        page.click("text=Add a criterion")
        row = page.locator("[data-criterion-row]").last
        assert page.evaluate("document.activeElement.name").endswith("-label")
        page.keyboard.type(label)
        row.locator('input[name$="-high"]').fill(high)
    expect(announce).to_have_text("Criterion 3 added.")
    # Brevity up to first place, by keyboard; the move is announced.
    page.locator("[data-criterion-row]").nth(1).locator(".move-up").focus()
    page.keyboard.press("Enter")
    expect(announce).to_have_text("Brevity moved to position 1 of 3.")
    # At the top its "up" is disabled: the focus stays on the row, on its "down".
    assert page.evaluate("document.activeElement.className") == "move-down"
    # Tone removed.
    page.locator("[data-criterion-row]").nth(2).locator(".remove-criterion").click()
    assert page.locator("[data-criterion-row]:visible").count() == 2
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / "project-new-phone.png"), full_page=True)
    assert not axe_violations(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "project-new.png"), full_page=True)
    # Enter in a field submits the form (not "Add a criterion"); the name left empty
    # brings the page back with its error, and the removed row stays removed.
    page.fill("#id_name", "")
    page.press("#id_lease_minutes", "Enter")
    page.wait_for_selector("[data-error-summary]")
    assert page.locator("[data-criterion-row]:visible").count() == 2
    page.fill("#id_name", "Summaries")
    page.press("#id_name", "Enter")
    page.wait_for_selector("text=Project created.")
    project = Project.objects.get(name="Summaries")
    assert [(c["key"], c["scale"]) for c in project.criteria] == [
        ("brevity", [1, 3]),
        ("faithfulness", [1, 5]),
    ]
    # Its settings page opens with the rows as saved.
    page.click("text=Edit settings and criteria")
    labels = page.eval_on_selector_all(
        '[data-criteria-rows] input[name$="-label"]', "inputs => inputs.map(i => i.value)"
    )
    assert labels == ["Brevity", "Faithfulness"]
    page.screenshot(path=str(ARTIFACTS / "project-settings.png"), full_page=True)
    assert not axe_violations(page)
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_an_admin_finds_prompts_and_retires_a_page_of_them(live_server, browser_page, project):
    from playwright.sync_api import expect

    from labelling.models import Prompt

    import_items(
        project,
        prompt_line("p-1", prompt="Explain TCP slow start."),
        *(prompt_line(f"old-{i}", prompt=f"An outdated question {i}") for i in range(3)),
    )
    page = browser_page
    login(page, live_server.url, "adam")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("text=Browse every prompt")
    page.fill("#id_q", "outdated")
    page.press("#id_q", "Enter")
    expect(page.locator("#results")).to_contain_text("3 prompts")
    page.check("text=Tick every prompt on this page")
    assert page.locator('input[name="prompt"]:checked').count() == 3
    page.click("text=Retire the ticked prompts")
    expect(page.locator(".messages")).to_contain_text("Retired 3 prompts")
    # Back on the same search, now showing them retired.
    assert page.input_value("#id_q") == "outdated"
    assert page.locator(".badge.status-retired").count() == 3
    assert Prompt.objects.filter(project=project, retired=True).count() == 3
    page.screenshot(path=str(ARTIFACTS / "prompts.png"), full_page=True)
    page.click("text=old-0")
    page.click("text=Restore this prompt")
    expect(page.locator(".messages")).to_contain_text("Restored 1 prompt")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / "prompt-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not axe_violations(page)
    assert not page.problems, page.problems


@pytest.mark.django_db(transaction=True)
def test_staff_invite_someone_who_sets_a_password_and_is_given_a_role(
    live_server, browser_page, project
):
    from playwright.sync_api import expect

    page = browser_page
    login(page, live_server.url, "sam")
    page.click("text=People")
    page.fill("#id_username", "nina")
    page.fill("#id_email", "nina@example.org")
    page.press("#id_email", "Enter")
    link = page.input_value("#invite-link")
    assert link.startswith(f"{live_server.url}/invite/")
    page.screenshot(path=str(ARTIFACTS / "people.png"), full_page=True)
    assert not axe_violations(page)
    # adam gives the invited account a role before it is used.
    login(page, live_server.url, "adam")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.fill("#id_username", "nina")
    page.select_option("#id_role", "annotator")
    page.click('#members button:has-text("Save")')
    expect(page.locator(".messages")).to_contain_text("nina joined as Annotator.")
    expect(page.locator("#members")).to_contain_text("cannot log in")
    # nina, signed out, opens the link.
    page.context.clear_cookies()
    page.goto(link)
    page.fill("#id_new_password1", "a long and unusual passphrase 42")
    page.fill("#id_new_password2", "a long and unusual passphrase 42")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / "invite-phone.png"), full_page=True)
    assert not axe_violations(page)
    page.press("#id_new_password2", "Enter")
    expect(page.locator(".messages")).to_contain_text("Welcome, nina")
    expect(page.locator("main")).to_contain_text("Chatbot comparisons")
    assert not page.problems, page.problems
