"""Review (issue 5): the queue of disagreeing and flagged prompts, annotations side by
side, rejection with a reason, adjudication, and the audit trail of all of it."""

import pytest
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import (
    Adjudication,
    Annotation,
    Assignment,
    Membership,
    PairwisePreference,
    Prompt,
)
from labelling.queue import assignment_lease_next
from labelling.review import prompt_review, rankings_agreement
from labelling.services import membership_set
from ranking.agreement import agreement_report, labels_load, leaderboard_rows
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line


def best_first(ids):
    return [[rid] for rid in ids]


def worst_first(ids):
    return [[rid] for rid in reversed(ids)]


@pytest.fixture
def imported(project):
    import_items(project, prompt_line("p-1"))
    return Prompt.objects.get(project=project, external_id="p-1")


@pytest.fixture
def disputed(project, cast, imported):
    """alice ranks p-1 best first, bob the other way round: they agree on nothing."""
    annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=worst_first)
    imported.refresh_from_db()
    return imported


def reviewer(client, name="rita"):
    client.login(username=name, password=PASSWORD)
    return client


def test_a_prompt_whose_annotators_disagree_enters_the_review_queue(client, project, disputed):
    assert disputed.agreement == 0.0
    page = reviewer(client).get(f"/projects/{project.pk}/review/")
    assert page.status_code == 200
    assert f'href="/projects/{project.pk}/review/{disputed.pk}/"' in page.content.decode()
    assert "low agreement" in page.content.decode()


def test_agreeing_prompts_stay_out_of_the_queue_unless_flagged(client, project, cast, imported):
    annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=best_first)
    imported.refresh_from_db()
    assert imported.agreement == 1.0
    assert (
        f"/review/{imported.pk}/"
        not in reviewer(client).get(f"/projects/{project.pk}/review/").content.decode()
    )


def test_a_flag_sends_a_prompt_to_review_even_with_one_annotation(client, project, cast, imported):
    annotate(project, cast["alice"], flags=lambda ids: {str(ids[0]): ["unsafe"]})
    imported.refresh_from_db()
    assert imported.flagged and imported.agreement is None
    page = reviewer(client).get(f"/projects/{project.pk}/review/").content.decode()
    assert f"/review/{imported.pk}/" in page and "flagged" in page
    # The flag reaches the stored pairs, so exports can leave them out.
    assert PairwisePreference.objects.filter(prompt=imported, flagged=True).count() == 3


def test_stored_agreement_is_the_statistics_pairwise_agreement(project, cast, imported):
    annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=lambda ids: [[ids[1]], [ids[0]], [ids[2], ids[3]]])
    imported.refresh_from_db()
    report = agreement_report(project=project)
    assert imported.agreement == report["overall"]["pairwise_agreement"]
    # By hand: the two agree on 4 of the 6 response pairs.
    assert imported.agreement == round(4 / 6, 4)
    assert rankings_agreement([[[1], [2]]]) is None


def test_the_review_page_shows_every_annotation_side_by_side_with_models(
    client, project, cast, disputed
):
    alice_annotation = Annotation.objects.get(annotator=cast["alice"], prompt=disputed)
    page = reviewer(client).get(f"/projects/{project.pk}/review/{disputed.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "alice" in html and "bob" in html
    assert "model-a" in html and "model-d" in html
    assert "A &gt; B &gt; C &gt; D" in html and "D &gt; C &gt; B &gt; A" in html
    assert f"/reject/{alice_annotation.pk}/" in html


def test_rejecting_keeps_the_labels_in_history_and_takes_them_out_of_the_figures(
    client, project, cast, disputed
):
    bobs = Annotation.objects.get(annotator=cast["bob"], prompt=disputed)
    assert len(leaderboard_rows(labels_load(project=project))) == 4
    response = reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/reject/{bobs.pk}/",
        {"reason": "Ranked the broken answer first."},
        follow=True,
    )
    assert "is rejected" in response.content.decode()

    history = list(Annotation.objects.filter(assignment=bobs.assignment).order_by("version"))
    assert [(a.version, a.is_current, a.rejected) for a in history] == [
        (1, False, False),
        (2, True, True),
    ]
    assert history[1].ranking == bobs.ranking
    assert history[1].rejection_reason == "Ranked the broken answer first."
    assert history[1].rejected_by == cast["rita"]
    assert history[1].assignment.status == Assignment.Status.REJECTED
    # Its pairs stay stored, marked, for an export that asks for them.
    assert (
        PairwisePreference.objects.filter(annotation=history[1], annotation_rejected=True).count()
        == 6
    )
    report = agreement_report(project=project)
    assert report["overall"]["n_annotations"] == 1
    assert [row["annotator_id"] for row in report["annotators"]] == [cast["alice"].pk]
    disputed.refresh_from_db()
    assert disputed.agreement is None
    event = AuditEvent.objects.get(verb=AuditEvent.Verb.ANNOTATION_REJECTED)
    assert event.actor == cast["rita"]
    assert event.data["reason"] == "Ranked the broken answer first."


