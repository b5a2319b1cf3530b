"""Exports (issue 6): formats pinned by golden rows for a small hand-made project, filters,
splits, jobs with progress and manifests, byte-identical re-runs, and proof that Hugging
Face datasets and TRL accept the files."""

import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from exports.formats import annotator_pseudonym, split_of
from exports.models import Export
from exports.services import export_build, export_create, export_path
from labelling.importing import prompts_import
from labelling.models import Annotation, Membership
from labelling.review import annotation_reject
from labelling.services import membership_set
from tests.conftest import acknowledge, annotate, jsonl, prompt_line

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def groups(*letters):
    """groups("1", "23", "4") -> a ranking function: response 1 best, 2 and 3 tied..."""

    def rank(ids):
        return [[ids[int(c) - 1] for c in group] for group in letters]

    return rank


@pytest.fixture
def labelled(project, cast):
    """p-1 (text): alice 1 > 2=3 > 4, bob 2 > 1 > 3 > 4, olga 4 > 3 > 2 > 1 (rejected).
    p-2 (chat): alice 4 > 3 > 2 > 1, bob 1 > 2 > 3 > 4 with response 1 flagged unsafe."""
    project.pseudonym_key = "k" * 64
    project.save(update_fields=["pseudonym_key"])
    membership_set(
        project=project,
        user=cast["olga"],
        role=Membership.Role.ANNOTATOR,
        actor=None,
        now=timezone.now(),
    )
    acknowledge(project, cast["olga"])

    def load(item):
        prompts_import(
            project=project, stream=io.BytesIO(jsonl(item)), actor=None, now=timezone.now()
        )

    load(prompt_line("p-1"))
    annotate(project, cast["alice"], rank=groups("1", "23", "4"))
    annotate(project, cast["bob"], rank=groups("2", "1", "3", "4"))
    rejected = annotate(project, cast["olga"], rank=groups("4", "3", "2", "1"))
    annotation_reject(
        annotation=rejected, reviewer=cast["rita"], reason="Reversed.", now=timezone.now()
    )
    load(prompt_line("p-2", prompt=CHAT))
    annotate(project, cast["alice"], rank=groups("4", "3", "2", "1"))
    annotate(
        project,
        cast["bob"],
        rank=groups("1", "2", "3", "4"),
        flags=lambda ids: {str(ids[0]): ["unsafe"]},
    )
    return project


def build(project, fmt="pairwise", file_format="jsonl", filters=None, test_fraction=0.5):
    export = export_create(
        project=project,
        user=None,
        format=fmt,
        file_format=file_format,
        filters=filters or {},
        test_fraction=test_fraction,
        now=timezone.now(),
    )
    return export_build(export_id=export.pk)


def lines(export):
    return [json.loads(line) for line in export_path(export).read_bytes().splitlines()]


def user_turn(text):
    return [{"role": "user", "content": text}]


def answer(n):
    return [{"role": "assistant", "content": f"Answer {n}"}]


def pairwise_row(project, cast, prompt, chosen, rejected, margin, who):
    return {
        "prompt": user_turn("Explain TCP slow start.") if prompt == "p-1" else CHAT,
        "chosen": answer(chosen),
        "rejected": answer(rejected),
        "margin": margin,
        "prompt_id": prompt,
        "chosen_id": f"r{chosen}",
        "rejected_id": f"r{rejected}",
        "chosen_model": f"model-{'abcd'[chosen - 1]}",
        "rejected_model": f"model-{'abcd'[rejected - 1]}",
        "annotator": annotator_pseudonym(project, cast[who].pk),
        "guideline_version": 1,
        "split": "test" if prompt == "p-1" else "train",
    }


def test_splits_are_whole_prompts_by_a_stable_hash():
    assert split_of("p-1", 0.5) == "test" and split_of("p-2", 0.5) == "train"
    assert split_of("p-1", 0.0) == "train"
    shares = [split_of(f"x-{i}", 0.2) for i in range(4000)]
    assert 0.17 < shares.count("test") / 4000 < 0.23


