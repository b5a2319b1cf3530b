"""GET /api/projects/{id}/agreement/ from real annotations (design §6 and §7)."""

import krippendorff
import numpy as np
from django.utils import timezone

from labelling.models import Response
from labelling.queue import assignment_lease_next
from labelling.submission import annotation_submit
from labelling.visibility import annotator_pseudonym
from tests.conftest import import_items, prompt_line


def annotate(project, user, prompt_external_id, order_by_model, helpfulness=None):
    """`user` ranks the prompt's responses in the order of `order_by_model` (model names,
    best first) and rates helpfulness per model."""
    assignment = None
    while assignment is None or assignment.prompt.external_id != prompt_external_id:
        assignment = assignment_lease_next(project=project, annotator=user, now=timezone.now())
        assert assignment is not None
        if assignment.prompt.external_id != prompt_external_id:
            from labelling.queue import assignment_skip

            assignment_skip(assignment=assignment, reason="not this one", now=timezone.now())
    model_of = dict(
        Response.objects.filter(prompt=assignment.prompt).values_list("model_name", "pk")
    )
    ranking = [[model_of[m]] for m in order_by_model]
    helpfulness = helpfulness or dict.fromkeys(order_by_model, 4)
    ratings = {
        str(model_of[m]): {"helpfulness": helpfulness[m], "honesty": 5} for m in order_by_model
    }
    annotation_submit(
        assignment=assignment,
        annotator=user,
        data={"ranking": ranking, "ratings": ratings},
        now=timezone.now(),
    )


ABCD = ["model-a", "model-b", "model-c", "model-d"]


