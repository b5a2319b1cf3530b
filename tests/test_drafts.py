"""Drafts (issue 17, point 6): what a rater typed and had not saved survives logging out,
a lease that runs out, a crash or a closed tab, and the page says what happened."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labelling.models import Annotation, Assignment, Draft, Membership, Prompt
from labelling.queue import assignment_lease_next, leases_reclaim
from labelling.services import membership_set
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line

HALF_DONE = {"rank-A": "2", "rank-B": "1", "rating-C-honesty": "6", "comment": "Half done."}


@pytest.fixture
def alice(client, project):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client.login(username="alice", password=PASSWORD)
    return client


def lease(project, user, now=None) -> Assignment:
    held = assignment_lease_next(project=project, annotator=user, now=now or timezone.now())
    assert held is not None
    return held


def keep(client, assignment, fields=HALF_DONE):
    return client.post(f"/assignments/{assignment.pk}/draft/", fields)


def test_a_draft_is_kept_and_reopens_after_logging_out_and_in(alice, project, cast):
    held = lease(project, cast["alice"])
    response = keep(alice, held)
    assert response.status_code == 200
    assert response.json()["label"].startswith("Draft kept at ")
    draft = Draft.objects.get(assignment=held)
    assert draft.values["rank"] == {"A": 2, "B": 1}
    assert draft.values["ratings"]["C"] == {"honesty": 6}
    assert draft.values["comment"] == "Half done."

    alice.logout()
    alice.login(username="alice", password=PASSWORD)
    response = alice.post(f"/projects/{project.pk}/next/")
    assert response["Location"] == f"/assignments/{held.pk}/"
    page = alice.get(response["Location"]).content.decode()
    assert "had not saved yet" in page and 'id="restored"' in page
    assert "Half done." in page
    assert 'name="rating-C-honesty" value="6" checked' in page
    assert '<option value="1" selected>1</option>' in page  # B's rank


def test_saving_makes_the_draft_old(alice, project, cast):
    held = lease(project, cast["alice"])
    keep(alice, held)
    annotate_page = alice.post(
        f"/assignments/{held.pk}/",
        {
            **{f"rank-{x}": str(i) for i, x in enumerate("ABCD", 1)},
            **{f"rating-{x}-{c}": "3" for x in "ABCD" for c in ("helpfulness", "honesty")},
            "comment": "Final.",
        },
    )
    assert annotate_page.status_code == 302
    page = alice.get(f"/assignments/{held.pk}/").content.decode()
    assert 'id="restored"' not in page and "Final." in page and "Half done." not in page
    # An edit typed after it is a draft again.
    keep(alice, held, {**HALF_DONE, "comment": "Second thoughts."})
    assert "Second thoughts." in alice.get(f"/assignments/{held.pk}/").content.decode()


def test_an_item_that_cannot_change_takes_no_draft(alice, project, cast):
    from labelling.review import annotation_reject

    mine = annotate(project, cast["alice"])
    annotation_reject(annotation=mine, reviewer=cast["rita"], reason="No.", now=timezone.now())
    response = keep(alice, mine.assignment)
    assert response.status_code == 409
    assert "rejected" in response.json()["detail"]
    assert not Draft.objects.exists()


def test_a_draft_too_long_is_refused_with_a_reason(alice, project, cast):
    held = lease(project, cast["alice"])
    response = keep(alice, held, {"comment": "x" * 300_000})
    assert response.status_code == 409
    assert "too long" in response.json()["detail"]


def test_a_lease_that_ran_out_reopens_with_its_draft_and_can_still_be_saved(alice, project, cast):
    long_ago = timezone.now() - timedelta(minutes=project.lease_minutes + 5)
    held = lease(project, cast["alice"], now=long_ago)
    keep(alice, held)
    Draft.objects.filter(assignment=held).update(saved_at=long_ago + timedelta(minutes=1))
    leases_reclaim(project=project, now=timezone.now())
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.EXPIRED

    response = alice.post(f"/projects/{project.pk}/next/")
    assert response["Location"] == f"/assignments/{held.pk}/?resumed=1"
    page = alice.get(response["Location"]).content.decode()
    assert "Your time on this item ran out" in page and "Half done." in page
    # Leased to alice again, with a fresh expiry and its slot claimed back.
    again = Assignment.objects.get(pk=held.pk)
    assert again.status == Assignment.Status.LEASED and again.expires_at > timezone.now()
    assert Prompt.objects.get(pk=held.prompt_id).live_count == 1
    fields = {
        **{f"rank-{x}": str(i) for i, x in enumerate("ABCD", 1)},
        **{f"rating-{x}-{c}": "3" for x in "ABCD" for c in ("helpfulness", "honesty")},
        "comment": "Half done, then finished.",
    }
    assert alice.post(f"/assignments/{held.pk}/", fields).status_code == 302
    assert Annotation.objects.get(assignment=held).comment == "Half done, then finished."
    # Asked again, the next item is a new one.
    response = alice.post(f"/projects/{project.pk}/next/")
    assert response["Location"] != f"/assignments/{held.pk}/"


def test_a_draft_whose_prompt_others_completed_is_reported_once(alice, project, cast, make_user):
    project.annotations_per_prompt = 1
    project.save()
    Prompt.objects.filter(project=project).update(target=1)
    long_ago = timezone.now() - timedelta(minutes=project.lease_minutes + 5)
    held = lease(project, cast["alice"], now=long_ago)
    keep(alice, held)
    leases_reclaim(project=project, now=timezone.now())
    # bob takes the freed slot and completes the prompt.
    annotate(project, cast["bob"])
    assert Assignment.objects.get(annotator=cast["bob"]).prompt_id == held.prompt_id

    # Opened directly, the item says it can no longer be saved, and takes no draft.
    lapsed = alice.get(f"/assignments/{held.pk}/").content.decode()
    assert "someone else has taken its place" in lapsed and 'id="submit"' not in lapsed
    assert keep(alice, held).status_code == 409
    response = alice.post(f"/projects/{project.pk}/next/", follow=True)
    page = response.content.decode()
    assert "there could not be kept" in page
    assert not Draft.objects.filter(assignment=held).exists()
    second = alice.post(f"/projects/{project.pk}/next/", follow=True).content.decode()
    assert "there could not be kept" not in second


def test_nobody_else_keeps_a_draft_of_your_item(client, project, cast):
    import_items(project, prompt_line("p-1"))
    held = lease(project, cast["alice"])
    client.login(username="bob", password=PASSWORD)
    assert keep(client, held).status_code == 404
    membership_set(
        project=project, user=cast["olga"], role=Membership.Role.ANNOTATOR, actor=None,
        now=timezone.now(),
    )  # fmt: skip
    acknowledge(project, cast["olga"])
    client.login(username="olga", password=PASSWORD)
    assert keep(client, held).status_code == 404
    assert not Draft.objects.exists()


@pytest.mark.parametrize("why", ["retired", "guidelines"])
def test_a_draft_that_can_no_longer_be_saved_is_dropped_with_the_reason(alice, project, cast, why):
    from labelling.guidelines import guideline_publish

    long_ago = timezone.now() - timedelta(minutes=project.lease_minutes + 5)
    held = lease(project, cast["alice"], now=long_ago)
    keep(alice, held)
    if why == "retired":
        Prompt.objects.filter(pk=held.prompt_id).update(retired=True)
        reason = "its prompt was retired"
    else:
        guideline_publish(
            project=project, body="# New rules", change_summary="New.", actor=cast["adam"],
            now=timezone.now(),
        )  # fmt: skip
        reason = "the guidelines have changed since"
    page = alice.post(f"/projects/{project.pk}/next/", follow=True).content.decode()
    assert reason in page and "there could not be kept" in page
    assert not Draft.objects.filter(assignment=held).exists()
