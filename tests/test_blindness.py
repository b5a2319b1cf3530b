"""Blindness is a policy (issue 15 point 5, labelling.visibility): an annotator sees nothing
that tells a gold item from an ordinary one, and nothing that follows the imported file's
order; what each role sees of a project is decided in one place."""

import random
import re

import pytest
from django.utils import timezone

from labelling.models import Assignment, Prompt
from labelling.queue import assignment_lease_next
from tests.conftest import PASSWORD, import_items, prompt_line

SAME = [{"external_id": f"r{i}", "model": f"m-{i}", "text": "The same answer."} for i in range(4)]


class Steered(random.Random):
    """A generator whose first draw decides the pool: below the gold rate is gold."""

    def __init__(self, first: float) -> None:
        super().__init__(0)
        self.first = first

    def random(self) -> float:
        value, self.first = self.first, super().random()
        return value


@pytest.fixture
def mixed(project, cast):
    """One gold prompt and one ordinary prompt with the same text and responses; alice
    holds the gold one, bob the ordinary one."""
    project.gold_rate = 0.5
    project.save()
    gold = [["r0"], ["r1"], ["r2"], ["r3"]]
    items = [
        prompt_line("gold-1", prompt="Same question?", responses=SAME, gold=gold),
        prompt_line("p-1", prompt="Same question?", responses=SAME),
    ]
    import_items(project, *items)
    now = timezone.now()
    held = {
        "alice": assignment_lease_next(
            project=project, annotator=cast["alice"], now=now, rng=Steered(0.0)
        ),
        "bob": assignment_lease_next(
            project=project, annotator=cast["bob"], now=now, rng=Steered(0.99)
        ),
    }
    assert held["alice"].prompt.is_gold and not held["bob"].prompt.is_gold
    return project, held


def _same_shape(a, b, path="") -> None:
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _same_shape(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_shape(x, y, f"{path}.{i}")


def test_the_payload_of_a_gold_item_and_of_an_ordinary_one_are_alike(api, mixed):
    project, held = mixed
    bodies = {}
    for name in ("alice", "bob"):
        response = api(name).post(f"/api/projects/{project.pk}/next/")
        assert response.status_code == 200
        bodies[name] = response.json()
        assert bodies[name]["assignment_id"] == held[name].pk
    gold, ordinary = bodies["alice"], bodies["bob"]
    _same_shape(gold, ordinary)
    # What differs is the assignment's own id and the lease's end; nothing else.
    for body, assignment in ((gold, held["alice"]), (ordinary, held["bob"])):
        assert body["prompt"]["id"] == assignment.pk
        assert body["prompt"]["external_id"] == f"item-{assignment.pk}"
    strip = {"assignment_id", "prompt", "expires_at"}
    assert {k: v for k, v in gold.items() if k not in strip} == {
        k: v for k, v in ordinary.items() if k not in strip
    }
    assert gold["prompt"]["prompt"] == ordinary["prompt"]["prompt"]
    assert "gold" not in str(gold).lower()


def _normalised(html: str, assignment: Assignment, name: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    html = html.replace(f"/assignments/{assignment.pk}/", "/assignments/N/")
    html = html.replace(f"item-{assignment.pk}", "item-N")
    html = html.replace(f'data-assignment="{assignment.pk}"', 'data-assignment="N"')
    html = re.sub(r'data-expires-at="[^"]+"', "", html)
    html = re.sub(r"until \d\d:\d\d UTC", "until T UTC", html)
    return html.replace(f">{name}<", ">NAME<")


def test_the_labelling_page_of_a_gold_item_looks_like_any_other(client, mixed):
    _project, held = mixed
    pages = {}
    for name in ("alice", "bob"):
        client.login(username=name, password=PASSWORD)
        page = client.get(f"/assignments/{held[name].pk}/")
        assert page.status_code == 200
        pages[name] = _normalised(page.content.decode(), held[name], name)
        client.logout()
    assert pages["alice"] == pages["bob"]
    assert "gold" not in pages["alice"].lower()
    assert "gold-1" not in pages["alice"] and "p-1" not in pages["bob"]


def _numbers(value) -> set:
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value)) if value else set()
    return {value} if isinstance(value, int) and not isinstance(value, bool) else set()


