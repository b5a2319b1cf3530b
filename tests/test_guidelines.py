"""Guidelines that change mid-project (issue 4)."""

import re

import pytest
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEvent
from labelling.guidelines import RelabelFilters, guideline_publish, relabel_request, word_diff
from labelling.models import (
    Annotation,
    Assignment,
    GuidelineAcknowledgement,
    GuidelineVersion,
    Prompt,
    RelabelRequest,
)
from tests.conftest import PASSWORD, acknowledge, import_items, prompt_line

V2 = "# Guidelines\n\nRank by **correctness** first, then clarity.\n"


def publish(project, cast, body=V2, summary="Correctness before clarity."):
    return guideline_publish(
        project=project, body=body, change_summary=summary, actor=cast["adam"], now=timezone.now()
    )


def relabel(project, cast, **filters):
    return relabel_request(
        project=project,
        actor=cast["adam"],
        now=timezone.now(),
        annotations_wanted=1,
        filters=RelabelFilters(**filters),
        repeat_allowed=False,
    )


def label_one(client, project) -> dict:
    """alice (or whoever holds `client`) takes the next item and submits it."""
    body = client.post(f"/api/projects/{project.pk}/next/").json()
    ids = [r["id"] for r in body["responses"]]
    submission = {
        "ranking": [[i] for i in ids],
        "ratings": {str(i): {"helpfulness": 4, "honesty": 4} for i in ids},
    }
    response = client.post(
        f"/api/assignments/{body['assignment_id']}/submit/", submission, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- publishing --------------------------------------------------------------------------


def test_an_admin_publishes_a_numbered_version_and_it_is_audited(api, project):
    response = api("adam").post(
        f"/api/projects/{project.pk}/guidelines/",
        {"body": V2, "change_summary": "Correctness first."},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2 and response.json()["published_by"] == "adam"
    project.refresh_from_db()
    assert project.guideline_version == 2
    assert GuidelineVersion.objects.get(project=project, version=1).body != V2
    event = AuditEvent.objects.get(verb="guideline.published")
    assert event.data == {"version": 2, "change_summary": "Correctness first."}
    listed = api("alice").get(f"/api/projects/{project.pk}/guidelines/").json()["results"]
    assert [v["version"] for v in listed] == [2, 1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": V2}, "change_summary"),
        ({"body": V2, "change_summary": "  "}, "change_summary"),
        ({"body": "", "change_summary": "x"}, "body"),
        ({"change_summary": "x"}, "body"),
    ],
)
def test_a_publish_without_body_or_summary_is_refused(api, project, body, field):
    response = api("adam").post(f"/api/projects/{project.pk}/guidelines/", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert GuidelineVersion.objects.filter(project=project).count() == 1


def test_publishing_the_same_text_again_is_refused(project, cast):
    publish(project, cast)
    with pytest.raises(DomainError, match="nothing changed"):
        publish(project, cast)


def test_published_versions_have_no_way_to_change(api, project):
    url = f"/api/projects/{project.pk}/guidelines/"
    assert api("adam").put(url, {"body": "x"}, format="json").status_code == 405
    assert api("adam").patch(url, {"body": "x"}, format="json").status_code == 405
    assert api("adam").delete(url).status_code == 405


# --- the acknowledgement gate -------------------------------------------------------------


def test_after_a_publish_the_api_asks_for_acknowledgement_first(api, project, cast):
    import_items(project, prompt_line("p-1"))
    publish(project, cast)
    client = api("alice")
    response = client.post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 409
    assert response.json()["guideline_version"] == 2

    ack = client.post(f"/api/projects/{project.pk}/guidelines/2/acknowledge/")
    assert ack.status_code == 200 and ack.json()["version"] == 2
    assert GuidelineAcknowledgement.objects.filter(user=cast["alice"], version=2).exists()
    assert client.post(f"/api/projects/{project.pk}/next/").status_code == 200


def test_acknowledging_a_missing_version_is_a_400(api, project):
    response = api("alice").post(f"/api/projects/{project.pk}/guidelines/7/acknowledge/")
    assert response.status_code == 400


def test_a_new_annotator_reads_version_one_first(api, project, cast):
    from labelling.services import membership_set

    membership_set(
        project=project, user=cast["olga"], role="annotator", actor=None, now=timezone.now()
    )
    assert api("olga").post(f"/api/projects/{project.pk}/next/").status_code == 409


def test_a_lease_spanning_a_publish_finishes_under_its_version(api, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client = api("alice")
    held = client.post(f"/api/projects/{project.pk}/next/").json()
    publish(project, cast)

    again = client.post(f"/api/projects/{project.pk}/next/")
    assert again.status_code == 200 and again.json()["assignment_id"] == held["assignment_id"]
    ids = [r["id"] for r in held["responses"]]
    client.post(
        f"/api/assignments/{held['assignment_id']}/submit/",
        {"ranking": [ids], "ratings": {str(i): {"helpfulness": 4, "honesty": 4} for i in ids}},
        format="json",
    )
    assert Annotation.objects.get().guideline_version == 1
    assert client.post(f"/api/projects/{project.pk}/next/").status_code == 409


def test_the_page_shows_the_changes_and_records_the_acknowledgement(client, project, cast):
    import_items(project, prompt_line("p-1"))
    publish(project, cast)
    client.login(username="alice", password=PASSWORD)
    assert "guidelines updated to v2" in client.get("/").content.decode()

    response = client.post(f"/projects/{project.pk}/next/")
    assert response["Location"] == f"/projects/{project.pk}/guidelines/acknowledge/"
    page = client.get(response["Location"]).content.decode()
    assert "Correctness before clarity." in page
    assert "<ins>" in page and "<del>" in page
    assert "What changed since version 1" in page

    response = client.post(f"/projects/{project.pk}/guidelines/acknowledge/")
    assert response.status_code == 302 and "/assignments/" in response["Location"]
    ack = GuidelineAcknowledgement.objects.get(user=cast["alice"], version=2)
    assert (timezone.now() - ack.acknowledged_at).total_seconds() < 60
    assert "guidelines updated" not in client.get("/").content.decode()


# --- the diff -----------------------------------------------------------------------------


def test_word_diff_marks_insertions_and_deletions():
    assert word_diff("rank the best first", "rank the safest first") == (
        "rank the <del>best</del><ins>safest</ins> first"
    )
    assert word_diff("a b", "a b c") == "a b<ins> c</ins>"


def test_word_diff_escapes_what_it_shows():
    html = word_diff("<b>old</b>", "<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


# --- re-labelling ---------------------------------------------------------------------------


def _labelled_under_v1(project, api, n=2):
    project.annotations_per_prompt = 1
    project.save()
    lines = [prompt_line(f"p-{i}", metadata={"domain": "maths" if i else "code"}) for i in range(n)]
    import_items(project, *lines)
    client = api("alice")
    for _ in range(n):
        label_one(client, project)
    assert client.post(f"/api/projects/{project.pk}/next/").status_code == 204


def test_relabelling_raises_targets_and_the_queue_serves_them_again(api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    acknowledge(project, cast["alice"], cast["bob"])

    response = api("adam").post(
        f"/api/projects/{project.pk}/relabel/", {"annotations_wanted": 1}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["prompts_raised"] == 2
    assert set(Prompt.objects.values_list("target", flat=True)) == {2}

    # alice labelled them before and repeats were not allowed; bob gets both, under v2.
    assert api("alice").post(f"/api/projects/{project.pk}/next/").status_code == 204
    bob = api("bob")
    label_one(bob, project)
    label_one(bob, project)
    assert bob.post(f"/api/projects/{project.pk}/next/").status_code == 204
    versions = sorted(Annotation.objects.values_list("guideline_version", flat=True))
    assert versions == [1, 1, 2, 2]  # the old annotations are still there
    assert AuditEvent.objects.filter(verb="relabel.requested").count() == 1


def test_relabelling_may_let_earlier_annotators_label_again(api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    acknowledge(project, cast["alice"])
    api("adam").post(
        f"/api/projects/{project.pk}/relabel/",
        {"annotations_wanted": 1, "repeat_allowed": True},
        format="json",
    )
    client = api("alice")
    label_one(client, project)
    label_one(client, project)
    assert client.post(f"/api/projects/{project.pk}/next/").status_code == 204
    rounds = sorted(cast["alice"].assignments.values_list("round", flat=True))
    assert rounds == [0, 0, 1, 1]


def test_relabelling_skips_prompts_already_labelled_under_the_current_version(api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    first = relabel(project, cast, metadata={"domain": "maths"})
    assert first.prompts_raised == 1
    assert Prompt.objects.get(external_id="p-1").target == 2
    assert Prompt.objects.get(external_id="p-0").target == 1
    acknowledge(project, cast["bob"])
    label_one(api("bob"), project)  # p-1 now has a v2 annotation
    again = relabel(project, cast, versions=[1])
    assert again.prompts_raised == 1  # only p-0: p-1 has a label under v2


def test_relabelling_in_the_pages_shows_what_it_will_do_then_can_be_cancelled(
    client, api, project, cast
):
    _labelled_under_v1(project, api)
    publish(project, cast)
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Ask for fresh annotations under version 2" in page
    asked = {
        "annotations_wanted": 2,
        "versions": [1],
        "metadata_key": "domain",
        "metadata_value": "code",
    }
    # First what it would do; nothing changes yet.
    preview = client.post(f"/projects/{project.pk}/relabel/", asked).content.decode()
    assert (
        "1 prompt, with 1 annotations so far, will go back to the queue for 2 fresh "
        "annotation(s) under version 2: 2 in all." in preview
    )
    assert Prompt.objects.get(external_id="p-0").target == 1
    assert not RelabelRequest.objects.exists()
    # Confirmed, from the preview's own hidden fields.
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview))
    assert hidden["metadata_value"] == "code" and hidden["confirm"] == "1"
    response = client.post(
        f"/projects/{project.pk}/relabel/", {**asked, "confirm": "1"}, follow=True
    )
    page = response.content.decode()
    assert "1 prompt will get 2 fresh annotations under version 2." in page
    assert Prompt.objects.get(external_id="p-0").target == 3
    assert "1 prompt still waiting" in page
    # Asking again for the same prompt says it already waits.
    again = client.post(f"/projects/{project.pk}/relabel/", asked).content.decode()
    assert "1 of these prompts still waits for annotations asked for before" in again
    # Cancelled: the target falls back; the request says so, and is audited.
    wanted = RelabelRequest.objects.get()
    page = client.post(
        f"/projects/{project.pk}/relabel/{wanted.pk}/cancel/", follow=True
    ).content.decode()
    assert "Cancelled: 1 prompt no longer waits for its fresh annotations." in page
    assert "cancelled by adam" in page
    assert Prompt.objects.get(external_id="p-0").target == 1
    assert AuditEvent.objects.filter(verb="relabel.cancelled").count() == 1
    again = client.post(f"/projects/{project.pk}/relabel/{wanted.pk}/cancel/", follow=True)
    assert "already cancelled" in again.content.decode()


def test_cancelling_keeps_the_fresh_annotations_already_made_or_held(api, project, cast):
    from labelling.guidelines import relabel_cancel

    _labelled_under_v1(project, api, n=1)
    publish(project, cast)
    acknowledge(project, cast["bob"])
    wanted = relabel_request(
        project=project, actor=cast["adam"], now=timezone.now(), annotations_wanted=3,
        filters=RelabelFilters(), repeat_allowed=False,
    )  # fmt: skip
    assert Prompt.objects.get().target == 4
    label_one(api("bob"), project)  # one fresh annotation made
    assert relabel_cancel(request=wanted, actor=cast["adam"], now=timezone.now()) == 1
    prompt = Prompt.objects.get()
    assert (prompt.target, prompt.live_count) == (2, 2)


def test_the_api_says_what_a_request_would_do_with_dry_run(api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    response = api("adam").post(
        f"/api/projects/{project.pk}/relabel/",
        {"annotations_wanted": 2, "dry_run": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "dry_run": True, "prompts": 2, "annotations": 2, "fresh": 4, "waiting": 0,
    }  # fmt: skip
    assert set(Prompt.objects.values_list("target", flat=True)) == {1}
    assert not RelabelRequest.objects.exists()


def test_a_preview_that_matches_nothing_says_so(client, api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    client.login(username="adam", password=PASSWORD)
    page = client.post(
        f"/projects/{project.pk}/relabel/",
        {"annotations_wanted": 1, "metadata_key": "domain", "metadata_value": "poetry"},
    ).content.decode()
    assert "No prompt matches" in page and 'name="confirm"' not in page


# --- visibility -----------------------------------------------------------------------------


def test_project_page_shows_each_version_with_its_annotation_count(client, api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    client.login(username="rita", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Correctness before clarity." in page
    assert "2 annotations" in page and "0 annotations" in page


def test_guideline_page_lists_every_version_with_its_diff(client, project, cast):
    publish(project, cast)
    publish(project, cast, body=V2 + "\nFlag anything unsafe.\n", summary="Flag unsafe.")
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert "Version 3" in page and "Version 2" in page and "Version 1" in page
    assert "Changes from version 2 to 3" in page and "Changes from version 1 to 2" in page
    assert "<ins>" in page


def test_guideline_editor_previews_through_the_sanitiser(client, project):
    client.login(username="adam", password=PASSWORD)
    response = client.post(
        f"/projects/{project.pk}/guidelines/preview/", {"body": "**b** <script>x</script>"}
    )
    assert response.content.decode().strip() == (
        "<p><strong>b</strong> &lt;script&gt;x&lt;/script&gt;</p>"
    )
    response = client.post(
        f"/projects/{project.pk}/guidelines/new/", {"body": V2, "change_summary": "New rules."}
    )
    assert response.status_code == 302
    assert project.guidelines.count() == 2


def test_annotations_api_filters_by_version(api, project, cast):
    _labelled_under_v1(project, api)
    publish(project, cast)
    acknowledge(project, cast["bob"])
    relabel(project, cast)
    label_one(api("bob"), project)
    client = api("erin")
    url = f"/api/projects/{project.pk}/annotations/"
    assert client.get(url).json()["count"] == 3
    only_v2 = client.get(url, {"guideline_version": 2}).json()
    assert [a["guideline_version"] for a in only_v2["results"]] == [2]
    both = client.get(f"{url}?guideline_version=1&guideline_version=2").json()
    assert both["count"] == 3
    assert client.get(url, {"annotator": "alice"}).status_code == 400
    assert client.get(url, {"guideline_version": "two"}).status_code == 400
    # erin, an engineer, sees raters by pseudonym; adam, an admin, by username.
    from labelling.visibility import annotator_pseudonym

    assert {a["annotator"] for a in only_v2["results"]} == {
        annotator_pseudonym(project, cast["bob"].pk)
    }
    as_admin = api("adam").get(url, {"guideline_version": 2}).json()["results"]
    assert [a["annotator"] for a in as_admin] == ["bob"]


# --- selectors for statistics and exports -------------------------------------------------


def test_statistics_and_exports_can_be_restricted_to_guideline_versions(api, project, cast):
    from labelling.selectors import annotations_for, counts_by_version, preferences_for

    _labelled_under_v1(project, api)  # 2 annotations under v1, 6 pairs each
    publish(project, cast)
    acknowledge(project, cast["bob"])
    relabel(project, cast)
    label_one(api("bob"), project)

    assert counts_by_version(project=project) == [
        {"version": 1, "annotations": 2, "pairs": 12, "ties": 0},
        {"version": 2, "annotations": 1, "pairs": 6, "ties": 0},
    ]
    assert annotations_for(project=project, versions=[2]).count() == 1
    assert annotations_for(project=project, min_version=1).count() == 3
    assert preferences_for(project=project, min_version=2).count() == 6
    assert {p.guideline_version for p in preferences_for(project=project, versions=[1])} == {1}
    assert preferences_for(project=project, include_ties=False).count() == 18


def test_relabel_metadata_keys_are_keys_and_values_compare_by_equality(api, project, cast):
    """issue 15: no metadata key can become a database lookup or transform. "contains"
    or "domain__contains" name keys of the prompt's metadata, nothing else."""
    project.annotations_per_prompt = 1
    project.save()
    lines = [
        prompt_line("p-0", metadata={"domain": "maths", "contains": "x"}),
        prompt_line("p-1", metadata={"domain": "mathsy", "domain__contains": "math"}),
        prompt_line("p-2", metadata={"domain": ["maths"]}),
    ]
    import_items(project, *lines)
    client = api("alice")
    for _ in lines:
        label_one(client, project)
    publish(project, cast)
    raised = []
    for metadata in (
        {"contains": "x"},  # the key "contains", not JSON containment
        {"domain__contains": "math"},  # the key "domain__contains", not a substring
        {"domain": "maths"},  # equal: not "mathsy", not ["maths"]
        {"domain": ["maths"]},
        {"__class__": "x"},
        {"has space": "x"},
    ):
        request = relabel(project, cast, metadata=metadata)
        raised.append(sorted(Prompt.objects.filter(target=2).values_list("external_id", flat=True)))
        assert request.prompts_raised == len(raised[-1])
        Prompt.objects.update(target=1)
    assert raised == [["p-0"], ["p-1"], ["p-0"], ["p-2"], [], []]


def test_relabel_metadata_keys_must_be_names(api, project):
    for key in ("", "k" * 201):
        response = api("adam").post(
            f"/api/projects/{project.pk}/relabel/", {"metadata": {key: "x"}}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "metadata"


def test_relabelling_can_target_prompts_with_low_agreement(api, project, cast):
    project.annotations_per_prompt = 2
    project.save()
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    for name, reverse_on in [("alice", None), ("bob", "p-2")]:
        client = api(name)
        for _ in range(2):
            body = client.post(f"/api/projects/{project.pk}/next/").json()
            # Letters in the order of the responses' ids, so both rank them alike.
            assignment = Assignment.objects.get(pk=body["assignment_id"])
            ids = [
                letter
                for _rid, letter in sorted(zip(assignment.display_order, "ABCD", strict=True))
            ]
            if assignment.prompt.external_id == reverse_on:
                ids.reverse()
            client.post(
                f"/api/assignments/{body['assignment_id']}/submit/",
                {
                    "ranking": [[i] for i in ids],
                    "ratings": {str(i): {"helpfulness": 4, "honesty": 4} for i in ids},
                },
                format="json",
            )
    publish(project, cast)
    # p-1: alice and bob agree on all 6 pairs; p-2: on none.
    response = api("adam").post(
        f"/api/projects/{project.pk}/relabel/",
        {"annotations_wanted": 1, "max_agreement": 0.5},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["prompts_raised"] == 1
    assert response.json()["filters"] == {"max_agreement": 0.5}
    assert Prompt.objects.get(external_id="p-2").target == 3
    assert Prompt.objects.get(external_id="p-1").target == 2


def test_the_page_gate_applies_after_saving_an_item_too(client, project, cast):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    client.login(username="alice", password=PASSWORD)
    held = client.post(f"/projects/{project.pk}/next/")["Location"]
    publish(project, cast)  # while alice is labelling
    from labelling.models import Assignment

    assignment = Assignment.objects.get()
    assert held == f"/assignments/{assignment.pk}/"
    # The form names the responses by the letters alice sees.
    form = {f"rank-{letter}": str(n + 1) for n, letter in enumerate("ABCD")}
    for letter in "ABCD":
        form[f"rating-{letter}-helpfulness"] = "4"
        form[f"rating-{letter}-honesty"] = "4"
    response = client.post(held, form)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/guidelines/acknowledge/"
    assert Annotation.objects.get().guideline_version == 1  # finished under its version
    assert Assignment.objects.count() == 1  # no new item before reading v2


def test_a_browser_edit_with_crlf_line_endings_diffs_only_what_changed(client, project, cast):
    publish(project, cast, body="# Rules\n\nRank the best first.\nBe kind.\n", summary="v2")
    client.login(username="adam", password=PASSWORD)
    # what a browser's textarea sends back: CRLF everywhere, one word changed
    edited = "# Rules\r\n\r\nRank the safest first.\r\nBe kind.\r\n"
    response = client.post(
        f"/projects/{project.pk}/guidelines/new/", {"body": edited, "change_summary": "Safety."}
    )
    assert response.status_code == 302
    v3 = project.guidelines.get(version=3)
    assert "\r" not in v3.body
    diff = word_diff(project.guidelines.get(version=2).body, v3.body)
    assert diff == "# Rules\n\nRank the <del>best</del><ins>safest</ins> first.\nBe kind.\n"


def test_only_line_endings_changed_is_nothing_changed(project, cast):
    publish(project, cast, body="# Rules\nBe kind.\n", summary="v2")
    with pytest.raises(DomainError, match="nothing changed"):
        publish(project, cast, body="# Rules\r\nBe kind.\r\n", summary="CRLF")
