"""The prompt browser (issue 17, point 3): search and filters, a prompt with its
annotations as each role may see them, and retiring and restoring prompts."""

import re

import pytest
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import Prompt
from labelling.queue import assignment_lease_next
from labelling.review import review_queue
from labelling.visibility import annotator_pseudonym
from tests.conftest import PASSWORD, annotate, import_items, prompt_line


def best_first(ids):
    return [[rid] for rid in ids]


def worst_first(ids):
    return [[rid] for rid in reversed(ids)]


@pytest.fixture
def browsed(project, cast):
    """p-1 disputed by alice and bob (in review), p-2 with one annotation, p-3 in Chinese
    with nothing, g-1 gold, p-4 retired."""
    import_items(
        project,
        prompt_line("p-1", prompt="Explain TCP slow start."),
        prompt_line("p-2", prompt="Write a haiku about rain.", metadata={"domain": "poetry"}),
        prompt_line("p-3", prompt="解释一下量子纠缠。", metadata={"level": 3}),
        prompt_line("g-1", gold=[["r1"], ["r2"], ["r3"], ["r4"]]),
        prompt_line("p-4", prompt="An old prompt."),
        prompt_line(
            "c-1",
            prompt=[
                {"role": "system", "content": "Play a role."},
                {"role": "user", "content": "Why is TCP slow?"},
            ],
        ),
    )
    annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=worst_first)
    annotate(project, cast["alice"], rank=best_first)
    Prompt.objects.filter(project=project, external_id="p-4").update(retired=True)
    return project


def ids_listed(page) -> list[str]:
    return re.findall(r'<a href="/projects/\d+/prompts/\d+/"><code>([^<]+)</code>', page)


def browse(client, project, who="adam", **query):
    client.login(username=who, password=PASSWORD)
    response = client.get(f"/projects/{project.pk}/prompts/", query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_browser_lists_every_prompt_with_where_it_stands(client, browsed):
    page = browse(client, browsed)
    assert ids_listed(page) == ["p-1", "p-2", "p-3", "g-1", "p-4", "c-1"]
    assert "6 prompts" in page
    row = page[page.index("<code>p-1</code>") :].split("</tr>")[0]
    assert "In review" in row and "2 / 3" in row and "0.00" in row
    retired = page[page.index("<code>p-4</code>") :].split("</tr>")[0]
    assert "Retired" in retired and "Open" not in retired


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "haiku"}, ["p-2"]),
        ({"q": "HAIKU"}, ["p-2"]),
        ({"q": "量子"}, ["p-3"]),
        ({"q": "g-1"}, ["g-1"]),
        ({"q": "r3"}, ["p-1", "p-2", "p-3", "g-1", "p-4", "c-1"]),
        ({"q": "role"}, ["c-1"]),  # the words, not the JSON's keys
        ({"q": "content"}, []),
        ({"q": '"'}, []),
        ({"q": "slow"}, ["p-1", "g-1", "c-1"]),  # g-1 has the default prompt
        ({"status": "open"}, ["p-1", "p-2", "p-3", "g-1", "c-1"]),
        ({"status": "review"}, ["p-1"]),
        ({"status": "retired"}, ["p-4"]),
        ({"status": "complete"}, []),
        ({"metadata_key": "domain", "metadata_value": "poetry"}, ["p-2"]),
        ({"metadata_key": "level", "metadata_value": "3"}, ["p-3"]),
        ({"version": "1"}, ["p-1", "p-2"]),
        ({"agreement_below": "0.5"}, ["p-1"]),
        ({"gold": "yes"}, ["g-1"]),
        ({"gold": "no", "order": "newest"}, ["c-1", "p-4", "p-3", "p-2", "p-1"]),
    ],
)
def test_search_and_filters(client, browsed, query, expected):
    assert ids_listed(browse(client, browsed, **query)) == expected


