"""Continuous checks (issue 18, point 5): a rater whose last few gold items, or whose
agreement with the others over their last few shared items, fall below the project's
thresholds is paused in that project, told why, shown on the dashboard, and resumed by
an admin or reviewer with a note; all audited."""

import pytest
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import Membership, RaterPause
from labelling.services import membership_set, project_update
from labelling.visibility import annotator_pseudonym
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line

GOLD = [["r1"], ["r2"], ["r3"], ["r4"]]  # r1 (the lowest id) best


def best_first(ids):
    return [[rid] for rid in ids]


def worst_first(ids):
    return [[rid] for rid in reversed(ids)]


@pytest.fixture
def gold_project(project, cast):
    """Six gold prompts served at every lease; pauses over the last three."""
    import_items(project, *(prompt_line(f"g-{i}", gold=GOLD) for i in range(6)))
    return project_update(
        project=project, actor=cast["adam"], now=timezone.now(), gold_rate=1.0, pause_window=3
    )


def test_three_wrong_gold_items_pause_the_rater_who_is_told_why(gold_project, api, client, cast):
    project = gold_project
    annotate(project, cast["alice"], rank=worst_first)
    annotate(project, cast["alice"], rank=worst_first)
    assert not RaterPause.objects.exists()  # two items are not enough
    annotate(project, cast["alice"], rank=worst_first)
    pause = RaterPause.objects.get()
    assert (pause.annotator, pause.reason, pause.figure, pause.items) == (
        cast["alice"],
        "low_gold",
        0.0,
        3,
    )
    assert (
        AuditEvent.objects.filter(verb=AuditEvent.Verb.RATER_PAUSED, project=project).count() == 1
    )

    refused = api("alice").post(f"/api/projects/{project.pk}/next/")
    assert refused.status_code == 409
    assert refused.json()["paused"] is True
    told = refused.json()["detail"]
    assert "You are paused in Chatbot comparisons" in told
    # Not the figures: gold and its thresholds are hidden from annotators.
    assert "gold" not in told and "0.7" not in told
    client.login(username="alice", password=PASSWORD)
    page = client.post(f"/projects/{project.pk}/next/", follow=True).content.decode()
    assert "You are paused in Chatbot comparisons: the project&#x27;s checks" in page
    # Bob, who labels well, goes on.
    annotate(project, cast["bob"], rank=best_first)
    assert api("bob").post(f"/api/projects/{project.pk}/next/").status_code == 200


def test_a_reviewer_resumes_with_a_note_and_the_window_starts_afresh(
    gold_project, api, client, cast
):
    project = gold_project
    for _ in range(3):
        annotate(project, cast["alice"], rank=worst_first)
    pause = RaterPause.objects.get()

    client.login(username="rita", password=PASSWORD)
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert (
        "Paused raters" in dashboard
        and f'action="/projects/{project.pk}/pauses/{pause.pk}/resume/"' in dashboard
    )
    empty = client.post(
        f"/projects/{project.pk}/pauses/{pause.pk}/resume/", {"note": " "}, follow=True
    )
    assert "Say why the rater may go on." in empty.content.decode()
    client.post(f"/projects/{project.pk}/pauses/{pause.pk}/resume/", {"note": "Talked it through."})
    pause.refresh_from_db()
    assert pause.resumed_by == cast["rita"] and pause.note == "Talked it through."
    event = AuditEvent.objects.get(verb=AuditEvent.Verb.RATER_RESUMED)
    assert event.actor == cast["rita"] and event.data["note"] == "Talked it through."

    # The old items no longer count: one more wrong one pauses nobody.
    annotate(project, cast["alice"], rank=worst_first)
    assert not RaterPause.objects.filter(resumed_at__isnull=True).exists()
    assert api("alice").post(f"/api/projects/{project.pk}/next/").status_code == 200

    # Resuming twice, or as an annotator or engineer, is refused.
    again = api("rita").post(
        f"/api/projects/{project.pk}/pauses/{pause.pk}/resume/", {"note": "x"}, format="json"
    )
    assert again.status_code == 409
    for name in ("alice", "erin"):
        response = api(name).post(
            f"/api/projects/{project.pk}/pauses/{pause.pk}/resume/", {"note": "x"}, format="json"
        )
        assert response.status_code == 403


