"""A rater always knows where they stand (issue 17, points 7 to 9): items that can no
longer change open read-only and say why, a save from a second tab is warned of instead
of replacing the first unseen, and "My annotations" lists every item labelled."""

import re

import pytest
from django.utils import timezone

from labelling.models import Annotation, Assignment, Membership
from labelling.queue import assignment_lease_next, assignment_skip
from labelling.review import annotation_reject
from labelling.services import membership_set
from tests.conftest import PASSWORD, acknowledge, annotate, import_items, prompt_line


def form(rank="ABCD", comment="", based_on=None) -> dict:
    """The labelling page's fields, filled: `rank` best first."""
    fields = {f"rank-{letter}": str(rank.index(letter) + 1) for letter in "ABCD"}
    for letter in "ABCD":
        fields[f"rating-{letter}-helpfulness"] = "4"
        fields[f"rating-{letter}-honesty"] = "5"
    fields["comment"] = comment
    if based_on is not None:
        fields["based_on"] = str(based_on)
    return fields


@pytest.fixture
def alice(client, project):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client.login(username="alice", password=PASSWORD)
    return client


def lease(project, user) -> Assignment:
    held = assignment_lease_next(project=project, annotator=user, now=timezone.now())
    assert held is not None
    return held


def read_only(page: str) -> bool:
    return '<fieldset class="bare" disabled' in page and 'id="submit"' not in page


def test_an_item_that_may_still_change_opens_for_editing(alice, project, cast):
    annotate(project, cast["alice"])
    assignment = Assignment.objects.get(annotator=cast["alice"])
    page = alice.get(f"/assignments/{assignment.pk}/").content.decode()
    assert not read_only(page)
    assert 'name="based_on" value="1"' in page
    assert "editing your annotation (version 1)" in page


def test_a_rejected_annotation_opens_read_only_with_the_reviewers_reason(alice, project, cast):
    mine = annotate(project, cast["alice"], comment="My first try.")
    annotation_reject(
        annotation=mine,
        reviewer=cast["rita"],
        reason="You ranked <b>B</b> first.",
        now=timezone.now(),
    )
    page = alice.get(f"/assignments/{mine.assignment_id}/").content.decode()
    assert read_only(page)
    assert "A reviewer rejected your annotation of this item" in page
    assert "You ranked &lt;b&gt;B&lt;/b&gt; first." in page
    assert "My first try." in page  # the labels as given, shown
    assert re.search(r'Your ranking: <span class="ranking-text">[A-D]( &gt; [A-D]){3}</span>', page)
    assert "label.js" not in page and 'id="skip-form"' not in page
    # A save posted anyway (an old tab) is refused and lands on the read-only page.
    response = alice.post(f"/assignments/{mine.assignment_id}/", form(based_on=2))
    assert response.status_code == 302
    assert response["Location"] == f"/assignments/{mine.assignment_id}/"
    assert Annotation.objects.filter(assignment_id=mine.assignment_id).count() == 2


def test_an_item_of_a_complete_prompt_opens_read_only(alice, project, cast, make_user):
    carol = make_user("carol")
    membership_set(
        project=project, user=carol, role=Membership.Role.ANNOTATOR, actor=None, now=timezone.now()
    )
    acknowledge(project, carol)
    mine = annotate(project, cast["alice"])
    annotate(project, cast["bob"])
    annotate(project, carol)
    page = alice.get(f"/assignments/{mine.assignment_id}/").content.decode()
    assert read_only(page)
    assert "This prompt is complete" in page


def test_a_skipped_item_opens_read_only_with_the_reason_given(alice, project, cast):
    held = lease(project, cast["alice"])
    assignment_skip(assignment=held, reason="Outside my field.", now=timezone.now())
    page = alice.get(f"/assignments/{held.pk}/").content.decode()
    assert read_only(page)
    assert "You skipped this item." in page and "Outside my field." in page


