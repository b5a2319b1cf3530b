"""Time raters and their managers can trust (issue 18, point 9): active time per item
from the labelling page beside the server's lease-to-submit time, and the rater report
of a period as a page, a CSV and an API answer."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labelling.models import Annotation
from labelling.queue import assignment_lease_next
from labelling.services import project_update
from labelling.submission import annotation_submit
from labelling.visibility import annotator_pseudonym
from tests.conftest import PASSWORD, import_items, prompt_line

GOLD = [["r1"], ["r2"], ["r3"], ["r4"]]


def submit(project, user, *, when, held=120, active=None, reverse=False):
    """Lease at `when` minus `held` seconds, submit at `when`, with `active` seconds."""
    assignment = assignment_lease_next(
        project=project, annotator=user, now=when - timedelta(seconds=held)
    )
    ids = list(assignment.response_texts)  # by position: r1 first, the gold's best
    ranking = [[rid] for rid in (reversed(ids) if reverse else ids)]
    ratings = {
        str(rid): {c["key"]: 7 - g for c in project.criteria} for g, (rid,) in enumerate(ranking)
    }
    data = {"ranking": ranking, "ratings": ratings}
    return annotation_submit(
        assignment=assignment, annotator=user, data=data, now=when, active_seconds=active
    ).annotation


@pytest.fixture
def worked(project, cast):
    """Two days of work: alice on both, bob on the second, with one gold prompt."""
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday, today = now - timedelta(days=1), now
    import_items(project, *(prompt_line(f"p-{i}") for i in range(4)), prompt_line("g-1", gold=GOLD))
    project = project_update(project=project, actor=cast["adam"], now=now, gold_rate=0.0)
    submit(project, cast["alice"], when=yesterday, held=300, active=240)
    submit(project, cast["alice"], when=today, held=600, active=9999)  # more than held
    submit(project, cast["alice"], when=today + timedelta(minutes=5), held=60)  # not timed
    submit(project, cast["bob"], when=today, held=200, active=180, reverse=True)
    return project, yesterday.date(), today.date()


@pytest.mark.usefixtures("worked")
def test_active_time_is_stored_beside_the_servers_time_and_never_above_it(cast):
    times = list(
        Annotation.objects.filter(annotator=cast["alice"])
        .order_by("created_at")
        .values_list("seconds_spent", "active_seconds")
    )
    assert times == [(300, 240), (600, 600), (60, None)]


def test_the_report_of_a_period_counts_items_hours_and_quality(worked, api, cast):
    project, yesterday, today = worked
    url = f"/api/projects/{project.pk}/raters/"
    everything = api("rita").get(url).json()
    rows = {row["rater"]: row for row in everything["raters"]}
    assert rows["alice"]["items"] == 3 and rows["alice"]["items_timed"] == 2
    assert rows["alice"]["active_hours"] == round((240 + 600) / 3600, 2)
    assert rows["alice"]["held_hours"] == round(960 / 3600, 2)
    assert rows["alice"]["items_per_active_hour"] == round(3 / ((240 + 600) / 3600), 1)
    assert rows["bob"]["items"] == 1 and rows["bob"]["active_hours"] == 0.05
    # Alice and bob labelled p-0..: the one prompt they share, they rank oppositely.
    assert rows["bob"]["agreement_with_consensus"] == 0.0

    day = api("rita").get(url, {"since": yesterday.isoformat(), "until": yesterday.isoformat()})
    assert day.json()["period"] == {"since": yesterday.isoformat(), "until": yesterday.isoformat()}
    assert [(r["rater"], r["items"]) for r in day.json()["raters"]] == [("alice", 1)]
    only_today = api("rita").get(url, {"since": today.isoformat()}).json()["raters"]
    assert {r["rater"]: r["items"] for r in only_today} == {"alice": 2, "bob": 1}

    # Engineers see pseudonyms; annotators do not see the report at all.
    names = {r["rater"] for r in api("erin").get(url).json()["raters"]}
    assert names == {annotator_pseudonym(project, cast[n].pk) for n in ("alice", "bob")}
    assert api("alice").get(url).status_code == 403

    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": today.isoformat(), "until": yesterday.isoformat()}, "until"),
        ({"colour": "red"}, "colour"),
    ):
        refused = api("rita").get(url, params)
        assert refused.status_code == 400
        assert [e["field"] for e in refused.json()["errors"]] == [field]


def test_the_report_page_and_its_csv(worked, client, cast):
    project, _yesterday, today = worked
    client.login(username="rita", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/raters/", {"since": today.isoformat()})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Rater report" in html and "alice" in html and "(1 timed)" in html
    assert re.search(r'href="\?since=[0-9-]+&amp;format=csv"', html)
    download = client.get(
        f"/projects/{project.pk}/raters/", {"since": today.isoformat(), "format": "csv"}
    )
    assert download["Content-Type"].startswith("text/csv")
    assert (
        f"raters-project-{project.pk}-{today.isoformat()}-to-now.csv"
        in download["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [(r["rater"], r["items"], r["items_timed"]) for r in rows] == [
        ("alice", "2", "1"),
        ("bob", "1", "1"),
    ]
    assert rows[0]["active_hours"] == str(round(600 / 3600, 2))
    bad = client.get(f"/projects/{project.pk}/raters/", {"until": "soon"})
    assert bad.status_code == 400
    # Named as the form labels the field, and linked to it.
    assert '<a href="#until">To</a>: A date such as 2026-12-01.' in bad.content.decode()
    backwards = client.get(
        f"/projects/{project.pk}/raters/", {"since": "2026-12-02", "until": "2026-12-01"}
    )
    assert "To</a>: Must be on or after the first day." in backwards.content.decode()
    client.login(username="alice", password=PASSWORD)
    assert client.get(f"/projects/{project.pk}/raters/").status_code in (403, 404)


def test_the_labelling_page_sends_the_time_it_counted(client, project, cast):
    import_items(project, prompt_line("p-1"))
    client.login(username="alice", password=PASSWORD)
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())
    page = client.get(f"/assignments/{assignment.pk}/").content.decode()
    assert 'name="active_seconds" id="active-seconds"' in page and "js/active.js" in page
    fields = {f"rank-{letter}": str(i + 1) for i, letter in enumerate("ABCD")}
    for letter in "ABCD":
        fields[f"rating-{letter}-helpfulness"] = "4"
        fields[f"rating-{letter}-honesty"] = "4"
    response = client.post(f"/assignments/{assignment.pk}/", {**fields, "active_seconds": "0"})
    assert response.status_code == 302
    assert Annotation.objects.get().active_seconds == 0


def test_the_api_takes_active_seconds_beside_the_labels(api, project):
    import_items(project, prompt_line("p-1"))
    client = api("alice")
    item = client.post(f"/api/projects/{project.pk}/next/").json()
    url = f"/api/assignments/{item['assignment_id']}/submit/"
    body = {
        "ranking": [["A"], ["B"], ["C"], ["D"]],
        "ratings": {letter: {"helpfulness": 4, "honesty": 4} for letter in "ABCD"},
    }
    refused = client.post(url, {**body, "active_seconds": "ten"}, format="json")
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["active_seconds"]
    saved = client.post(url, {**body, "active_seconds": 0}, format="json")
    assert saved.status_code == 201 and saved.json()["active_seconds"] == 0
