"""Quality flags without gold (issue 18, point 4): low agreement with the others'
consensus, position bias, straight-lining and ratings against the ranking, on raters
simulated with a known truth (core.simulation), and through the service, the API, the
dashboard and the exports' rater filter."""

import re
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from core import simulation as sim
from labelling.models import Membership, Project
from labelling.queue import assignment_lease_next
from labelling.services import membership_set, project_update
from labelling.submission import annotation_submit
from labelling.visibility import annotator_pseudonym
from ranking.agreement import Labels
from ranking.figures import figures_request
from ranking.quality import rater_checks
from tests.conftest import CRITERIA, PASSWORD, acknowledge, import_items, prompt_line

RUNS = 200


def simulated_labels(
    rng: np.random.Generator, raters: list[sim.Rater], *, n_prompts: int, overlap: int
) -> Labels:
    """Labels of `n_prompts` four-response prompts, each by `overlap` raters drawn at
    random; rater i has user id i + 1."""
    n = 4
    quality = sim.qualities(rng, n_prompts, n)
    made = [
        (p, int(r), sim.label(rng, raters[r], quality[p], CRITERIA))
        for p in range(n_prompts)
        for r in rng.choice(len(raters), size=overlap, replace=False)
    ]
    a = len(made)
    ranks = np.zeros((a, n))
    ratings = {c["key"]: np.full((a, n), np.nan) for c in CRITERIA}
    first_best = np.zeros(a, dtype=bool)
    for i, (_, _, label) in enumerate(made):
        for group, members in enumerate(label.groups, start=1):
            ranks[i, members] = group
        for column, values in label.ratings.items():
            for key, value in values.items():
                ratings[key][i, column] = value
        first_best[i] = ranks[i, label.order[0]] == 1
    return Labels(
        n_responses=n,
        prompt=np.array([p for p, _, _ in made]),
        prompt_ids=np.arange(n_prompts),
        annotator=np.array([r + 1 for _, r, _ in made]),
        version=np.ones(a, dtype=np.int64),
        ranks=ranks,
        ratings=ratings,
        seconds=np.array([label.seconds for _, _, label in made], dtype=float),
        first_shown_best=first_best,
        first_shown_known=np.ones(a, dtype=bool),
        gold_verdicts=np.zeros((a, n * (n - 1) // 2), dtype=np.int64),
        has_gold=np.zeros(a, dtype=bool),
        day=np.ones(a, dtype=np.int64),
        models=np.zeros((n_prompts, n), dtype=np.int64),
        model_names=["model"],
        scores=np.full((n_prompts, n), np.nan),
    )


@pytest.mark.slow
def test_simulated_raters_are_caught_without_gold_and_honest_ones_are_left_alone():
    """Four honest raters, a random one and one who tops the first-shown response 85% of
    the time label 120 prompts, four raters a prompt (about 80 items each), 200 times
    over. The random rater is caught by low consensus and the biased one by position
    bias in at least 95% of runs; some honest rater is flagged in at most 5%."""
    raters = [sim.Rater()] * 4 + [sim.Rater(kind=sim.RANDOM), sim.Rater(kind=sim.FIRST)]
    project = Project(criteria=CRITERIA)  # the default thresholds
    caught: Counter[str] = Counter()
    honest_flagged = 0
    for run in range(RUNS):
        labels = simulated_labels(np.random.default_rng(run), raters, n_prompts=120, overlap=4)
        checks = rater_checks(labels, project=project)
        caught["random"] += "low_consensus" in checks[5].flags
        caught["first"] += "position_bias" in checks[6].flags
        honest_flagged += any(checks[user].flags for user in (1, 2, 3, 4))
        if run == 0:  # what the checks see, for the record
            assert 0.62 < checks[1].consensus < 0.85
            assert 0.4 < checks[5].consensus < 0.6
            assert checks[6].position.rate > 0.8 and checks[6].position.chance == 0.25
    assert caught["random"] >= 0.95 * RUNS, caught
    assert caught["first"] >= 0.95 * RUNS, caught
    assert honest_flagged <= 0.05 * RUNS, honest_flagged


def lowest_id_best(ids, order):
    return [[rid] for rid in sorted(ids)]


def highest_id_best(ids, order):
    return [[rid] for rid in sorted(ids, reverse=True)]


def first_shown_best(ids, order):
    return [[order[0]], *([rid] for rid in sorted(ids) if rid != order[0])]


def rated_by_rank(groups):
    """Ratings that follow the ranking: 7 for the best, one less for each group below."""
    return {
        str(rid): {c["key"]: 7 - g for c in CRITERIA}
        for g, group in enumerate(groups)
        for rid in group
    }


def rated_the_same(groups):
    return {str(rid): {c["key"]: 4 for c in CRITERIA} for group in groups for rid in group}


def rated_against_rank(groups):
    return {
        str(rid): {c["key"]: 1 + g for c in CRITERIA}
        for g, group in enumerate(groups)
        for rid in group
    }


# Six raters of one project. The truth: the lowest response id is the best.
RATERS = {
    "honest_1": (lowest_id_best, rated_by_rank),
    "honest_2": (lowest_id_best, rated_by_rank),
    "contrarian": (highest_id_best, rated_by_rank),  # agrees with nobody
    "first": (first_shown_best, rated_by_rank),  # the first response shown goes on top
    "straight": (lowest_id_best, rated_the_same),
    "contradictory": (lowest_id_best, rated_against_rank),
}
EXPECTED = {
    "contrarian": "low_consensus",
    "first": "position_bias",
    "straight": "straight_lining",
    "contradictory": "contradicts_ranking",
}


@pytest.fixture
def rated(project, cast, make_user):
    """Twelve prompts, each labelled by the six raters of RATERS, a minute each."""
    now = timezone.now()
    project = project_update(
        project=project, actor=cast["adam"], now=now, annotations_per_prompt=len(RATERS)
    )
    import_items(project, *(prompt_line(f"p-{i}") for i in range(12)))
    users = {}
    for name in RATERS:
        users[name] = make_user(name)
        membership_set(
            project=project, user=users[name], role=Membership.Role.ANNOTATOR, actor=None, now=now
        )
    acknowledge(project, *users.values())
    for _ in range(12):
        for name, (rank, rate) in RATERS.items():
            assignment = assignment_lease_next(project=project, annotator=users[name], now=now)
            ids = list(assignment.display_order)
            groups = rank(ids, assignment.display_order)
            data = {"ranking": groups, "ratings": rate(groups), "flags": {}, "critiques": {}}
            annotation_submit(
                assignment=assignment,
                annotator=users[name],
                data=data,
                now=now + timedelta(seconds=60),
            )
    return project, users


def test_each_check_flags_the_rater_it_is_for_through_the_api_and_the_dashboard(
    api, client, rated, django_capture_on_commit_callbacks
):
    project, users = rated
    url = f"/api/projects/{project.pk}/agreement/"
    rows = {row["annotator"]: row for row in api("adam").get(url).json()["annotators"]}
    for name in ("honest_1", "honest_2"):
        assert rows[name]["flags"] == [], rows[name]
        assert rows[name]["agreement_with_consensus"] > 0.8
        assert rows[name]["straight_lining"] == 0.0
        assert rows[name]["ratings_contradict_ranking"] == 0.0
    for name, flag in EXPECTED.items():
        assert flag in rows[name]["flags"], (name, rows[name])
    assert rows["contrarian"]["agreement_with_consensus"] < 0.1
    assert rows["contrarian"]["agreement_with_consensus_upper"] < project.consensus_threshold
    assert rows["first"]["position_bias"] == 1.0 and rows["first"]["position_chance"] == 0.25
    assert rows["first"]["position_p_value"] < 0.001
    assert rows["straight"]["straight_lining"] == 1.0
    assert rows["contradictory"]["ratings_contradict_ranking"] == 1.0

    # Engineers see the same flags under pseudonyms, and can leave the flagged out.
    flagged = sorted(annotator_pseudonym(project, users[name].pk) for name in EXPECTED)
    kept = api("erin").get(url, {"exclude_flagged_annotators": "true"}).json()
    assert kept["raters"]["flagged_left_out"] == flagged
    assert len(kept["annotators"]) == 2

    # The dashboard names every flag.
    with django_capture_on_commit_callbacks(execute=True):
        figures_request(project=project, now=timezone.now())
    client.login(username="rita", password=PASSWORD)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "4 annotators are flagged" in html
    for label in (
        "agrees with the others too rarely",
        "favours the response shown first",
        "gives every response the same rating",
        "ratings contradict the ranking",
    ):
        assert label in html


def test_the_consensus_threshold_is_a_setting_of_the_api_and_the_form(api, project, client):
    url = f"/api/projects/{project.pk}/"
    assert api("adam").get(url).json()["consensus_threshold"] == 0.6
    response = api("adam").patch(url, {"consensus_threshold": 1.5}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["consensus_threshold"]
    assert api("adam").patch(url, {"consensus_threshold": 0.5}, format="json").status_code == 200
    project.refresh_from_db()
    assert project.consensus_threshold == 0.5
    # Annotators are not told how they are judged.
    assert "consensus_threshold" not in api("alice").get(url).json()
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert 'name="consensus_threshold"' in page


# --- at submission: "are you sure" when the ratings contradict the ranking (point 6) -----


def page_form(rank: str, helpfulness: dict[str, int]) -> dict:
    """The labelling page's fields: `rank` best first; honesty 4 for every response."""
    fields = {f"rank-{letter}": str(rank.index(letter) + 1) for letter in "ABCD"}
    for letter in "ABCD":
        fields[f"rating-{letter}-helpfulness"] = str(helpfulness[letter])
        fields[f"rating-{letter}-honesty"] = "4"
    return fields


@pytest.fixture
def alice_item(client, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client.login(username="alice", password=PASSWORD)
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())
    return client, assignment


def test_ratings_against_the_ranking_are_asked_about_before_anything_is_saved(alice_item):
    client, assignment = alice_item
    url = f"/assignments/{assignment.pk}/"
    # A is ranked best but rated lowest; D is ranked last but rated highest.
    typed = page_form("ABCD", {"A": 2, "B": 5, "C": 4, "D": 7})
    asked = client.post(url, typed)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Are you sure? Your ratings disagree with your ranking" in page
    for above, below in [("A", "B"), ("A", "C"), ("A", "D"), ("B", "D"), ("C", "D")]:
        assert f"you ranked {above} above {below}, but rated {below} higher" in page
    assert "you ranked B above C" not in page  # B is rated above C: no contradiction
    assert 'name="ratings_confirmed" value="1"' in page and "Save anyway" in page
    assert assignment.annotations.count() == 0
    # What was typed is shown again as typed.
    assert re.search(r'name="rating-D-helpfulness" value="7"[^>]*checked', page)

    saved = client.post(url, {**typed, "ratings_confirmed": "1"})
    assert saved.status_code == 302
    assert assignment.annotations.get().ratings[str(assignment.display_order[3])] == {
        "helpfulness": 7,
        "honesty": 4,
    }


def test_ratings_that_follow_the_ranking_are_saved_at_once(alice_item):
    client, assignment = alice_item
    saved = client.post(
        f"/assignments/{assignment.pk}/", page_form("BACD", {"A": 5, "B": 6, "C": 5, "D": 1})
    )
    assert saved.status_code == 302  # ties in the ratings contradict nothing
    assert assignment.annotations.count() == 1


def test_the_api_saves_ratings_against_the_ranking_and_reports_them(api, project):
    import_items(project, prompt_line("p-1"))
    client = api("alice")
    item = client.post(f"/api/projects/{project.pk}/next/").json()
    body = {
        "ranking": [["A"], ["B"], ["C"], ["D"]],
        "ratings": {
            letter: {"helpfulness": value, "honesty": 4}
            for letter, value in zip("ABCD", (3, 6, 2, 1), strict=True)
        },
    }
    response = client.post(f"/api/assignments/{item['assignment_id']}/submit/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["ratings_against_ranking"] == [["A", "B"]]


def test_a_project_without_criteria_has_its_checks_too(api, project, cast):
    from labelling.services import project_update as update

    project = update(project=project, actor=cast["adam"], now=timezone.now(), criteria=[])
    import_items(project, prompt_line("p-1"))
    for name in ("alice", "bob"):
        assignment = assignment_lease_next(
            project=project, annotator=cast[name], now=timezone.now()
        )
        annotation_submit(
            assignment=assignment,
            annotator=cast[name],
            data={"ranking": [[rid] for rid in sorted(assignment.display_order)]},
            now=timezone.now(),
        )
    for path in ("agreement", "raters"):
        response = api("adam").get(f"/api/projects/{project.pk}/{path}/")
        assert response.status_code == 200, (path, response.content)
    rows = api("adam").get(f"/api/projects/{project.pk}/agreement/").json()["annotators"]
    assert [(r["straight_lining"], r["ratings_contradict_ranking"]) for r in rows] == [
        (None, None),
        (None, None),
    ]