def test_a_save_from_a_second_tab_is_warned_and_replaces_only_when_confirmed(alice, project, cast):
    held = lease(project, cast["alice"])
    url = f"/assignments/{held.pk}/"
    # Two tabs open the item; the first saves.
    assert 'name="based_on" value="0"' in alice.get(url).content.decode()
    assert alice.post(url, form("ABCD", "from tab one", based_on=0)).status_code == 302
    # The second, opened before that save, is warned; what it typed is kept, unsaved.
    response = alice.post(url, form("DCBA", "from tab two", based_on=0))
    assert response.status_code == 409
    page = response.content.decode()
    assert "saved from somewhere else" in page
    assert f'<a href="/assignments/{held.pk}/?saved=1">see the version saved</a>' in page
    assert "from tab two" in page and 'name="based_on" value="1"' in page
    assert Annotation.objects.get(assignment=held, is_current=True).comment == "from tab one"
    # Saving again, now knowing, replaces it.
    assert alice.post(url, form("DCBA", "from tab two", based_on=1)).status_code == 302
    current = Annotation.objects.get(assignment=held, is_current=True)
    assert (current.comment, current.version) == ("from tab two", 2)
    # The same save sent twice (a double click) is no conflict and stores nothing.
    assert alice.post(url, form("DCBA", "from tab two", based_on=1)).status_code == 302
    assert Annotation.objects.filter(assignment=held).count() == 2


def test_home_lists_the_raters_rejections_with_the_reasons(alice, project, cast):
    mine = annotate(project, cast["alice"])
    annotation_reject(
        annotation=mine, reviewer=cast["rita"], reason="Read rule 2 again.", now=timezone.now()
    )
    page = alice.get("/").content.decode()
    assert "Rejected by a reviewer" in page and "Read rule 2 again." in page
    assert f'href="/assignments/{mine.assignment_id}/"' in page
    bob_home = alice
    bob_home.login(username="bob", password=PASSWORD)
    assert "Rejected by a reviewer" not in bob_home.get("/").content.decode()


def test_my_annotations_lists_every_item_with_its_status_and_note(
    alice, project, project_factory, cast
):
    first = annotate(project, cast["alice"])
    second = annotate(project, cast["alice"])
    annotation_reject(
        annotation=second, reviewer=cast["rita"], reason="Too fast.", now=timezone.now()
    )
    other = project_factory("Summaries")
    import_items(other, prompt_line("s-1"))
    elsewhere = annotate(other, cast["alice"])
    annotate(project, cast["bob"])  # nobody else's work is listed

    def items(**query) -> list[int]:
        page = alice.get("/annotations/", query).content.decode()
        assert "p-1" not in page and "p-2" not in page  # items, never prompt ids
        return [int(n) for n in re.findall(r'href="/assignments/(\d+)/"', page)]

    assert items() == [elsewhere.assignment_id, second.assignment_id, first.assignment_id]
    assert items(status="rejected") == [second.assignment_id]
    assert items(status="editable") == [elsewhere.assignment_id, first.assignment_id]
    assert items(project=str(other.pk)) == [elsewhere.assignment_id]
    page = alice.get("/annotations/", {"status": "rejected"}).content.decode()
    assert "Too fast." in page and "Rejected" in page


def test_a_stale_tab_is_warned_even_when_its_save_has_errors(alice, project, cast):
    held = lease(project, cast["alice"])
    url = f"/assignments/{held.pk}/"
    assert alice.post(url, form("ABCD", "tab one", based_on=0)).status_code == 302
    incomplete = {k: v for k, v in form("DCBA", "tab two", based_on=0).items() if k != "rank-A"}
    response = alice.post(url, incomplete)
    assert response.status_code == 400
    page = response.content.decode()
    assert "saved from somewhere else" in page and 'name="based_on" value="1"' in page


def test_a_draft_typed_over_a_version_saved_since_is_a_conflict_not_a_restore(alice, project, cast):
    held = lease(project, cast["alice"])
    url = f"/assignments/{held.pk}/"
    # Tab two types (its draft is kept, over no saved version); tab one then saves.
    alice.post(f"{url}draft/", {**form("DCBA", "typed in tab two"), "based_on": "0"})
    assert alice.post(url, form("ABCD", "saved in tab one", based_on=0)).status_code == 302
    # Typed after that save? No: the draft came first, so it is older and not shown.
    page = alice.get(url).content.decode()
    assert "saved in tab one" in page and "typed in tab two" not in page
    # Typed again in tab two, still over no version: a conflict, with both a click apart.
    alice.post(f"{url}draft/", {**form("DCBA", "typed in tab two"), "based_on": "0"})
    page = alice.get(url).content.decode()
    assert "typed in tab two" in page and "saved from somewhere else" in page
    assert 'name="based_on" value="1"' in page and 'id="restored"' not in page
    saved = alice.get(url, {"saved": "1"}).content.decode()
    assert "saved in tab one" in saved and "saved from somewhere else" not in saved
