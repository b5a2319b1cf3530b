"""Qualification (issue 18, points 1-3): a project requires a set of gold prompts with the
expert's explanations; a rater passes it (pass mark, attempts) before ordinary items and
sees after each item the expert's ranking, how theirs differed and why; publishing a
guideline version can ask everyone to qualify again, saying why; results per rater and
version are on the dashboard, the qualification page and the rater's own view."""

import pytest
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import Assignment, QualificationAttempt
from labelling.services import project_update
from labelling.visibility import annotator_pseudonym
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line

GOLD = [["r1"], ["r2"], ["r3"], ["r4"]]  # "Answer 1" best, "Answer 4" worst
ITEMS = [
    {"prompt": "g-1", "explanation": "Answer 1 is **correct**; the others drift."},
    {"prompt": "g-2", "explanation": "Shorter and right beats longer and wrong."},
]


@pytest.fixture
def gold_project(project, cast):
    """Two gold prompts for the set, one more served as hidden gold, three ordinary."""
    import_items(
        project,
        *(prompt_line(f"g-{i}", gold=GOLD) for i in (1, 2, 3)),
        *(prompt_line(f"p-{i}") for i in range(3)),
    )
    return project_update(project=project, actor=cast["adam"], now=timezone.now(), gold_rate=1.0)