def test_nothing_an_annotator_is_shown_follows_the_file_order(api, project, cast):
    """Response ids rise in the order of the file: shown, they would undo the shuffle.
    Annotators see letters in the assignment's display order, and no database id."""
    project.annotations_per_prompt = 1
    project.save()
    items = [prompt_line(f"p-{i}") for i in range(12)]
    import_items(project, *items)
    client = api("alice")
    first_shown = []
    for _ in range(12):
        body = client.post(f"/api/projects/{project.pk}/next/").json()
        assignment = Assignment.objects.get(pk=body["assignment_id"])
        assert [r["id"] for r in body["responses"]] == ["A", "B", "C", "D"]
        assert all(set(r) == {"id", "label", "text"} for r in body["responses"])
        # The only numbers outside the criteria: the assignment's id and the version.
        numbers = _numbers({k: v for k, v in body.items() if k != "criteria"})
        assert numbers <= {assignment.pk, body["guideline_version"]}
        assert assignment.prompt.external_id not in str(body)
        first_shown.append(body["responses"][0]["text"])
        ids = [r["id"] for r in body["responses"]]
        ratings = {i: {"helpfulness": 1, "honesty": 1} for i in ids}
        client.post(
            f"/api/assignments/{assignment.pk}/submit/",
            {"ranking": [[i] for i in ids], "ratings": ratings},
            format="json",
        )
    # A is not always the file's first response (12 shuffles: all alike has odds 4^-11).
    assert len(set(first_shown)) > 1


def test_the_count_left_falls_by_one_after_a_gold_item_as_after_any_other(client, project, cast):
    from labelling.selectors import annotator_progress

    project.gold_rate = 0.5
    project.save()
    gold = [["r1"], ["r2"], ["r3"], ["r4"]]
    items = [prompt_line("g-1", gold=gold), prompt_line("p-1"), prompt_line("p-2")]
    import_items(project, *items)
    from tests.conftest import annotate

    def left() -> int:
        return annotator_progress(project=project, user=cast["alice"], now=timezone.now())["left"]

    assert left() == 3
    counts = []
    for steer in (0.0, 0.99):  # gold first, then an ordinary item
        before = left()
        assignment = assignment_lease_next(
            project=project, annotator=cast["alice"], now=timezone.now(), rng=Steered(steer)
        )
        annotate(project, cast["alice"])
        counts.append((assignment.prompt.is_gold, before - left()))
    assert counts == [(True, 1), (False, 1)]


def test_annotators_are_not_shown_what_tells_gold_items_apart(api, client, project):
    import_items(project, prompt_line("g-1", gold=[["r1"], ["r2"], ["r3"], ["r4"]]))
    project.gold_rate = 0.25
    project.reward_model = "secret-model"
    project.save()
    hidden = {"gold_rate", "gold_threshold", "min_median_seconds", "review_below", "reward_model"}
    # How raters are judged and how overlap adapts to their agreement (issue 18).
    hidden |= {"consensus_threshold", "pause_window", "max_annotations_per_prompt"}
    hidden |= {"agreement_lead"}
    as_annotator = api("alice").get(f"/api/projects/{project.pk}/").json()
    assert not hidden & set(as_annotator)
    assert {"criteria", "allow_ties", "responses_per_prompt"} <= set(as_annotator)
    listed = api("alice").get("/api/projects/").json()["results"][0]
    assert not hidden & set(listed)
    as_admin = api("adam").get(f"/api/projects/{project.pk}/").json()
    assert hidden <= set(as_admin)
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Gold rate" not in page and "g-1" not in page and "secret-model" not in page
    assert "Flag annotators" not in page and "Review prompts" not in page
    client.logout()
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Gold rate" in page and "g-1" in page


def test_the_submit_answer_uses_the_letters_the_annotator_saw(api, project):
    import_items(project, prompt_line("p-1"))
    client = api("alice")
    body = client.post(f"/api/projects/{project.pk}/next/").json()
    url = f"/api/assignments/{body['assignment_id']}/submit/"
    bad = client.post(url, {"ranking": [["A"], ["B"], ["C"], ["Z"]]}, format="json").json()
    fields = {e["field"] for e in bad["errors"]}
    assert "ranking.3" in fields and "ratings.A.helpfulness" in fields
    assert any("Z is not a response" in e["message"] for e in bad["errors"])
    # Database ids are not names an annotator can use.
    prompt = Prompt.objects.get()
    real = list(prompt.responses.values_list("pk", flat=True))
    refused = client.post(url, {"ranking": [[r] for r in real]}, format="json")
    assert refused.status_code == 400
    ok = client.post(
        url,
        {"ranking": [["D"], ["C"], ["B"], ["A"]],
         "ratings": {x: {"helpfulness": 2, "honesty": 3} for x in "ABCD"}},
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201, ok.content
    shown = ok.json()
    assert shown["ranking"] == [["D"], ["C"], ["B"], ["A"]]
    assert set(shown["ratings"]) == set("ABCD")
    assert shown["prompt_id"] == body["assignment_id"]