def test_a_rejected_slot_goes_back_to_the_pool_and_the_annotator_cannot_edit_it(
    api, client, project, cast, disputed
):
    bobs = Annotation.objects.get(annotator=cast["bob"], prompt=disputed)
    reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/reject/{bobs.pk}/", {"reason": "Careless."}
    )
    # bob's edit is refused with the reason in words.
    response = api("bob").post(
        f"/api/assignments/{bobs.assignment_id}/submit/",
        {
            "ranking": best_first(list("ABCD")),
            "ratings": {letter: {"helpfulness": 2, "honesty": 2} for letter in "ABCD"},
        },
        format="json",
    )
    assert response.status_code == 409
    assert "rejected" in response.json()["detail"]
    # Another annotator gets the prompt, so it still reaches the annotations it wants.
    membership_set(
        project=project,
        user=cast["olga"],
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    acknowledge(project, cast["olga"])
    disputed.refresh_from_db()
    assert disputed.live_count == 1
    given = assignment_lease_next(project=project, annotator=cast["olga"], now=timezone.now())
    assert given.prompt == disputed


def test_a_rejection_needs_a_reason_and_changes_nothing_without_one(
    client, project, cast, disputed
):
    bobs = Annotation.objects.get(annotator=cast["bob"], prompt=disputed)
    response = reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/reject/{bobs.pk}/",
        {"reason": "   "},
        follow=True,
    )
    assert "Give a reason." in response.content.decode()
    bobs.refresh_from_db()
    assert bobs.is_current and not bobs.rejected
    assert not AuditEvent.objects.filter(verb=AuditEvent.Verb.ANNOTATION_REJECTED).exists()


def test_an_adjudicated_ranking_closes_the_review_and_a_newer_one_supersedes_it(
    client, project, cast, disputed
):
    ids = sorted(disputed.responses.values_list("pk", flat=True))
    ranks = {f"rank-{rid}": str(position) for position, rid in enumerate(reversed(ids), start=1)}
    reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/adjudicate/",
        {**ranks, "note": "The last answer is the only correct one."},
    )
    disputed.refresh_from_db()
    assert disputed.reviewed_at is not None
    adjudication = Adjudication.objects.get(prompt=disputed)
    assert adjudication.ranking == [[rid] for rid in reversed(ids)]
    assert adjudication.reviewer == cast["rita"]
    assert (
        "/review/"
        not in client.get(f"/projects/{project.pk}/review/").content.decode().split("<tbody>")[-1]
    )

    reviewer(client, "adam").post(
        f"/projects/{project.pk}/review/{disputed.pk}/adjudicate/",
        {f"rank-{rid}": "1" if i < 2 else "2" for i, rid in enumerate(ids)},
    )
    rows = list(Adjudication.objects.filter(prompt=disputed).order_by("created_at"))
    assert [a.is_current for a in rows] == [False, True]
    assert rows[1].ranking == [ids[:2], ids[2:]]
    assert AuditEvent.objects.filter(verb=AuditEvent.Verb.PROMPT_ADJUDICATED).count() == 2