def test_pairwise_rows_are_exactly_the_annotators_non_tied_pairs(labelled, cast):
    export = build(labelled)
    expected = [
        # p-1, alice: 1 > 2=3 > 4 (the tie 2=3 is not a row)
        (1, 2, 1, "alice"), (1, 3, 1, "alice"), (1, 4, 2, "alice"), (2, 4, 1, "alice"),
        (3, 4, 1, "alice"),
        # p-1, bob: 2 > 1 > 3 > 4; olga's rejected annotation is left out
        (1, 3, 1, "bob"), (1, 4, 2, "bob"), (2, 1, 1, "bob"), (2, 3, 2, "bob"),
        (2, 4, 3, "bob"), (3, 4, 1, "bob"),
    ]  # fmt: skip
    expected_p2 = [
        # p-2 (chat), alice: 4 > 3 > 2 > 1
        (2, 1, 1, "alice"), (3, 1, 2, "alice"), (3, 2, 1, "alice"), (4, 1, 3, "alice"),
        (4, 2, 2, "alice"), (4, 3, 1, "alice"),
        # p-2, bob: pairs with the response he flagged unsafe are left out
        (2, 3, 1, "bob"), (2, 4, 2, "bob"), (3, 4, 1, "bob"),
    ]  # fmt: skip
    assert lines(export) == [pairwise_row(labelled, cast, "p-1", *row) for row in expected] + [
        pairwise_row(labelled, cast, "p-2", *row) for row in expected_p2
    ]
    assert export.row_count == 20
    assert export.manifest["counts"] == {
        "rows": 20, "train": 9, "test": 11, "prompts": 2, "annotators": 2
    }  # fmt: skip
    assert export.manifest["conversational"] is True
    assert export.manifest["models"] == ["model-a", "model-b", "model-c", "model-d"]
    # Pseudonyms: stable, not the username, different per annotator.
    names = {row["annotator"] for row in lines(export)}
    assert len(names) == 2 and not names & {"alice", "bob"}


def test_consensus_rows_count_votes_and_drop_even_pairs(labelled):
    rows = lines(build(labelled, "consensus"))
    summary = [
        (r["prompt_id"], r["chosen_id"], r["rejected_id"], r["votes_for"], r["votes_against"],
         r["ties"], r["margin"], r["agreement"], r["guideline_versions"])
        for r in rows
    ]  # fmt: skip
    assert summary == [
        # p-1: 1-2 is one vote each (dropped); 2-3 is bob's vote against alice's tie.
        ("p-1", "r1", "r3", 2, 0, 0, 1.0, 1.0, [1]),
        ("p-1", "r1", "r4", 2, 0, 0, 1.0, 1.0, [1]),
        ("p-1", "r2", "r3", 1, 0, 1, 0.5, 0.5, [1]),
        ("p-1", "r2", "r4", 2, 0, 0, 1.0, 1.0, [1]),
        ("p-1", "r3", "r4", 2, 0, 0, 1.0, 1.0, [1]),
        # p-2: bob's flagged pairs do not vote; alice and bob split the rest evenly.
        ("p-2", "r2", "r1", 1, 0, 0, 1.0, 1.0, [1]),
        ("p-2", "r3", "r1", 1, 0, 0, 1.0, 1.0, [1]),
        ("p-2", "r4", "r1", 1, 0, 0, 1.0, 1.0, [1]),
    ]
    assert rows[0]["prompt"] == user_turn("Explain TCP slow start.")
    assert rows[0]["chosen"] == answer(1) and rows[0]["chosen_model"] == "model-a"
    # Even pairs come back as ties (margin 0) when asked for.
    with_ties = lines(build(labelled, "consensus", filters={"include_ties": True}))
    even = [r for r in with_ties if r["votes_for"] == r["votes_against"]]
    assert [(r["prompt_id"], r["chosen_id"], r["rejected_id"]) for r in even] == [
        ("p-1", "r1", "r2"), ("p-2", "r2", "r3"), ("p-2", "r2", "r4"), ("p-2", "r3", "r4")
    ]  # fmt: skip
    assert all(r["margin"] == 0 for r in even)
    high = lines(build(labelled, "consensus", filters={"min_agreement": 0.75}))
    assert ("r2", "r3") not in {(r["chosen_id"], r["rejected_id"]) for r in high}