def make_set(api, project, **extra):
    body = {"name": "Basics", "threshold": 0.8, "attempts": 2, "items": ITEMS, **extra}
    response = api("adam").post(
        f"/api/projects/{project.pk}/qualification-sets/", body, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def required_set(api, project, made=None, **extra):
    made = made or make_set(api, project, **extra)
    response = api("adam").post(
        f"/api/projects/{project.pk}/qualification-sets/{made['id']}/require/", {}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def by_text(item, *, best_first=True):
    """The item's letters ordered by the responses' texts: Answer 1 first, as the expert."""
    ordered = sorted(item["responses"], key=lambda r: r["text"], reverse=not best_first)
    return [[r["id"]] for r in ordered]


def answer(client, project, *, right: bool):
    state = client.get(f"/api/projects/{project.pk}/qualification/").json()
    response = client.post(
        f"/api/projects/{project.pk}/qualification/answers/",
        {"item": state["item"]["number"], "ranking": by_text(state["item"], best_first=right)},
        format="json",
    )
    assert response.status_code == 201, response.content
    return state["item"], response.json()


def test_a_rater_qualifies_through_the_api_with_feedback_after_each_item(gold_project, api, cast):
    project = gold_project
    made = make_set(api, project)
    assert made["status"] == "draft" and made["n_items"] == 2
    alice = api("alice")
    state = alice.get(f"/api/projects/{project.pk}/qualification/").json()
    assert state["status"] == "none"  # a draft asks nothing

    qset = required_set(api, project, made)
    assert (qset["status"], qset["required_from"]) == ("required", 1)
    refused = alice.post(f"/api/projects/{project.pk}/next/")
    assert refused.status_code == 409 and refused.json()["qualification"] == qset["id"]
    assert "Pass the qualification Basics first" in refused.json()["detail"]

    state = alice.get(f"/api/projects/{project.pk}/qualification/").json()
    assert (state["status"], state["items"], state["threshold"]) == ("due", 2, 0.8)
    assert "asks every rater to pass a short qualification" in state["reason"]
    started = alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    assert started.status_code == 201
    item = started.json()["item"]
    assert (item["number"], item["count"], len(item["responses"])) == (1, 2, 4)
    # Nothing names the prompt: the letters and texts only.
    assert "g-1" not in started.content.decode() and "g-2" not in started.content.decode()

    shown, right = answer(alice, project, right=True)
    assert (right["hits"], right["pairs"], right["differ"], right["finished"]) == (6, 6, [], False)
    assert right["expert"] == by_text(shown) == right["yours"]
    assert right["explanation"] in {i["explanation"] for i in ITEMS}

    shown, wrong = answer(alice, project, right=False)
    assert (wrong["hits"], wrong["pairs"], len(wrong["differ"])) == (0, 6, 6)
    first = wrong["differ"][0]
    assert first["yours"] != first["expert"]
    assert wrong["expert"] == by_text(shown)
    assert (wrong["finished"], wrong["score"], wrong["passed"]) == (True, 0.5, False)

    state = alice.get(f"/api/projects/{project.pk}/qualification/").json()
    assert (state["status"], state["attempts_used"], state["attempts_allowed"]) == ("due", 1, 2)
    assert alice.post(f"/api/projects/{project.pk}/next/").status_code == 409

    alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    answer(alice, project, right=True)
    _shown, last = answer(alice, project, right=True)
    assert (last["score"], last["passed"]) == (1.0, True)
    history = alice.get(f"/api/projects/{project.pk}/qualification/").json()
    assert history["status"] == "passed"
    assert [(h["number"], h["passed"]) for h in history["history"]] == [(2, True), (1, False)]

    # Qualified: ordinary items, and the set's gold prompts are never served as gold.
    served = set()
    for _ in range(4):
        given = alice.post(f"/api/projects/{project.pk}/next/")
        assert given.status_code == 200, given.content
        assignment = Assignment.objects.get(pk=given.json()["assignment_id"])
        served.add(assignment.prompt.external_id)
        alice.post(f"/api/assignments/{assignment.pk}/skip/", {"reason": "x"}, format="json")
    assert served.isdisjoint({"g-1", "g-2"}) and "g-3" in served

    verbs = list(
        AuditEvent.objects.filter(project=project, verb__startswith="qualification.")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "qualification.created",
        "qualification.required",
        "qualification.finished",
        "qualification.finished",
    ]


def test_attempts_run_out_and_a_reviewer_gives_one_more_with_a_note(
    gold_project, api, client, cast
):
    project = gold_project
    qset = required_set(api, project, attempts=1)
    alice = api("alice")
    alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    answer(alice, project, right=False)
    answer(alice, project, right=False)
    state = alice.get(f"/api/projects/{project.pk}/qualification/").json()
    assert state["status"] == "attempts_used"
    again = alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    assert again.status_code == 400 and "used your 1 attempts" in again.content.decode()

    results = f"/api/projects/{project.pk}/qualification-results/"
    rows = {row["annotator"]: row for row in api("rita").get(results).json()}
    assert rows["alice"]["status"] == "failed" and rows["alice"]["best_score"] == 0.0
    assert rows["bob"]["status"] == "not_started"
    seen = {row["annotator"] for row in api("erin").get(results).json()}
    assert annotator_pseudonym(project, cast["alice"].pk) in seen and "alice" not in seen
    assert alice.get(results).status_code == 403

    grant = f"/api/projects/{project.pk}/qualification-sets/{qset['id']}/grants/"
    assert alice.post(grant, {"annotator": "alice", "note": "x"}, format="json").status_code == 403
    nobody = api("rita").post(grant, {"annotator": "olga", "note": "x"}, format="json")
    assert nobody.status_code == 400 and "annotator" in nobody.json()["errors"][0]["field"]
    early = api("rita").post(grant, {"annotator": "bob", "note": "x"}, format="json")
    assert early.status_code == 400 and "has an attempt left" in early.content.decode()

    client.login(username="rita", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/qualification/").content.decode()
    action = f"/projects/{project.pk}/qualification/{qset['id']}/grant/{cast['alice'].pk}/"
    assert f'action="{action}"' in page
    client.post(action, {"note": "Went through the guidelines together."})
    event = AuditEvent.objects.get(verb=AuditEvent.Verb.QUALIFICATION_GRANTED)
    assert event.actor == cast["rita"]
    assert event.data["note"] == "Went through the guidelines together."
    assert alice.post(f"/api/projects/{project.pk}/qualification/attempts/").status_code == 201


def test_publishing_a_version_with_a_set_asks_raters_to_qualify_again_and_says_why(
    gold_project, api, client, cast
):
    project = gold_project
    first = required_set(api, project, items=ITEMS[:1])
    alice = api("alice")
    alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    answer(alice, project, right=True)
    again = make_set(api, project, name="Refusals", items=ITEMS[1:])

    client.login(username="adam", password=PASSWORD)
    form = client.get(f"/projects/{project.pk}/guidelines/new/").content.decode()
    assert 'name="qualification_set"' in form and "Refusals" in form
    client.post(
        f"/projects/{project.pk}/guidelines/new/",
        {
            "body": "# Rules\n\nA safe refusal ranks above unsafe help.\n",
            "change_summary": "Safe refusals now rank above unsafe help",
            "qualification_set": again["id"],
        },
    )
    sets = {
        row["name"]: row
        for row in api("adam").get(f"/api/projects/{project.pk}/qualification-sets/").json()
    }
    assert (sets["Refusals"]["status"], sets["Refusals"]["required_from"]) == ("required", 2)
    assert sets["Basics"]["status"] == "superseded" and first["id"] == sets["Basics"]["id"]

    acknowledge(project, cast["alice"])
    client.login(username="alice", password=PASSWORD)
    page = client.post(f"/projects/{project.pk}/next/", follow=True)
    assert page.redirect_chain[-1][0] == f"/projects/{project.pk}/qualify/"
    text = page.content.decode()
    assert "Guideline version 2 changed the rules: Safe refusals now rank above unsafe help." in (
        text
    )
    assert "Basics" in text and "passed" in text  # her own record of the earlier set

    rows = api("erin").get(f"/api/projects/{project.pk}/qualification-results/").json()
    mine = annotator_pseudonym(project, cast["alice"].pk)
    assert sorted(
        (r["guideline_version"], r["status"]) for r in rows if r["annotator"] == mine
    ) == [
        (1, "passed"),
        (2, "not_started"),
    ]
    client.login(username="erin", password=PASSWORD)
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'id="qualification"' in dashboard and mine in dashboard and "alice" not in dashboard

    # A set that is not a draft of this project is refused by name.
    refused = api("adam").post(
        f"/api/projects/{project.pk}/guidelines/",
        {"body": "# Rules v3\n", "change_summary": "Again", "qualification_set": first["id"]},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "qualification_set"


def test_the_rater_takes_the_test_on_the_page(gold_project, api, client, cast):
    project = gold_project
    hostile = [{"prompt": "g-1", "explanation": "<script>alert(1)</script>Because."}]
    required_set(api, project, items=hostile, threshold=1.0, attempts=2)
    client.login(username="alice", password=PASSWORD)
    home = client.get("/").content.decode()
    assert "A qualification is asked before your next item." in home
    intro = client.post(f"/projects/{project.pk}/next/", follow=True).content.decode()
    assert "Why you are asked" in intro and "at least 100%" in intro
    page = client.post(f"/projects/{project.pk}/qualify/", {"start": "1"}, follow=True)
    text = page.content.decode()
    assert "item 1 of 1" in text and 'name="rank-A"' in text and 'name="rank-D"' in text

    half = client.post(
        f"/projects/{project.pk}/qualify/", {"item": "1", "rank-A": "1", "rank-C": "2"}
    )
    assert half.status_code == 400
    assert "missing: B, D" in half.content.decode()
    assert 'value="2" selected' in half.content.decode()  # what was chosen stays

    attempt = QualificationAttempt.objects.get(annotator=cast["alice"])
    order = attempt.item_order[0]["order"]  # response ids in letter order
    worst_first = dict(zip("ABCD", (4 - sorted(order).index(rid) for rid in order), strict=True))
    done = client.post(
        f"/projects/{project.pk}/qualify/",
        {"item": "1", **{f"rank-{letter}": str(rank) for letter, rank in worst_first.items()}},
        follow=True,
    )
    feedback = done.content.decode()
    assert "The expert&#x27;s ranking" in feedback or "The expert's ranking" in feedback
    assert "6 pairs in another order" in feedback
    assert "<script>alert(1)</script>" not in feedback and "Because." in feedback
    assert "not passed" in feedback and "You have one more attempt." in feedback
    answer_url = done.redirect_chain[-1][0]
    client.login(username="bob", password=PASSWORD)
    assert client.get(answer_url).status_code == 404  # only its own rater sees it


def test_bad_sets_are_refused_naming_the_field(gold_project, api, cast):
    project = gold_project
    url = f"/api/projects/{project.pk}/qualification-sets/"
    adam = api("adam")

    def refused(body, field, words):
        response = adam.post(url, body, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0]["field"] == field
        assert words in response.content.decode()

    base = {"name": "S", "items": ITEMS}
    refused({**base, "items": [{"prompt": "p-1", "explanation": "x"}]}, "items", "Only gold")
    refused({**base, "items": [{"prompt": "nope", "explanation": "x"}]}, "items", "nope")
    refused({**base, "items": [ITEMS[0], ITEMS[0]]}, "items", "g-1 twice")
    refused({**base, "items": []}, "items", "")
    refused({**base, "threshold": 2}, "threshold", "")
    refused({**base, "items": [{"prompt": "g-1", "explanation": " "}]}, "items.0.explanation", "")
    make_set(api, project, name="S")
    refused(base, "name", "has a set of that name")
    assert api("rita").post(url, base, format="json").status_code == 403
    assert api("alice").get(url).status_code == 403


def test_an_answer_names_its_item_and_a_second_one_lands_nowhere(gold_project, api, client):
    """Two tabs, or Enter pressed twice: the second answer is refused, not recorded
    against the next item, which the rater has not seen."""
    project = gold_project
    required_set(api, project)
    alice = api("alice")
    alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    shown, _feedback = answer(alice, project, right=True)
    again = alice.post(
        f"/api/projects/{project.pk}/qualification/answers/",
        {"item": 1, "ranking": by_text(shown)},
        format="json",
    )
    assert again.status_code == 409
    assert "Item 1 was answered already" in again.json()["detail"]
    assert QualificationAttempt.objects.get().answers.count() == 1

    client.login(username="alice", password=PASSWORD)
    page = client.post(
        f"/projects/{project.pk}/qualify/",
        {"item": "1", "rank-A": "1", "rank-B": "2", "rank-C": "3", "rank-D": "4"},
        follow=True,
    )
    assert (
        "item 2 is next" in page.content.decode() and 'id="qualify-form"' in page.content.decode()
    )
    assert QualificationAttempt.objects.get().answers.count() == 1


def test_gold_prompts_raters_were_given_cannot_join_a_set(gold_project, api, client, cast):
    """Its expert ranking, shown after answering, would tell them it was gold."""
    project = gold_project
    annotate(project, cast["bob"])  # gold_rate 1: bob is given a gold prompt
    given = Assignment.objects.get(annotator=cast["bob"]).prompt.external_id
    response = api("adam").post(
        f"/api/projects/{project.pk}/qualification-sets/",
        {"name": "S", "items": [{"prompt": given, "explanation": "x"}]},
        format="json",
    )
    assert response.status_code == 400
    assert f"Raters were given {given} as hidden gold items" in response.content.decode()
    # The set form does not offer it.
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/qualification/").content.decode()
    assert f'name="prompt" value="{given}"' not in page and 'name="prompt" value="g-' in page
    assert "One gold prompt raters were already given is left out" in page


def test_withdrawing_the_newest_set_asks_nothing_of_those_who_passed_it(
    gold_project, api, client, cast
):
    project = gold_project
    older = required_set(api, project, items=ITEMS[:1])
    newer = make_set(api, project, name="Newer", items=ITEMS[1:])
    client.login(username="adam", password=PASSWORD)
    client.post(
        f"/projects/{project.pk}/guidelines/new/",
        {"body": "# v2\n", "change_summary": "New rules", "qualification_set": newer["id"]},
    )
    acknowledge(project, cast["alice"], cast["bob"])
    alice = api("alice")
    alice.post(f"/api/projects/{project.pk}/qualification/attempts/")
    answer(alice, project, right=True)
    withdrawn = api("adam").post(
        f"/api/projects/{project.pk}/qualification-sets/{newer['id']}/withdraw/"
    )
    assert withdrawn.json()["status"] == "withdrawn"
    # Alice passed the newer set: the older one asks nothing of her; Bob must pass it.
    assert alice.post(f"/api/projects/{project.pk}/next/").status_code == 200
    refused = api("bob").post(f"/api/projects/{project.pk}/next/")
    assert refused.status_code == 409 and refused.json()["qualification"] == older["id"]
    # Extra attempts are for the set raters must pass now.
    grant = api("rita").post(
        f"/api/projects/{project.pk}/qualification-sets/{newer['id']}/grants/",
        {"annotator": "bob", "note": "x"},
        format="json",
    )
    assert grant.status_code == 400 and "no longer the one" in grant.content.decode()