def test_a_complete_prompt_is_complete(client, browsed, cast, make_user):
    from labelling.models import Membership
    from labelling.services import membership_set

    carol = make_user("carol")
    membership_set(
        project=browsed,
        user=carol,
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    from tests.conftest import acknowledge

    acknowledge(browsed, carol)
    annotate(browsed, carol, rank=best_first)
    assert ids_listed(browse(client, browsed, status="complete")) == ["p-1"]


def test_a_filter_not_understood_is_marked_and_the_rest_still_apply(client, browsed):
    page = browse(client, browsed, q="haiku", agreement_below="two", metadata_key="a b")
    assert ids_listed(page) == ["p-2"]
    assert "data-error-summary" in page
    assert page.count('class="field has-error"') == 2


def test_pages_keep_the_filters(client, browsed):
    import_items(browsed, *(prompt_line(f"bulk-{i:03d}") for i in range(60)))
    page = browse(client, browsed, q="bulk", order="newest")
    assert "page=2" in page
    assert "q=bulk&amp;order=newest&amp;page=2" in page
    second = browse(client, browsed, q="bulk", order="newest", page="2")
    assert ids_listed(second) == [f"bulk-{i:03d}" for i in range(9, -1, -1)]


def test_annotators_never_browse_and_outsiders_learn_nothing(client, browsed, cast):
    prompt = browsed.prompts.get(external_id="p-1")
    client.login(username="alice", password=PASSWORD)
    assert client.get(f"/projects/{browsed.pk}/prompts/").status_code == 403
    assert client.get(f"/projects/{browsed.pk}/prompts/{prompt.pk}/").status_code == 403
    client.login(username="olga", password=PASSWORD)
    assert client.get(f"/projects/{browsed.pk}/prompts/").status_code == 404
    client.login(username="erin", password=PASSWORD)
    assert (
        client.post(
            f"/projects/{browsed.pk}/prompts/retire/", {"prompt": prompt.pk, "action": "retire"}
        ).status_code
        == 403
    )
    assert not Prompt.objects.get(pk=prompt.pk).retired


def test_a_prompt_opens_with_its_annotations_named_as_the_role_sees_them(client, browsed, cast):
    prompt = browsed.prompts.get(external_id="p-1")
    url = f"/projects/{browsed.pk}/prompts/{prompt.pk}/"
    client.login(username="rita", password=PASSWORD)
    page = client.get(url).content.decode()
    assert "alice" in page and "bob" in page
    assert "Review this prompt" in page
    assert "model-a" in page and "Answer 4" in page
    client.login(username="erin", password=PASSWORD)
    page = client.get(url).content.decode()
    assert "alice" not in page and "bob" not in page
    assert annotator_pseudonym(browsed, cast["alice"].pk) in page
    assert "Review this prompt" not in page and "Retire this prompt" not in page
    assert 'name="reason"' not in page  # nobody rejects from here


def test_hostile_prompt_text_is_shown_as_text(client, project):
    import_items(project, prompt_line("x-1", prompt="<script>alert(1)</script> **bold**"))
    page = browse(client, project)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; bold" in page  # plain text, escaped


def test_retiring_takes_prompts_out_of_the_queue_and_the_review_queue_and_keeps_them(
    client, browsed, cast
):
    p1, p2, p3, g1, c1 = (
        browsed.prompts.get(external_id=e).pk for e in ("p-1", "p-2", "p-3", "g-1", "c-1")
    )
    client.login(username="adam", password=PASSWORD)
    response = client.post(
        f"/projects/{browsed.pk}/prompts/retire/",
        {"prompt": [p1, p2, p3, c1], "action": "retire", "back": "status=open&q=x%26y"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{browsed.pk}/prompts/?status=open&q=x%26y"
    assert "Retired 4 prompts" in client.get(response["Location"]).content.decode()
    assert list(review_queue(project=browsed)) == []
    assert Prompt.objects.get(pk=p1).annotations.count() == 2  # kept
    given = assignment_lease_next(project=browsed, annotator=cast["bob"], now=timezone.now())
    assert given is None or given.prompt_id == g1
    events = AuditEvent.objects.filter(verb="prompt.retired", project=browsed)
    assert sorted(int(e.object_id) for e in events) == sorted([p1, p2, p3, c1])
    assert {e.actor.username for e in events} == {"adam"}

    response = client.post(
        f"/projects/{browsed.pk}/prompts/retire/",
        {"prompt": p3, "action": "restore", "from": "prompt"},
    )
    assert response["Location"] == f"/projects/{browsed.pk}/prompts/{p3}/"
    page = client.get(response["Location"]).content.decode()
    assert "Restored 1 prompt" in page and "Retire this prompt" in page
    assert AuditEvent.objects.filter(verb="prompt.restored", object_id=str(p3)).count() == 1
    given = assignment_lease_next(project=browsed, annotator=cast["bob"], now=timezone.now())
    assert given is not None and given.prompt_id in {p3, g1}


def test_retiring_nothing_says_so(client, browsed):
    client.login(username="adam", password=PASSWORD)
    response = client.post(f"/projects/{browsed.pk}/prompts/retire/", {"action": "retire"})
    page = client.get(response["Location"]).content.decode()
    assert "Tick the prompts to retire or restore first." in page