def test_hh_rows_are_full_transcripts(labelled, cast):
    rows = lines(build(labelled, "hh"))
    assert rows[0] == {
        "chosen": "\n\nHuman: Explain TCP slow start.\n\nAssistant: Answer 1",
        "rejected": "\n\nHuman: Explain TCP slow start.\n\nAssistant: Answer 2",
        "prompt_id": "p-1",
        "chosen_id": "r1",
        "rejected_id": "r2",
        "chosen_model": "model-a",
        "rejected_model": "model-b",
        "annotator": annotator_pseudonym(labelled, cast["alice"].pk),
        "guideline_version": 1,
        "split": "test",
    }
    chat = next(r for r in rows if r["prompt_id"] == "p-2")
    assert chat["chosen"] == "\n\nSystem: Be brief.\n\nHuman: Hi?\n\nAssistant: Answer 2"


def test_annotations_rows_are_the_labels_as_recorded(labelled, cast):
    rows = lines(build(labelled, "annotations", filters={"include_flagged": True}))
    assert [(r["prompt_id"], r["ranking"]) for r in rows] == [
        ("p-1", [["r1"], ["r2", "r3"], ["r4"]]),
        ("p-1", [["r2"], ["r1"], ["r3"], ["r4"]]),
        ("p-2", [["r4"], ["r3"], ["r2"], ["r1"]]),
        ("p-2", [["r1"], ["r2"], ["r3"], ["r4"]]),
    ]
    first = rows[0]
    assert first["ratings"] == {f"r{i}": {"helpfulness": 1, "honesty": 1} for i in range(1, 5)}
    assert first["responses"][0] == {"id": "r1", "model": "model-a", "text": "Answer 1"}
    assert sorted(first["display_order"]) == ["r1", "r2", "r3", "r4"]
    assert rows[3]["flags"] == {"r1": ["unsafe"]}
    assert first["annotator"] == annotator_pseudonym(labelled, cast["alice"].pk)
    # Flagged annotations are left out by default; rejected ones come in when asked for.
    assert len(lines(build(labelled, "annotations"))) == 3
    with_rejected = lines(
        build(labelled, "annotations", filters={"include_rejected": True, "include_flagged": True})
    )
    rejected = [r for r in with_rejected if r["rejected"]]
    assert len(rejected) == 1 and rejected[0]["rejection_reason"] == "Reversed."


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, 20),
        ({"include_ties": True}, 21),  # alice's 2=3 on p-1
        ({"include_rejected": True}, 26),  # olga's six pairs
        ({"include_flagged": True}, 23),  # bob's three pairs with response 1 on p-2
        ({"models": ["model-b", "model-c", "model-d"]}, 11),  # no pair with response 1
        ({"guideline_versions": [2]}, 0),
        ({"min_guideline_version": 1}, 20),
        ({"min_agreement": 0.6}, 11),  # p-1 agrees on 4 of 6 pairs, p-2 on none
        ({"until": "2000-01-01"}, 0),
        ({"since": "2000-01-01"}, 20),
    ],
)
def test_pairwise_filters(labelled, filters, expected):
    assert build(labelled, filters=filters).row_count == expected


def test_the_same_filters_over_the_same_data_give_the_same_bytes(labelled):
    for fmt, file_format in [
        ("pairwise", "jsonl"),
        ("pairwise", "parquet"),
        ("consensus", "parquet"),
    ]:
        first = build(labelled, fmt, file_format)
        second = build(labelled, fmt, file_format)
        assert export_path(first).read_bytes() == export_path(second).read_bytes()
        assert first.sha256 == second.sha256
        assert first.pk != second.pk


