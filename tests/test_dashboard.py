"""The project dashboard (issue 5): figures computed by a django-q2 job and cached,
charts, the annotator table with quality flags, the low-agreement list, the leaderboard."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labelling.models import Membership
from labelling.services import membership_set, project_update
from labelling.visibility import annotator_pseudonym
from ranking import charts
from ranking.figures import figures_compute, figures_request
from ranking.models import ProjectFigures
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line


def best_first(ids):
    return [[rid] for rid in ids]


def worst_first(ids):
    return [[rid] for rid in reversed(ids)]


@pytest.fixture
def labelled(project, cast):
    """Three prompts, each labelled by alice and bob; they disagree on p-3."""
    import_items(project, *(prompt_line(f"p-{i}") for i in range(1, 4)))
    for _ in range(3):
        annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=best_first)
    annotate(project, cast["bob"], rank=best_first)
    annotate(project, cast["bob"], rank=worst_first)
    return project


def watch(client, name="erin"):
    client.login(username=name, password=PASSWORD)
    return client


def test_the_dashboard_computes_its_figures_in_a_job_and_says_when(
    client, labelled, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = watch(client).get(f"/projects/{labelled.pk}/dashboard/")
    # The first visit asks for the figures (one job) and shows the page at once.
    assert first.status_code == 200
    assert len(callbacks) == 1
    first_html = first.content.decode()
    assert "Recomputing" in first_html
    # While the first figures are on their way, no section claims there is nothing.
    assert "No annotations yet." not in first_html
    assert "No prompt has two annotations yet." not in first_html
    assert first_html.count("Being computed") == 4

    figures = ProjectFigures.objects.get(project=labelled)
    assert figures.status == ProjectFigures.Status.IDLE
    assert figures.data["agreement"]["overall"]["n_annotations"] == 6
    html = client.get(f"/projects/{labelled.pk}/dashboard/").content.decode()
    assert "Figures computed" in html
    assert "Recomputing" not in html
    # Agreement: 2 of 3 prompts agree completely, one not at all: 12 of 18 pairs.
    assert "0.667" in html
    assert html.count("<svg") == 3  # over time, per version, leaderboard
    assert "model-a" in html and "model-d" in html
    # erin is an engineer: raters are pseudonyms to her, the ones her exports use.
    for name in ("alice", "bob"):
        user = labelled.memberships.get(user__username=name).user
        assert annotator_pseudonym(labelled, user.pk) in html
        assert f"<td>{name}</td>" not in html
    # Reviewers and admins manage raters: they see usernames.
    html = watch(client, "rita").get(f"/projects/{labelled.pk}/dashboard/").content.decode()
    for name in ("alice", "bob"):
        user = labelled.memberships.get(user__username=name).user
        assert f"<td>{name}<br>" in html and annotator_pseudonym(labelled, user.pk) in html


def test_new_annotations_make_the_figures_stale_and_one_job_recomputes_them(
    client, project, labelled, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        figures_request(project=labelled, now=timezone.now())
    computed = ProjectFigures.objects.get(project=labelled)
    # Nothing new: asking again queues nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        figures_request(project=labelled, now=timezone.now())
    assert callbacks == []

    import_items(project, prompt_line("p-4"))
    annotate(project, cast["alice"])
    html = watch(client).get(f"/projects/{labelled.pk}/dashboard/status/")
    assert html.json()["status"] == "queued"
    # A second request while one is queued does not queue another.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        figures_request(project=labelled, now=timezone.now())
    assert callbacks == []
    figures = figures_compute(figures_id=computed.pk)
    assert figures.data["agreement"]["overall"]["n_annotations"] == 7
    assert figures.computed_at > computed.computed_at
    # Run twice (a retried task): the second finds nothing to do.
    again = figures_compute(figures_id=computed.pk)
    assert again.computed_at == figures.computed_at


def test_a_job_abandoned_by_a_dead_worker_can_be_asked_for_again(
    labelled, django_capture_on_commit_callbacks
):
    now = timezone.now()
    ProjectFigures.objects.create(
        project=labelled,
        status=ProjectFigures.Status.RUNNING,
        requested_at=now - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        figures = figures_request(project=labelled, now=now)
    assert len(callbacks) == 1
    figures.refresh_from_db()
    assert figures.status == ProjectFigures.Status.IDLE and figures.data is not None


def test_the_recompute_button_forces_a_new_computation(
    client, labelled, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        figures_request(project=labelled, now=timezone.now())
    before = ProjectFigures.objects.get(project=labelled).computed_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = watch(client, "adam").post(f"/projects/{labelled.pk}/dashboard/refresh/")
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert ProjectFigures.objects.get(project=labelled).computed_at > before


def test_fast_and_inaccurate_annotators_are_flagged(
    client, project, cast, django_capture_on_commit_callbacks
):
    gold = [["r4"], ["r3"], ["r2"], ["r1"]]
    import_items(project, *(prompt_line(f"g-{i}", gold=gold) for i in range(3)))
    project = project_update(project=project, actor=cast["adam"], now=timezone.now(), gold_rate=1.0)
    # alice answers the gold prompts backwards, in no time at all.
    for _ in range(3):
        annotate(project, cast["alice"], rank=best_first)
    with django_capture_on_commit_callbacks(execute=True):
        figures_request(project=project, now=timezone.now())
    row = ProjectFigures.objects.get(project=project).data["agreement"]["annotators"][0]
    assert row["annotator_id"] == cast["alice"].pk
    assert row["pseudonym"] == annotator_pseudonym(project, cast["alice"].pk)
    assert row["gold_accuracy"] == 0.0 and row["n_gold"] == 3
    assert row["flags"] == ["low_gold", "too_fast"]
    html = watch(client, "rita").get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "1 annotator is flagged" in html
    assert "implausibly fast" in html and "gold accuracy below" in html


def test_the_low_agreement_list_links_reviewers_to_the_prompt(
    client, labelled, django_capture_on_commit_callbacks
):
    disputed = labelled.prompts.get(external_id="p-3")
    html = watch(client, "rita").get(f"/projects/{labelled.pk}/dashboard/").content.decode()
    assert f'href="/projects/{labelled.pk}/review/{disputed.pk}/"' in html
    # Engineers see the list, not the review pages.
    html = watch(client, "erin").get(f"/projects/{labelled.pk}/dashboard/").content.decode()
    assert "<code>p-3</code>" in html and f"/review/{disputed.pk}/" not in html


def test_model_names_on_the_dashboard_are_escaped(
    client, project, cast, django_capture_on_commit_callbacks
):
    item = prompt_line("x-1", n=2)
    item["responses"][0]["model"] = "<script>alert(1)</script>"
    project_update(project=project, actor=cast["adam"], now=timezone.now(), responses_per_prompt=2)
    import_items(project, item)
    annotate(project, cast["alice"])
    with django_capture_on_commit_callbacks(execute=True):
        figures_request(project=project, now=timezone.now())
    html = watch(client).get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_time_chart_places_days_and_guideline_versions():
    chart = charts.time_chart(
        [
            {"day": "2026-11-01", "agreement": 0.5, "prompts": 3},
            {"day": "2026-11-11", "agreement": 1.0, "prompts": 2},
        ],
        [{"version": 1, "day": "2026-10-01"}, {"version": 2, "day": "2026-11-06"}],
    )
    first, last = chart["dots"]
    assert first["x"] == chart["left"] and last["x"] == chart["right"]
    assert last["y"] == chart["top"]  # 1.0 at the top
    assert first["y"] == (chart["top"] + chart["bottom"]) / 2
    # v2 half-way between the two days; v1 predates the data and is not drawn.
    assert [m["label"] for m in chart["markers"]] == ["v2"]
    assert chart["markers"][0]["x"] == (chart["left"] + chart["right"]) / 2
    assert charts.time_chart([], []) is None


def test_an_annotator_of_the_project_cannot_open_the_dashboard(client, labelled, cast):
    membership_set(
        project=labelled,
        user=cast["olga"],
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    acknowledge(labelled, cast["olga"])
    client.login(username="olga", password=PASSWORD)
    assert client.get(f"/projects/{labelled.pk}/dashboard/").status_code == 403