def test_agreement_figures_from_two_annotators(api, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    alice, bob = cast["alice"], cast["bob"]
    annotate(project, alice, "p-1", ABCD)
    annotate(project, bob, "p-1", ABCD)
    annotate(project, alice, "p-2", ABCD)
    annotate(project, bob, "p-2", list(reversed(ABCD)))

    body = api("erin").get(f"/api/projects/{project.pk}/agreement/").json()
    overall = body["overall"]
    # p-1: all 6 response pairs agree; p-2: none do.
    assert overall["pairwise_agreement"] == 0.5
    assert overall["n_prompts"] == 2 and overall["n_annotations"] == 4
    low, high = overall["pairwise_agreement_interval"]
    assert 0 <= low <= 0.5 <= high <= 1

    # Alpha on ranks, checked against the oracle on the same reliability data.
    ranks = np.array([[1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 3, 4, 4, 3, 2, 1]], dtype=float)
    expected = krippendorff.alpha(reliability_data=ranks, level_of_measurement="ordinal")
    assert overall["alpha_rank"] == round(expected, 4)
    assert set(overall["alpha_criteria"]) == {"helpfulness", "honesty"}

    assert [v["version"] for v in body["by_guideline_version"]] == [1]
    assert body["by_guideline_version"][0]["pairwise_agreement"] == 0.5
    # erin is an engineer: she sees raters by the pseudonyms of her exports.
    pseudonym = {name: annotator_pseudonym(project, cast[name].pk) for name in ("alice", "bob")}
    by_pseudonym = {row["annotator"]: row for row in body["annotators"]}
    assert set(by_pseudonym) == set(pseudonym.values())
    rows = {name: by_pseudonym[pseudonym[name]] for name in pseudonym}
    assert rows["alice"]["pseudonym"] == pseudonym["alice"]
    assert rows["alice"]["n"] == 2 and rows["bob"]["n"] == 2
    # with one other annotator, the consensus is that annotator: agree on p-1 only
    assert rows["alice"]["agreement_with_consensus"] == 0.5
    assert rows["alice"]["gold_accuracy"] is None
    assert rows["alice"]["median_seconds"] >= 0
    assert 0 <= rows["alice"]["position_bias"] <= 1
    low, high = rows["alice"]["position_bias_interval"]
    assert 0 <= low <= rows["alice"]["position_bias"] <= high <= 1
    assert body["reward_model"] == {}


def test_gold_accuracy_scores_annotators_against_the_gold_ranking(api, project, cast):
    gold = [["r1"], ["r2"], ["r3"], ["r4"]]  # r1 is model-a ... r4 is model-d
    import_items(project, prompt_line("g-1", gold=gold))
    project.gold_rate = 1.0
    project.save()
    annotate(project, cast["alice"], "g-1", ABCD)
    annotate(project, cast["bob"], "g-1", ["model-b", "model-a", "model-c", "model-d"])
    rows = {
        row["annotator"]: row
        for row in api("adam").get(f"/api/projects/{project.pk}/agreement/").json()["annotators"]
    }
    assert rows["alice"]["gold_accuracy"] == 1.0
    assert rows["bob"]["gold_accuracy"] == round(5 / 6, 4)


def test_the_report_and_the_leaderboard_take_the_rater_filters_of_exports(api, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    for prompt in ("p-1", "p-2"):
        annotate(project, cast["alice"], prompt, ABCD)
        annotate(project, cast["bob"], prompt, list(reversed(ABCD)))
    alice = annotator_pseudonym(project, cast["alice"].pk)
    bob = annotator_pseudonym(project, cast["bob"].pk)
    url = f"/api/projects/{project.pk}/agreement/"
    everyone = api("adam").get(url).json()
    assert everyone["overall"]["n_annotations"] == 4 and "raters" not in everyone
    # Admins see usernames, with the pseudonym beside them for the filters.
    assert [(r["annotator"], r["pseudonym"]) for r in everyone["annotators"]] == [
        ("alice", alice),
        ("bob", bob),
    ]
    without_bob = api("erin").get(url, {"exclude_annotators": bob}).json()
    assert without_bob["overall"]["n_annotations"] == 2
    assert [r["annotator"] for r in without_bob["annotators"]] == [alice]
    assert without_bob["raters"] == {"exclude_annotators": [bob], "flagged_left_out": []}
    only = api("rita").get(url, {"annotators": f"{alice},{bob}"}).json()
    assert only["overall"]["n_annotations"] == 4

    board = f"/api/projects/{project.pk}/leaderboard/"
    models = api("erin").get(board, {"annotators": alice}).json()["models"]
    assert [m["model"] for m in models] == ABCD  # alice ranks a > b > c > d
    models = api("erin").get(board, {"annotators": bob}).json()["models"]
    assert [m["model"] for m in models] == list(reversed(ABCD))

    for params, field in [
        ({"annotators": "ann-000000000000"}, "annotators"),
        ({"exclude_annotators": "alice"}, "exclude_annotators"),
        ({"exclude_flagged_annotators": "perhaps"}, "exclude_flagged_annotators"),
        ({"colour": "red"}, "colour"),
    ]:
        for path in (url, board):
            response = api("erin").get(path, params)
            assert response.status_code == 400, (path, params)
            assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_project_without_annotations_reports_nothing_yet(api, project):
    body = api("rita").get(f"/api/projects/{project.pk}/agreement/").json()
    assert body["overall"]["pairwise_agreement"] is None
    assert body["overall"]["n_annotations"] == 0
    assert body["annotators"] == [] and body["by_guideline_version"] == []


def test_labels_are_read_exactly_as_the_annotators_gave_them(project, cast):
    """labels_load flattens the JSON columns in SQL, in each database's dialect: every
    array it builds is checked here against the annotations themselves."""
    from labelling.models import Annotation
    from ranking.agreement import labels_load

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    annotate(project, cast["alice"], "p-1", ["model-c", "model-a", "model-d", "model-b"],
             helpfulness={"model-a": 7, "model-b": 1, "model-c": 3, "model-d": 5})  # fmt: skip
    annotate(project, cast["bob"], "p-1", ABCD)
    annotate(project, cast["alice"], "p-2", list(reversed(ABCD)))
    labels = labels_load(project=project)

    annotations = list(Annotation.objects.order_by("prompt_id", "id"))
    assert labels.annotator.tolist() == [a.annotator_id for a in annotations]
    assert labels.prompt_ids.tolist() == sorted({a.prompt_id for a in annotations})
    assert labels.prompt.tolist() == [0, 0, 1]
    # Columns are the responses by id: model-a, -b, -c, -d.
    assert labels.ranks.tolist() == [[2, 4, 1, 3], [1, 2, 3, 4], [4, 3, 2, 1]]
    assert labels.ratings["helpfulness"][0].tolist() == [7, 1, 3, 5]
    assert labels.ratings["honesty"].tolist() == [[5] * 4] * 3
    assert [labels.model_names[m] for m in labels.models[0]] == ABCD
    assert labels.day.tolist() == [a.created_at.date().toordinal() for a in annotations]
    assert labels.seconds.tolist() == [a.seconds_spent for a in annotations]
    assert labels.first_shown_best.tolist() == [
        a.display_order[0] in a.ranking[0] for a in annotations
    ]
