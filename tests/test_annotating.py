"""The annotator's workflow (issue 3): the queue, validation, submission, edits, blindness."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import Annotation, Assignment, Membership, PairwisePreference, Prompt
from labelling.preferences import preference_pairs
from labelling.queue import assignment_lease_next
from labelling.services import membership_set
from tests.conftest import acknowledge, import_items, prompt_line


def import_prompts(project, n: int, *, gold_every: int = 0) -> list[Prompt]:
    lines = [
        prompt_line(
            f"p-{i}",
            gold=[["r1"], ["r2"], ["r3"], ["r4"]] if gold_every and i % gold_every == 0 else None,
        )
        for i in range(n)
    ]
    import_items(project, *lines)
    return list(Prompt.objects.filter(project=project).order_by("pk"))


def full_submission(payload: dict, *, order: list[int] | None = None, ties: bool = False) -> dict:
    """A valid submission for the responses of a `next` payload, best first in `order`."""
    ids = order or [r["id"] for r in payload["responses"]]
    ranking = [[ids[0], ids[1]], *[[i] for i in ids[2:]]] if ties else [[i] for i in ids]
    return {
        "ranking": ranking,
        "ratings": {str(i): {"helpfulness": 5, "honesty": 6} for i in ids},
        "critiques": {str(ids[-1]): "Weakest: it misses the point."},
        "comment": "",
        "flags": {},
    }


def response_ids(body: dict) -> dict[str, int]:
    """The database id behind each letter of a `next` payload (annotators see letters)."""
    order = Assignment.objects.get(pk=body["assignment_id"]).display_order
    return {r["id"]: order[i] for i, r in enumerate(body["responses"])}


def prompt_of(body: dict) -> int:
    return Assignment.objects.get(pk=body["assignment_id"]).prompt_id


@pytest.fixture
def alice_next(api, project):
    client = api("alice")

    def next_():
        return client.post(f"/api/projects/{project.pk}/next/")

    next_.client = client
    return next_


# --- the queue ---------------------------------------------------------------------------


def test_next_gives_a_prompt_with_its_responses_shuffled_and_blind(project, alice_next):
    import_prompts(project, 1)
    response = alice_next()
    assert response.status_code == 200, response.content
    body = response.json()
    prompt = Prompt.objects.get()
    assignment = Assignment.objects.get(pk=body["assignment_id"])
    # The prompt under the assignment's own id, the responses by letter in the display
    # order: nothing the annotator sees gives the import order (or a gold mark) away.
    assert body["prompt"] == {
        "id": assignment.pk,
        "external_id": f"item-{assignment.pk}",
        "prompt": prompt.content,
    }
    assert [r["id"] for r in body["responses"]] == ["A", "B", "C", "D"]
    assert [r["label"] for r in body["responses"]] == ["A", "B", "C", "D"]
    texts = dict(prompt.responses.values_list("pk", "text"))
    assert [r["text"] for r in body["responses"]] == [texts[i] for i in assignment.display_order]
    assert sorted(assignment.display_order) == sorted(texts)
    assert body["guideline_version"] == 1 and body["allow_ties"] is True
    assert body["criteria"] == project.criteria
    raw = response.content.decode()
    assert "model-" not in raw and "model_name" not in raw


def test_display_orders_differ_between_annotators(project, api):
    import_prompts(project, 1)
    rita = Membership.objects.get(project=project, role="reviewer").user
    membership_set(project=project, user=rita, role="annotator", actor=None, now=timezone.now())
    acknowledge(project, rita)
    orders = set()
    for prompt_n in range(6):  # 6 shuffles of 4 responses: all equal has odds 1 in 24^5
        project.annotations_per_prompt = 50
        project.save()
        Prompt.objects.create(
            project=project, external_id=f"x-{prompt_n}", kind="text", content="q", content_hash="h"
        )
    for prompt in Prompt.objects.filter(external_id__startswith="x-"):
        for i in range(4):
            prompt.responses.create(external_id=f"r{i}", model_name="m", text="t", position=i)
    for name in ["alice", "bob"]:
        client = api(name)
        for _ in range(7):
            body = client.post(f"/api/projects/{project.pk}/next/").json()
            order = Assignment.objects.get(pk=body["assignment_id"]).display_order
            orders.add(tuple((sorted(order) != order and order) or ("sorted",)))
            client.post(f"/api/assignments/{body['assignment_id']}/skip/", {"reason": "test"})
    assert len(orders) > 1


def test_asking_again_returns_the_lease_already_held(project, alice_next):
    import_prompts(project, 3)
    first = alice_next().json()
    assert alice_next().json()["assignment_id"] == first["assignment_id"]
    assert Assignment.objects.count() == 1


def test_an_annotator_never_gets_the_same_prompt_twice(project, alice_next):
    import_prompts(project, 3)
    seen = []
    while (response := alice_next()).status_code == 200:
        body = response.json()
        seen.append(prompt_of(body))
        assert (
            alice_next.client.post(
                f"/api/assignments/{body['assignment_id']}/submit/",
                full_submission(body),
                format="json",
            ).status_code
            == 201
        )
    assert response.status_code == 204
    assert len(seen) == 3 and len(set(seen)) == 3


def test_a_prompt_never_gets_more_than_k_live_annotations(project, api, cast):
    project.annotations_per_prompt = 2
    project.save()
    import_prompts(project, 1)
    membership_set(
        project=project, user=cast["olga"], role="annotator", actor=None, now=timezone.now()
    )
    acknowledge(project, cast["olga"])
    assert api("alice").post(f"/api/projects/{project.pk}/next/").status_code == 200
    assert api("bob").post(f"/api/projects/{project.pk}/next/").status_code == 200
    assert api("olga").post(f"/api/projects/{project.pk}/next/").status_code == 204
    assert Prompt.objects.get().live_count == 2


def test_prompts_nearest_to_completion_come_first(project, api):
    first, _second, third = import_prompts(project, 3)
    body = api("bob").post(f"/api/projects/{project.pk}/next/").json()
    assert prompt_of(body) == first.pk
    api("bob").post(
        f"/api/assignments/{body['assignment_id']}/submit/", full_submission(body), format="json"
    )
    Prompt.objects.filter(pk=third.pk).update(live_count=2)
    # third has 2 of 3, first has 1 of 3: third first, then first.
    assert prompt_of(api("alice").post(f"/api/projects/{project.pk}/next/").json()) == third.pk


def test_an_expired_lease_returns_its_slot_to_the_pool(project, cast):
    project.annotations_per_prompt = 1
    project.save()
    import_prompts(project, 1)
    long_ago = timezone.now() - timedelta(minutes=31)
    held = assignment_lease_next(project=project, annotator=cast["alice"], now=long_ago)
    assert held is not None
    assert assignment_lease_next(project=project, annotator=cast["bob"], now=long_ago) is None

    taken = assignment_lease_next(project=project, annotator=cast["bob"], now=timezone.now())
    assert taken is not None and taken.prompt_id == held.prompt_id
    held.refresh_from_db()
    assert held.status == "expired"
    assert Prompt.objects.get().live_count == 1


def test_an_expired_lease_whose_slot_is_free_may_still_be_submitted(project, api, cast):
    import_prompts(project, 1)
    long_ago = timezone.now() - timedelta(hours=2)
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=long_ago)
    # Someone else's request reclaims it in between.
    assignment_lease_next(project=project, annotator=cast["bob"], now=timezone.now())
    assignment.refresh_from_db()
    assert assignment.status == "expired"

    body = {"responses": [{"id": letter} for letter in "ABCD"]}
    response = api("alice").post(
        f"/api/assignments/{assignment.pk}/submit/", full_submission(body), format="json"
    )
    assert response.status_code == 201, response.content
    assert Prompt.objects.get().live_count == 2  # alice's again, and bob's lease


def test_an_expired_lease_whose_slot_was_taken_cannot_be_submitted(project, api, cast):
    project.annotations_per_prompt = 1
    project.save()
    import_prompts(project, 1)
    long_ago = timezone.now() - timedelta(hours=2)
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=long_ago)
    assert assignment_lease_next(project=project, annotator=cast["bob"], now=timezone.now())

    body = {"responses": [{"id": letter} for letter in "ABCD"]}
    response = api("alice").post(
        f"/api/assignments/{assignment.pk}/submit/", full_submission(body), format="json"
    )
    assert response.status_code == 409
    assert "ran out" in response.json()["detail"]
    assert not Annotation.objects.exists() and Prompt.objects.get().live_count == 1


@pytest.mark.parametrize(("rate", "gold_first"), [(1.0, True), (0.0, False)])
def test_gold_prompts_come_at_the_gold_rate(project, cast, rate, gold_first):
    project.gold_rate = rate
    project.save()
    import_prompts(project, 10, gold_every=5)  # p-0 and p-5 are gold
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())
    assert (assignment.prompt.gold is not None) is gold_first


def test_gold_rate_is_honoured_over_many_requests(project, make_user):
    project.gold_rate = 0.25
    project.annotations_per_prompt = 400
    project.save()
    import_prompts(project, 40, gold_every=2)
    rng = random.Random(3)
    gold = 0
    for n in range(200):
        user = make_user(f"rater{n}")
        membership_set(project=project, user=user, role="annotator", actor=None, now=timezone.now())
        assignment = assignment_lease_next(
            project=project, annotator=user, now=timezone.now(), rng=rng
        )
        gold += assignment.prompt.gold is not None
    assert 0.17 < gold / 200 < 0.33


def test_gold_prompts_are_not_capped_at_k(project, api, cast):
    project.gold_rate = 1.0
    project.annotations_per_prompt = 1
    project.save()
    import_prompts(project, 1, gold_every=1)
    assert api("alice").post(f"/api/projects/{project.pk}/next/").status_code == 200
    assert api("bob").post(f"/api/projects/{project.pk}/next/").status_code == 200


def test_retired_prompts_are_never_served(project, alice_next):
    import_prompts(project, 1)
    Prompt.objects.update(retired=True)
    assert alice_next().status_code == 204


def test_skipping_frees_the_slot_and_the_prompt_is_not_offered_again(project, alice_next, api):
    project.annotations_per_prompt = 1
    project.save()
    import_prompts(project, 1)
    body = alice_next().json()
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/skip/", {"reason": "I can't judge maths"}
    )
    assert response.status_code == 200
    assignment = Assignment.objects.get()
    assert (assignment.status, assignment.skip_reason) == ("skipped", "I can't judge maths")
    assert alice_next().status_code == 204
    assert api("bob").post(f"/api/projects/{project.pk}/next/").status_code == 200


def test_skip_needs_a_reason(project, alice_next):
    import_prompts(project, 1)
    body = alice_next().json()
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/skip/", {"reason": ""}
    )
    assert response.status_code == 400
    assert Assignment.objects.get().status == "leased"


# --- validation ------------------------------------------------------------------------------


def _rate(submission, ids, index, **scores):
    submission["ratings"][str(ids[index])].update(scores)


BAD_SUBMISSIONS = [
    ("missing ranking", lambda s, ids: s.pop("ranking"), "ranking"),
    ("ranking not a list", lambda s, ids: s.update(ranking="A>B"), "ranking"),
    ("a response missing", lambda s, ids: s.update(ranking=[[i] for i in ids[:3]]), "ranking"),
    ("a response twice", lambda s, ids: s["ranking"].append([ids[0]]), "ranking.4"),
    ("a foreign response", lambda s, ids: s["ranking"].append([999999]), "ranking.4"),
    ("an empty group", lambda s, ids: s["ranking"].append([]), "ranking.4"),
    ("rating over scale", lambda s, ids: _rate(s, ids, 0, helpfulness=8), "ratings.{0}.helpfulness"),  # noqa: E501
    ("rating under scale", lambda s, ids: _rate(s, ids, 0, honesty=0), "ratings.{0}.honesty"),
    ("rating not whole", lambda s, ids: _rate(s, ids, 0, honesty=4.5), "ratings.{0}.honesty"),
    ("rating missing", lambda s, ids: s["ratings"][str(ids[1])].clear(), "ratings.{1}.honesty"),
    ("unknown criterion", lambda s, ids: _rate(s, ids, 0, speed=3), "ratings.{0}.speed"),
    ("unknown flag", lambda s, ids: s.update(flags={str(ids[0]): ["boring"]}), "flags.{0}"),
    ("whole-prompt flag on a response",
     lambda s, ids: s.update(flags={str(ids[0]): ["none_acceptable"]}), "flags.{0}"),
    ("critique not text", lambda s, ids: s.update(critiques={str(ids[0]): 5}), "critiques.{0}"),
    ("unknown field", lambda s, ids: s.update(score=3), "score"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"), [pytest.param(c, f, id=n) for n, c, f in BAD_SUBMISSIONS]
)
def test_bad_submissions_get_field_errors_and_change_nothing(project, alice_next, change, field):
    import_prompts(project, 1)
    body = alice_next().json()
    ids = [r["id"] for r in body["responses"]]
    submission = full_submission(body)
    change(submission, ids)
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/submit/", submission, format="json"
    )
    assert response.status_code == 400, response.content
    fields = {e["field"] for e in response.json()["errors"]}
    assert field.format(*ids) in fields, fields
    assert not Annotation.objects.exists() and not PairwisePreference.objects.exists()
    assert Assignment.objects.get().status == "leased"


def test_ties_are_refused_where_the_project_forbids_them(project, alice_next):
    project.allow_ties = False
    project.save()
    import_prompts(project, 1)
    body = alice_next().json()
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/submit/",
        full_submission(body, ties=True),
        format="json",
    )
    assert response.status_code == 400
    assert "does not allow ties" in str(response.json()["errors"])


@pytest.mark.parametrize(("rule", "needs"), [("all", 4), ("worst", 1), ("none", 0)])
def test_required_critiques_follow_the_project_rule(project, alice_next, rule, needs):
    project.required_critiques = rule
    project.save()
    import_prompts(project, 1)
    body = alice_next().json()
    submission = full_submission(body)
    submission["critiques"] = {}
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/submit/", submission, format="json"
    )
    missing = [e for e in response.json().get("errors", []) if e["field"].startswith("critiques.")]
    assert len(missing) == needs
    assert response.status_code == (400 if needs else 201)


# --- submission --------------------------------------------------------------------------------


def test_submit_stores_everything_and_derives_pairwise_preferences(project, alice_next, cast):
    import_prompts(project, 1)
    body = alice_next().json()
    a, b, c, d = (r["id"] for r in body["responses"])
    real = response_ids(body)
    submission = full_submission(body)
    submission.update(
        ranking=[[b], [a, c], [d]],
        critiques={str(d): "Wrong answer.", str(a): "Fine."},
        comment="  Hard one.  ",
        flags={str(d): ["factual_error", "unsafe"], "all": ["none_acceptable"]},
    )
    response = alice_next.client.post(
        f"/api/assignments/{body['assignment_id']}/submit/", submission, format="json"
    )
    assert response.status_code == 201, response.content
    # The letters the annotator used, read back: what they saw is what they answered.
    shown = response.json()
    assert shown["ranking"] == [[b], sorted([a, c]), [d]]
    assert shown["critiques"] == {d: "Wrong answer.", a: "Fine."}
    assert shown["prompt_id"] == body["assignment_id"]
    # Stored by response id.
    a, b, c, d = (real[letter] for letter in "ABCD")
    annotation = Annotation.objects.get()
    assert annotation.ranking == [[b], sorted([a, c]), [d]]
    assert annotation.ratings[str(a)] == {"helpfulness": 5, "honesty": 6}
    assert annotation.critiques == {str(d): "Wrong answer.", str(a): "Fine."}
    assert annotation.comment == "Hard one."
    assert annotation.flags == {str(d): ["factual_error", "unsafe"], "all": ["none_acceptable"]}
    assert annotation.guideline_version == 1
    assert annotation.display_order == [a, b, c, d]
    assert annotation.annotator == cast["alice"] and annotation.version == 1
    assert 0 <= annotation.seconds_spent < 60
    assert Assignment.objects.get().status == "submitted"

    pairs = {
        (p.chosen_id, p.rejected_id): (p.margin, p.is_tie) for p in PairwisePreference.objects.all()
    }
    lo, hi = sorted([a, c])
    assert pairs == {
        (b, a): (1, False),
        (b, c): (1, False),
        (b, d): (2, False),
        (lo, hi): (0, True),
        (a, d): (1, False),
        (c, d): (1, False),
    }
    assert {p.guideline_version for p in PairwisePreference.objects.all()} == {1}


def test_preference_pairs_of_a_strict_ranking():
    assert preference_pairs([[3], [1], [2]]) == [
        (1, 2, 1, False),
        (3, 1, 1, False),
        (3, 2, 2, False),
    ]
    assert preference_pairs([[5, 4]]) == [(4, 5, 0, True)]


def test_the_same_submission_twice_creates_nothing_the_second_time(project, alice_next):
    import_prompts(project, 1)
    body = alice_next().json()
    url = f"/api/assignments/{body['assignment_id']}/submit/"
    first = alice_next.client.post(url, full_submission(body), format="json")
    second = alice_next.client.post(url, full_submission(body), format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert Annotation.objects.count() == 1 and PairwisePreference.objects.count() == 6


def test_an_edit_adds_a_version_and_keeps_the_history(project, alice_next):
    import_prompts(project, 1)
    body = alice_next().json()
    ids = [r["id"] for r in body["responses"]]
    url = f"/api/assignments/{body['assignment_id']}/submit/"
    alice_next.client.post(url, full_submission(body), format="json")

    edited = full_submission(body, order=list(reversed(ids)))
    response = alice_next.client.post(url, edited, format="json")

    assert response.status_code == 201 and response.json()["version"] == 2
    ids = [response_ids(body)[letter] for letter in ids]
    old, new = Annotation.objects.order_by("version")
    assert (old.is_current, new.is_current) == (False, True)
    assert old.ranking == [[i] for i in ids] and new.ranking == [[i] for i in reversed(ids)]
    chosen_first = {p.chosen_id for p in PairwisePreference.objects.filter(rejected_id=ids[0])}
    assert ids[-1] in chosen_first  # preferences follow the current version only
    assert PairwisePreference.objects.count() == 6
    assert AuditEvent.objects.filter(verb="annotation.edited").count() == 1
    assert Prompt.objects.get().live_count == 1


def test_an_edit_is_refused_once_the_prompt_is_complete(project, api, cast):
    project.annotations_per_prompt = 2
    project.save()
    import_prompts(project, 1)
    bodies = {}
    for name in ["alice", "bob"]:
        body = api(name).post(f"/api/projects/{project.pk}/next/").json()
        api(name).post(
            f"/api/assignments/{body['assignment_id']}/submit/",
            full_submission(body),
            format="json",
        )
        bodies[name] = body
    body = bodies["alice"]
    ids = [r["id"] for r in body["responses"]]
    response = api("alice").post(
        f"/api/assignments/{body['assignment_id']}/submit/",
        full_submission(body, order=list(reversed(ids))),
        format="json",
    )
    assert response.status_code == 409 and "complete" in response.json()["detail"]
    assert Annotation.objects.count() == 2


def test_nobody_submits_or_skips_another_annotators_assignment(project, alice_next, api):
    import_prompts(project, 1)
    body = alice_next().json()
    for name in ["bob", "rita", "adam", "olga"]:
        client = api(name)
        url = f"/api/assignments/{body['assignment_id']}"
        assert (
            client.post(f"{url}/submit/", full_submission(body), format="json").status_code == 404
        )
        assert client.post(f"{url}/skip/", {"reason": "x"}).status_code == 404
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("rita", 403), ("erin", 403), ("adam", 403), ("olga", 404)]
)
def test_only_annotators_of_the_project_get_work(project, api, persona, status):
    import_prompts(project, 1)
    assert api(persona).post(f"/api/projects/{project.pk}/next/").status_code == status


def test_leaderboard_ranks_the_models_annotators_prefer(project, api, cast):
    from labelling.models import Response

    project.annotations_per_prompt = 2
    project.save()
    import_prompts(project, 6)
    model_of = dict(Response.objects.values_list("pk", "model_name"))
    for name in ["alice", "bob"]:
        client = api(name)
        while (r := client.post(f"/api/projects/{project.pk}/next/")).status_code == 200:
            body = r.json()
            real = response_ids(body)
            ids = sorted((x["id"] for x in body["responses"]), key=lambda i: model_of[real[i]])
            client.post(
                f"/api/assignments/{body['assignment_id']}/submit/",
                full_submission(body, order=ids),  # model-a best ... model-d worst
                format="json",
            )
    board = api("erin").get(f"/api/projects/{project.pk}/leaderboard/").json()["models"]
    assert [row["model"] for row in board] == ["model-a", "model-b", "model-c", "model-d"]
    top = board[0]
    assert (
        top["wins"] == 36 and top["losses"] == 0 and top["lower"] <= top["rating"] <= top["upper"]
    )
    assert top["win_rate"]["model-d"] == 1.0
    assert api("erin").get(f"/api/projects/{project.pk}/leaderboard/", {"x": 1}).status_code == 400


def test_project_progress_counts_annotations_and_complete_prompts(project, api):
    project.annotations_per_prompt = 2
    project.save()
    import_prompts(project, 3, gold_every=3)  # p-0 is gold, p-1 and p-2 are not
    for name in ["alice", "bob"]:
        client = api(name)
        body = client.post(f"/api/projects/{project.pk}/next/").json()
        client.post(
            f"/api/assignments/{body['assignment_id']}/submit/",
            full_submission(body),
            format="json",
        )
    progress = api("erin").get(f"/api/projects/{project.pk}/").json()["progress"]
    # both annotators got p-1 first (nearest to completion), which now has 2 of 2
    assert progress == {"prompts": 3, "complete": 1, "annotations": 2}
    listed = api("alice").get("/api/projects/").json()["results"][0]["progress"]
    assert listed == progress


def test_prompts_left_counts_what_the_queue_would_still_give_the_annotator(project, cast):
    from labelling.selectors import annotator_progress

    prompts = import_prompts(project, 5, gold_every=5)  # p-0 is gold: never counted
    now = timezone.now()
    assert annotator_progress(project=project, user=cast["alice"], now=now)["left"] == 4
    # alice takes one: it is no longer open to her, still open to bob.
    taken = assignment_lease_next(project=project, annotator=cast["alice"], now=now)
    assert taken.prompt.gold is None
    assert annotator_progress(project=project, user=cast["alice"], now=now)["left"] == 3
    assert annotator_progress(project=project, user=cast["bob"], now=now)["left"] == 4
    # A prompt whose slots are all live is open to nobody new.
    Prompt.objects.filter(pk=prompts[1].pk).update(live_count=3)
    assert annotator_progress(project=project, user=cast["bob"], now=now)["left"] == 3
    Prompt.objects.filter(pk=prompts[2].pk).update(retired=True)
    assert annotator_progress(project=project, user=cast["bob"], now=now)["left"] == 2