def test_the_api_lists_pauses_with_the_names_each_role_may_see(gold_project, api, cast):
    project = gold_project
    for _ in range(3):
        annotate(project, cast["alice"], rank=worst_first)
    url = f"/api/projects/{project.pk}/pauses/"
    (row,) = api("rita").get(url).json()
    assert row["annotator"] == "alice" and row["reason"] == "low_gold" and row["resumed_at"] is None
    (seen,) = api("erin").get(url).json()
    assert seen["annotator"] == annotator_pseudonym(project, cast["alice"].pk)
    assert api("alice").get(url).status_code == 403
    resumed = api("adam").post(
        f"{url}{row['id']}/resume/", {"note": "Second chance."}, format="json"
    )
    assert resumed.status_code == 200 and resumed.json()["resumed_by"] == "adam"
    assert api("erin").get(url).json()[0]["resumed_by"] is None  # engineers see no names
    assert api("adam").post(f"{url}{row['id']}/resume/", {}, format="json").status_code == 400


def test_disagreeing_with_everyone_on_three_shared_items_pauses_too(project, cast, make_user):
    now = timezone.now()
    project = project_update(project=project, actor=cast["adam"], now=now, pause_window=3)
    carl = make_user("carl")
    membership_set(project=project, user=carl, role=Membership.Role.ANNOTATOR, actor=None, now=now)
    acknowledge(project, carl)
    import_items(project, *(prompt_line(f"p-{i}") for i in range(3)))
    for _ in range(3):
        annotate(project, cast["bob"], rank=best_first)
        annotate(project, carl, rank=best_first)
    for _ in range(2):
        annotate(project, cast["alice"], rank=worst_first)
    assert not RaterPause.objects.exists()
    annotate(project, cast["alice"], rank=worst_first)
    pause = RaterPause.objects.get()
    assert (pause.annotator, pause.reason, pause.figure) == (cast["alice"], "low_consensus", 0.0)
    assert pause.threshold == project.consensus_threshold


def test_with_no_window_nobody_is_paused(project, cast):
    import_items(project, *(prompt_line(f"g-{i}", gold=GOLD) for i in range(4)))
    project = project_update(project=project, actor=cast["adam"], now=timezone.now(), gold_rate=1.0)
    assert project.pause_window == 0
    for _ in range(4):
        annotate(project, cast["alice"], rank=worst_first)
    assert not RaterPause.objects.exists()


def test_home_tells_a_paused_rater_why_instead_of_offering_work(gold_project, client, cast):
    project = gold_project
    for _ in range(3):
        annotate(project, cast["alice"], rank=worst_first)
    client.login(username="alice", password=PASSWORD)
    home = client.get("/").content.decode()
    assert "You are paused in Chatbot comparisons" in home
    assert ">Paused<" in home and "Start labelling" not in home


def test_nobody_resumes_themselves_and_a_window_of_one_item_is_refused(gold_project, api, cast):
    project = gold_project
    for _ in range(3):
        annotate(project, cast["sam"], rank=worst_first)  # staff, who may resume pauses
    pause = RaterPause.objects.get(annotator=cast["sam"])
    own = api("sam").post(
        f"/api/projects/{project.pk}/pauses/{pause.pk}/resume/", {"note": "me"}, format="json"
    )
    assert own.status_code == 409 and "Someone else must resume you." in own.json()["detail"]
    refused = api("adam").patch(f"/api/projects/{project.pk}/", {"pause_window": 1}, format="json")
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["pause_window"]