def test_an_adjudication_must_rank_every_response(client, project, disputed):
    first = disputed.responses.order_by("pk").first()
    response = reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/adjudicate/",
        {f"rank-{first.pk}": "1"},
        follow=True,
    )
    assert "Rank the responses" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_closing_a_review_holds_until_a_new_annotation_reopens_it(client, project, cast, disputed):
    reviewer(client).post(
        f"/projects/{project.pk}/review/{disputed.pk}/close/", {"note": "Both defensible."}
    )
    disputed.refresh_from_db()
    assert disputed.reviewed_at is not None
    assert AuditEvent.objects.get(verb=AuditEvent.Verb.PROMPT_REVIEWED).data == {
        "note": "Both defensible."
    }
    # A third annotator's label reopens it: the figures it was closed on have changed.
    membership_set(
        project=project,
        user=cast["olga"],
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    acknowledge(project, cast["olga"])
    annotate(project, cast["olga"], rank=worst_first)
    disputed.refresh_from_db()
    assert disputed.reviewed_at is None
    assert disputed.agreement == round(1 / 3, 4)


def test_consensus_ranking_and_votes_of_a_prompt(project, cast, imported):
    membership_set(
        project=project,
        user=cast["olga"],
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    acknowledge(project, cast["olga"])
    annotate(project, cast["alice"], rank=best_first)
    annotate(project, cast["bob"], rank=best_first)
    annotate(project, cast["olga"], rank=lambda ids: [[ids[1]], [ids[0]], [ids[2], ids[3]]])
    review = prompt_review(prompt=imported)
    a, b, c, d = sorted(imported.responses.values_list("pk", flat=True))
    assert review.consensus == [[a], [b], [c], [d]]
    votes = {(v["a"], v["b"]): (v["a_over_b"], v["b_over_a"], v["ties"]) for v in review.votes}
    assert votes[(a, b)] == (2, 1, 0)
    assert votes[(c, d)] == (2, 0, 1)
    assert votes[(a, d)] == (3, 0, 0)


def test_review_pages_escape_what_annotators_wrote(client, project, cast, imported):
    hostile = '<img src=x onerror="alert(1)">'
    annotate(
        project,
        cast["alice"],
        flags=lambda ids: {str(ids[0]): ["broken"]},
        critiques=lambda ids: {str(ids[0]): hostile},
        comment=hostile,
    )
    html = reviewer(client).get(f"/projects/{project.pk}/review/{imported.pk}/").content.decode()
    assert hostile not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_critiques_and_comments_are_shown_against_the_letters_their_annotator_saw(
    client, project, cast, imported
):
    """alice writes about "A", the response shown to her first; the reviewer sees the
    responses in file order under letters of their own, so the page must say which of
    them alice's A was."""
    import re

    from labelling.submission import annotation_submit

    now = timezone.now()
    assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=now)
    first_shown = assignment.display_order[0]
    ids = sorted(assignment.display_order)
    data = {
        "ranking": [[rid] for rid in ids],
        "ratings": {str(r): {"helpfulness": 1, "honesty": 1} for r in ids},
        "critiques": {str(first_shown): "A is wrong."},
        "comment": "A is worse than B.",
    }
    annotation_submit(
        assignment=assignment,
        annotator=cast["alice"],
        data=data,
        now=now,
    )
    html = reviewer(client).get(f"/projects/{project.pk}/review/{imported.pk}/").content.decode()
    # The reviewer's letter of what alice saw first: responses in file order, A first.
    ours = "ABCD"[imported.responses.get(pk=first_shown).position]
    cell = re.search(r"seen as A</span>(?:(?!</td>).)*?A is wrong\.", html, re.S)
    assert cell is not None
    row = html[: cell.start()].rsplit("<tr>", 1)[1]
    assert row.strip().startswith(f"<th>{ours}</th>")
    pairs = re.findall(r'<span class="letter-pair">(\w)&nbsp;=&nbsp;(\w)</span>', html)
    assert ("A", ours) in pairs and len(pairs) == 4
    assert "A is worse than B." in html and "in the annotator" in html
