"""Banners say what happened (issue 17, point 12): one message on the page that follows,
a logged-out message, and a guideline gate that shows the changed sections first."""

import re

from django.utils import timezone

from labelling.guidelines import guideline_publish, sections_changed
from tests.conftest import PASSWORD, import_items, prompt_line


def messages_on(page: str) -> list[str]:
    return re.findall(r'<li class="message[^"]*">([^<]*)</li>', page)


def fields(ranks="ABCD") -> dict:
    return {
        **{f"rank-{x}": str(ranks.index(x) + 1) for x in "ABCD"},
        **{f"rating-{x}-{c}": "4" for x in "ABCD" for c in ("helpfulness", "honesty")},
    }


def test_saving_the_last_item_says_so_in_one_banner(client, project):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client.login(username="alice", password=PASSWORD)
    item = client.post(f"/projects/{project.pk}/next/")["Location"]
    page = client.post(item, fields(), follow=True).content.decode()
    assert messages_on(page) == ["Saved. Here is the next one."]
    item = re.search(r'action="(/assignments/\d+/)"', page).group(1)
    page = client.post(item, fields(), follow=True).content.decode()
    assert messages_on(page) == [
        "Saved. Nothing more is left for you in Chatbot comparisons. Thank you!"
    ]


def test_logging_out_says_so_and_that_a_draft_is_kept(client, project):
    client.login(username="alice", password=PASSWORD)
    page = client.post("/accounts/logout/", follow=True).content.decode()
    assert "Log in" in page
    assert messages_on(page) == ["You are logged out."]
    import_items(project, prompt_line("p-1"))
    client.login(username="alice", password=PASSWORD)
    item = client.post(f"/projects/{project.pk}/next/")["Location"]
    client.post(f"{item}draft/", {"comment": "half"})
    page = client.post("/accounts/logout/", follow=True).content.decode()
    assert messages_on(page) == ["You are logged out. What you typed and had not saved is kept."]


OLD = """Read everything first.

# Ranking
Rank best first.

# Ties
Tie only if equal.

# Safety
Flag anything unsafe.
"""
NEW = """Read everything first.

# Ranking
Rank best first; **correctness** before style.

# Ties
Tie only if equal.

# Critiques
Say why in one sentence.
"""


def test_sections_are_matched_by_heading():
    changes = sections_changed(OLD, NEW)
    assert [s.title for s in changes.changed] == ["Ranking", "Critiques"]
    assert changes.added == {"Critiques"}
    assert changes.removed == ["Safety"]
    code = "# A\n```\n# not a heading\n```\n"
    assert [s.title for s in sections_changed("", code).changed] == ["A"]


def test_the_guideline_gate_shows_the_changed_sections_first_rendered(client, project, cast):
    guideline_publish(
        project=project, body=OLD, change_summary="Sections.", actor=cast["adam"],
        now=timezone.now(),
    )  # fmt: skip
    from tests.conftest import acknowledge

    acknowledge(project, cast["alice"])
    guideline_publish(
        project=project, body=NEW, change_summary="Correctness first; critiques.",
        actor=cast["adam"], now=timezone.now(),
    )  # fmt: skip
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/guidelines/acknowledge/").content.decode()
    changed = page[page.index('class="card changed-sections"') : page.index("Word by word")]
    assert "<strong>correctness</strong>" in changed  # rendered, not markdown
    assert "Say why in one sentence." in changed
    assert "Tie only if equal." not in changed  # an unchanged section is left for later
    assert "Sections taken out:" in page and "Safety" in page
    # The whole text is a click away.
    assert re.search(r"<details class=\"card\">\s*<summary><h2>The full text of version 3", page)