def test_every_file_loads_in_hugging_face_datasets(labelled, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from datasets import load_dataset

    expected = {
        ("pairwise", "jsonl"): 20,
        ("pairwise", "parquet"): 20,
        ("consensus", "jsonl"): 8,
        ("consensus", "parquet"): 8,
        ("hh", "jsonl"): 20,
        ("annotations", "jsonl"): 3,
    }
    for (fmt, file_format), rows in expected.items():
        export = build(labelled, fmt, file_format)
        loader = "parquet" if file_format == "parquet" else "json"
        dataset = load_dataset(
            loader, data_files=str(export_path(export)), split="train", cache_dir=str(tmp_path)
        )
        assert dataset.num_rows == rows, (fmt, file_format)
        assert dataset.column_names == export.manifest["columns"], (fmt, file_format)


def test_trl_recognises_the_pairwise_export_as_a_preference_dataset(
    labelled, project_factory, cast, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from datasets import load_dataset
    from trl.data_utils import is_conversational, maybe_extract_prompt, unpair_preference_dataset

    # Conversational: the project has a chat prompt.
    conversational = load_dataset(
        "json", data_files=str(export_path(build(labelled))), split="train", cache_dir=str(tmp_path)
    )
    assert is_conversational(conversational[0])
    unpaired = unpair_preference_dataset(conversational)
    assert unpaired.num_rows == 2 * conversational.num_rows
    assert {"prompt", "completion", "label"} <= set(unpaired.column_names)

    # Standard: a project of text prompts only.
    text_only = project_factory("Text only")
    prompts_import(
        project=text_only,
        stream=io.BytesIO(jsonl(prompt_line("t-1"))),
        actor=None,
        now=timezone.now(),
    )
    annotate(text_only, cast["alice"])
    standard = load_dataset(
        "json",
        data_files=str(export_path(build(text_only))),
        split="train",
        cache_dir=str(tmp_path / "standard"),
    )
    example = standard[0]
    assert not is_conversational(example)
    assert isinstance(example["prompt"], str) and isinstance(example["chosen"], str)
    assert maybe_extract_prompt(example)["prompt"] == "Explain TCP slow start."
    assert unpair_preference_dataset(standard).num_rows == 2 * standard.num_rows


def test_the_export_command_writes_the_file_and_its_manifest(labelled, tmp_path):
    out = tmp_path / "pairs.jsonl"
    stdout = io.StringIO()
    call_command(
        "export", str(labelled.pk), "--format", "pairwise", "--out", str(out),
        "--filters", '{"include_ties": true}', "--test-fraction", "0.5", "--no-progress",
        stdout=stdout,
    )  # fmt: skip
    assert "21 rows (9 train, 12 test)" in stdout.getvalue()
    manifest = json.loads((tmp_path / "pairs.jsonl.manifest.json").read_text())
    assert manifest["filters"] == {"include_ties": True}
    assert manifest["created_by"] == "manage.py export"
    assert len(out.read_bytes().splitlines()) == 21
    export = Export.objects.get()
    assert export.status == "done" and export_path(export) == out


def test_the_export_command_refuses_bad_filters(labelled, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"filters\.colour: Unknown filter"):
        call_command(
            "export", str(labelled.pk), "--format", "pairwise", "--out", str(tmp_path / "x"),
            "--filters", '{"colour": "red"}', "--no-progress",
        )  # fmt: skip
    assert not Export.objects.exists()


# --- the API and the job ------------------------------------------------------------------------


def test_an_export_runs_as_a_job_with_progress_and_a_downloadable_file(
    api, labelled, django_capture_on_commit_callbacks
):
    client = api("erin")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            f"/api/projects/{labelled.pk}/exports/",
            {"format": "pairwise", "file_format": "parquet", "test_fraction": 0.5},
            format="json",
        )
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert len(callbacks) == 1
    status = client.get(response["Location"]).json()
    assert status["status"] == "done"
    assert status["progress"] == {"done": 20, "total": 20}
    assert status["row_count"] == 20
    assert status["manifest"]["sha256"] == status["sha256"]
    assert status["manifest"]["created_by"] == "erin"

    download = client.get(status["download"])
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    import hashlib

    assert hashlib.sha256(body).hexdigest() == status["sha256"]
    assert body[:4] == b"PAR1"
    manifest = client.get(f"/api/exports/{status['id']}/manifest/")
    assert manifest.json()["counts"]["rows"] == 20
    assert "attachment" in manifest["Content-Disposition"]


def test_unknown_fields_and_filters_are_refused(api, labelled):
    client = api("adam")
    url = f"/api/projects/{labelled.pk}/exports/"
    for body, field in [
        ({"format": "pairwise", "colour": "red"}, "colour"),
        (
            {"format": "pairwise", "filters": {"prompt__content__icontains": "x"}},
            "filters.prompt__content__icontains",
        ),
        ({"format": "pairwise", "filters": {"min_agreement": 2}}, "filters.min_agreement"),
        ({"format": "pairwise", "filters": {"since": "yesterday"}}, "filters.since"),
        ({"format": "annotations", "file_format": "parquet"}, "file_format"),
        ({"format": "xml"}, "format"),
    ]:
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert not Export.objects.exists()


def test_a_failed_export_says_why_and_leaves_no_file(labelled, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("in the way")
    settings.EXPORTS_DIR = blocker
    export = export_create(
        project=labelled, user=None, format="pairwise", file_format="jsonl", filters={},
        test_fraction=0, now=timezone.now(),
    )  # fmt: skip
    with pytest.raises(OSError):
        export_build(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == "failed"
    assert "Error" in export.error
    assert export.file == "" and export.sha256 == ""


def test_a_built_export_is_not_built_again(labelled):
    export = build(labelled)
    again = export_build(export_id=export.pk)
    assert again.finished_at == export.finished_at and again.sha256 == export.sha256


def test_a_file_that_is_not_ready_is_not_served(api, labelled):
    export = export_create(
        project=labelled, user=None, format="pairwise", file_format="jsonl", filters={},
        test_fraction=0, now=timezone.now(),
    )  # fmt: skip
    response = api("adam").get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_the_exports_page_makes_an_export_and_lists_it(
    client, labelled, django_capture_on_commit_callbacks
):
    from tests.conftest import PASSWORD

    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{labelled.pk}/exports/")
    assert page.status_code == 200 and "No exports yet." in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{labelled.pk}/exports/",
            {"format": "consensus", "file_format": "jsonl", "test_fraction": "0.5",
             "include_ties": "on", "models": ["model-a", "model-b"]},
            follow=True,
        )  # fmt: skip
    html = response.content.decode()
    assert "is queued" in html
    export = Export.objects.get()
    assert export.filters == {"include_ties": True, "models": ["model-a", "model-b"]}
    assert export.status == "done"
    html = client.get(f"/projects/{labelled.pk}/exports/").content.decode()
    assert f"/api/exports/{export.pk}/download/" in html
    assert export.sha256 in html


def test_the_exports_page_shows_field_errors(client, labelled):
    from tests.conftest import PASSWORD

    client.login(username="erin", password=PASSWORD)
    response = client.post(
        f"/projects/{labelled.pk}/exports/",
        {"format": "annotations", "file_format": "parquet", "test_fraction": "2"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Parquet is for the flat formats" in html or "less than or equal to 1" in html
    assert not Export.objects.exists()


def test_rejected_annotations_stay_out_of_every_format_by_default(labelled, cast):
    olga = annotator_pseudonym(labelled, cast["olga"].pk)
    for fmt in ["pairwise", "hh", "annotations"]:
        assert all(row["annotator"] != olga for row in lines(build(labelled, fmt)))
    assert Annotation.objects.filter(rejected=True).count() == 1


def test_parquet_and_jsonl_exports_hold_the_same_rows(labelled):
    import pyarrow.parquet as pq

    for fmt in ("pairwise", "consensus"):
        jsonl_rows = lines(build(labelled, fmt, "jsonl", filters={"include_ties": True}))
        parquet = build(labelled, fmt, "parquet", filters={"include_ties": True})
        assert pq.read_table(export_path(parquet)).to_pylist() == jsonl_rows, fmt


def test_an_export_with_no_rows_is_an_empty_file_that_still_loads(labelled):
    import pyarrow.parquet as pq

    for file_format in ("jsonl", "parquet"):
        export = build(labelled, "pairwise", file_format, filters={"guideline_versions": [2]})
        assert export.status == "done" and export.row_count == 0
        assert export.manifest["counts"] == {"rows": 0, "train": 0, "test": 0, "prompts": 0}
    assert pq.read_table(export_path(export)).num_rows == 0
    assert pq.read_table(export_path(export)).column_names == export.manifest["columns"]


def test_a_build_killed_with_its_worker_is_taken_over_by_the_retried_task(labelled, settings):
    """django-q2 hands a task out again `retry` seconds after it went out, once `timeout`
    has killed it; the retried task must be able to take the dead build over."""
    from datetime import timedelta

    export = export_create(
        project=labelled, user=None, format="pairwise", file_format="jsonl", filters={},
        test_fraction=0, now=timezone.now(),
    )  # fmt: skip
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    Export.objects.filter(pk=export.pk).update(status="running", started_at=timezone.now() - retry)
    rebuilt = export_build(export_id=export.pk)
    assert rebuilt.status == "done" and rebuilt.row_count == 20
    # A build that started a moment ago is someone else's, still at work.
    other = export_create(
        project=labelled, user=None, format="pairwise", file_format="jsonl", filters={},
        test_fraction=0, now=timezone.now(),
    )  # fmt: skip
    Export.objects.filter(pk=other.pk).update(status="running", started_at=timezone.now())
    assert export_build(export_id=other.pk).status == "running"
