"""Prompt import (design §4) through the service and its three doors."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import AuditEvent
from labelling.importing import ImportRejected, prompts_import
from labelling.models import Prompt, Response
from tests.conftest import PASSWORD, jsonl, prompt_line

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And 3+3?"},
]


def run_import(project, data: bytes, actor=None):
    return prompts_import(project=project, stream=io.BytesIO(data), actor=actor, now=timezone.now())


def rejected_errors(project, data: bytes) -> list[dict]:
    with pytest.raises(ImportRejected) as caught:
        run_import(project, data)
    assert Prompt.objects.filter(project=project).count() == 0
    return [error.as_dict() for error in caught.value.errors]


# --- good files -------------------------------------------------------------------------


def test_import_creates_prompts_and_responses_in_file_order(project):
    result = run_import(
        project,
        jsonl(
            prompt_line("p-1"),
            prompt_line("p-2", prompt=CHAT, metadata={"domain": "maths", "tags": ["easy"]}),
            prompt_line("p-3", gold=[["r2"], ["r1", "r3"], ["r4"]]),
        ),
    )

    assert (result.created, result.unchanged) == (3, 0)
    text, chat, gold = Prompt.objects.filter(project=project).order_by("external_id")
    assert (text.kind, text.content) == ("text", "Explain TCP slow start.")
    assert (chat.kind, chat.content) == ("chat", CHAT)
    assert chat.metadata == {"domain": "maths", "tags": ["easy"]}
    assert gold.gold == [["r2"], ["r1", "r3"], ["r4"]] and gold.is_gold and not text.is_gold
    assert list(text.responses.values_list("external_id", "model_name", "text", "position")) == [
        ("r1", "model-a", "Answer 1", 0),
        ("r2", "model-b", "Answer 2", 1),
        ("r3", "model-c", "Answer 3", 2),
        ("r4", "model-d", "Answer 4", 3),
    ]
    assert len(text.content_hash) == 64 and text.content_hash != gold.content_hash


def test_import_accepts_a_byte_order_mark_blank_lines_and_no_final_newline(project):
    data = (
        b"\xef\xbb\xbf"
        + jsonl(prompt_line("p-1"))
        + b"\n  \n"
        + json.dumps(prompt_line("p-2")).encode()
    )
    assert run_import(project, data).created == 2


def test_import_keeps_unicode_and_markup_as_written(project):
    hostile = "<script>alert(1)</script> 你好 — ünïcode"
    line = prompt_line("p-1", prompt=hostile)
    line["responses"][0]["text"] = hostile
    run_import(project, jsonl(line))
    prompt = Prompt.objects.get(project=project)
    assert prompt.content == hostile
    assert prompt.responses.get(external_id="r1").text == hostile


def test_reimporting_the_same_file_changes_nothing(project):
    data = jsonl(prompt_line("p-1"), prompt_line("p-2", prompt=CHAT))
    run_import(project, data)
    before = list(Response.objects.values_list("pk", "text"))

    result = run_import(project, data)

    assert (result.created, result.unchanged) == (0, 2)
    assert list(Response.objects.values_list("pk", "text")) == before


def test_reimport_with_new_ids_adds_only_the_new_ones(project):
    run_import(project, jsonl(prompt_line("p-1")))
    result = run_import(project, jsonl(prompt_line("p-1"), prompt_line("p-2")))
    assert (result.created, result.unchanged) == (1, 1)
    assert Prompt.objects.filter(project=project).count() == 2


def test_same_external_id_in_two_projects_is_two_prompts(project, other_project):
    run_import(project, jsonl(prompt_line("p-1")))
    run_import(other_project, jsonl(prompt_line("p-1", n=2)))
    assert Prompt.objects.filter(external_id="p-1").count() == 2


def test_import_larger_than_a_batch_is_one_transaction(project):
    from labelling.importing import BATCH_SIZE

    good = [prompt_line(f"p-{i}") for i in range(BATCH_SIZE + 5)]
    with pytest.raises(ImportRejected) as caught:
        run_import(project, jsonl(*good, "{not json"))
    assert caught.value.errors[0].line == BATCH_SIZE + 6
    assert Prompt.objects.count() == 0 and Response.objects.count() == 0

    assert run_import(project, jsonl(*good)).created == BATCH_SIZE + 5
    assert Response.objects.count() == 4 * (BATCH_SIZE + 5)


def test_import_is_recorded_as_an_audit_event(project, cast):
    run_import(project, jsonl(prompt_line("p-1")), actor=cast["adam"])
    event = AuditEvent.objects.get(verb=AuditEvent.Verb.PROMPTS_IMPORTED)
    assert event.actor == cast["adam"] and event.project == project
    assert event.data["created"] == 1


# --- bad lines: each is reported with line, field and reason; nothing is imported -------


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("{not json", "", "not valid JSON"),
        ("[1, 2]", "", "must be a JSON object"),
        ('"just a string"', "", "must be a JSON object"),
        (prompt_line(external_id=""), "external_id", "at least 1 character"),
        (prompt_line(external_id=17), "external_id", "valid string"),
        (prompt_line(prompt=""), "prompt", "at least 1 character"),
        (prompt_line(prompt=42), "prompt", "non-empty string or a list"),
        (prompt_line(prompt=[]), "prompt", "at least one message"),
        (prompt_line(prompt=[{"role": "robot", "content": "hi"}]), "prompt.0.role", "'system'"),
        (prompt_line(prompt=[{"role": "user"}]), "prompt.0.content", "Field required"),
        (
            prompt_line(
                prompt=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
            ),
            "prompt.1.role",
            "must end with a user message",
        ),
        (prompt_line(n=3), "responses", "expected 4 responses"),
        (prompt_line(n=5), "responses", "got 5"),
        (prompt_line(responses="none"), "responses", "valid array"),
        ({**prompt_line(), "respones": []}, "respones", "Extra inputs are not permitted"),
        (
            {k: v for k, v in prompt_line().items() if k != "responses"},
            "responses",
            "Field required",
        ),
        (prompt_line(metadata=[1]), "metadata", "should be an object"),
        (prompt_line(gold=[["r1"], ["r2"], ["r3"]]), "gold", "'r4' are not ranked"),
        (
            prompt_line(gold=[["r1", "r9"], ["r2", "r3", "r4"]]),
            "gold",
            "unknown response id(s) 'r9'",
        ),
        (
            prompt_line(gold=[["r1"], ["r1", "r2"], ["r3", "r4"]]),
            "gold",
            "'r1' appear more than once",
        ),
        (prompt_line(gold=[["r1", "r2", "r3", "r4"], []]), "gold", "groups must not be empty"),
        (prompt_line(gold="r1"), "gold", "valid array"),
    ],
)
def test_a_bad_line_is_reported_and_nothing_is_imported(project, line, field, message):
    errors = rejected_errors(project, jsonl(prompt_line("p-0"), line, prompt_line("p-9")))
    assert [(e["line"], e["field"]) for e in errors][:1] == [(2, field)]
    assert message in errors[0]["message"], errors


def test_duplicate_and_incomplete_responses_are_named_by_position(project):
    line = prompt_line("p-1")
    line["responses"][2]["external_id"] = "r1"
    del line["responses"][3]["model"]
    errors = rejected_errors(project, jsonl(line))
    assert {(e["field"], e["message"]) for e in errors} == {
        ("responses.3.model", "Field required"),
    }
    del line["responses"][3]
    line["responses"].append({"external_id": "r4", "model": "m", "text": "t"})
    errors = rejected_errors(project, jsonl(line))
    assert errors == [
        {
            "line": 1,
            "field": "responses.2.external_id",
            "message": "duplicate response id 'r1' (also responses.0)",
        }
    ]


def test_ties_in_gold_are_refused_where_the_project_forbids_ties(project):
    project.allow_ties = False
    project.save()
    errors = rejected_errors(project, jsonl(prompt_line(gold=[["r1", "r2"], ["r3"], ["r4"]])))
    assert "does not allow ties" in errors[0]["message"]


def test_a_prompt_twice_in_one_file_is_reported_with_both_lines(project):
    errors = rejected_errors(
        project, jsonl(prompt_line("p-1"), prompt_line("p-2"), prompt_line("p-1"))
    )
    assert errors == [
        {
            "line": 3,
            "field": "external_id",
            "message": "prompt 'p-1' appears twice in the file (first on line 1)",
        }
    ]


def test_a_changed_prompt_under_a_known_id_is_an_error_not_an_overwrite(project):
    run_import(project, jsonl(prompt_line("p-1"), prompt_line("p-2")))
    changed = prompt_line("p-2", prompt="Explain TCP congestion avoidance.")

    with pytest.raises(ImportRejected) as caught:
        run_import(project, jsonl(prompt_line("p-3"), changed))

    assert [e.as_dict() for e in caught.value.errors] == [
        {
            "line": 2,
            "field": "external_id",
            "message": "prompt 'p-2' was imported before with different content; "
            "a changed prompt needs a new external id",
        }
    ]
    assert set(Prompt.objects.values_list("external_id", flat=True)) == {"p-1", "p-2"}
    assert Prompt.objects.get(external_id="p-2").content == "Explain TCP slow start."


def test_a_changed_response_text_counts_as_a_changed_prompt(project):
    run_import(project, jsonl(prompt_line("p-1")))
    changed = prompt_line("p-1")
    changed["responses"][3]["text"] = "Answer 4, revised"
    with pytest.raises(ImportRejected):
        run_import(project, jsonl(changed))


def test_every_bad_line_is_reported_not_just_the_first(project):
    lines = [prompt_line(f"p-{i}") if i % 3 else "oops" for i in range(1, 10)]
    errors = rejected_errors(project, jsonl(*lines))
    assert [e["line"] for e in errors] == [3, 6, 9]


def test_error_list_is_capped_but_the_total_is_kept(project, settings):
    settings.IMPORT_MAX_ERRORS = 5
    with pytest.raises(ImportRejected) as caught:
        run_import(project, jsonl(*["oops"] * 12))
    assert len(caught.value.errors) == 5 and caught.value.total == 12


def test_an_over_long_line_is_refused_without_reading_it_whole(project, settings):
    settings.IMPORT_MAX_LINE_BYTES = 2000
    long_line = prompt_line("p-2")
    long_line["responses"][0]["text"] = "x" * 10_000
    errors = rejected_errors(project, jsonl(prompt_line("p-1"), long_line, "oops"))
    assert [(e["line"], e["message"]) for e in errors][:1] == [(2, "line longer than 2000 bytes")]
    assert errors[1]["line"] == 3  # counting carries on correctly after the long line


def test_invalid_utf8_is_reported(project):
    errors = rejected_errors(project, b'{"external_id": "p-\xff\xfe"}\n')
    assert errors[0]["line"] == 1 and "JSON" in errors[0]["message"]


def test_an_empty_file_is_an_error(project):
    assert rejected_errors(project, b"\n\n") == [
        {"line": None, "field": "file", "message": "the file holds no prompts"}
    ]


# --- door 1: the management command -------------------------------------------------------


def test_import_command_imports_a_file_and_reports_counts(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl(prompt_line("p-1"), prompt_line("p-2")))
    out, err = io.StringIO(), io.StringIO()

    call_command("import_prompts", str(project.pk), str(path), stdout=out, stderr=err)

    assert "2 created, 0 unchanged" in out.getvalue()
    assert Prompt.objects.filter(project=project).count() == 2


def test_import_command_finds_the_project_by_name_too(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl(prompt_line("p-1")))
    call_command(
        "import_prompts", project.name, str(path), stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert Prompt.objects.filter(project=project).count() == 1


def test_import_command_lists_bad_lines_and_fails(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl(prompt_line("p-1"), prompt_line("p-2", n=2)))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_prompts", str(project.pk), str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2, responses: expected 4 responses" in err.getvalue()
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(["9999", "x.jsonl"], "No project"), (["{project}", "/nonexistent.jsonl"], "Cannot read")],
)
def test_import_command_explains_a_wrong_project_or_path(project, args, message):
    args = [a.format(project=project.pk) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("import_prompts", *args, stdout=io.StringIO(), stderr=io.StringIO())


# --- door 2: the API ----------------------------------------------------------------------


def test_api_import_takes_a_jsonl_body(project, api):
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/",
        data=jsonl(prompt_line("p-1"), prompt_line("p-2")),
        content_type="application/x-ndjson",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 2,
        "unchanged": 0,
        # Both lines hold prompt_line's default prompt: let through, and reported.
        "warnings": [
            {"line": 2, "field": "prompt", "message": "the same prompt as 'p-1' (line 1)"}
        ],
        "warnings_total": 1,
        "near_duplicates": f"/api/projects/{project.pk}/near-duplicates/",
    }


def test_api_import_takes_a_file_upload(project, api):
    upload = SimpleUploadedFile("p.jsonl", jsonl(prompt_line("p-1")), "application/jsonl")
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 1,
        "unchanged": 0,
        "warnings": [],
        "warnings_total": 0,
        "near_duplicates": f"/api/projects/{project.pk}/near-duplicates/",
    }


def test_api_import_reports_every_bad_line_as_400(project, api):
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/",
        data=jsonl(prompt_line("p-1"), "oops", prompt_line("p-3", n=1)),
        content_type="application/jsonl",
    )
    assert response.status_code == 400
    body = response.json()
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, ""), (3, "responses")]
    assert "nothing was imported" in body["detail"]
    assert Prompt.objects.count() == 0


def test_api_import_with_an_empty_body_is_a_clear_400(project, api):
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/", data=b"", content_type="application/x-ndjson"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "file", "message": "The body is empty."}]


def test_api_import_without_a_file_is_a_clear_400(project, api):
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/", {}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"


# --- door 3: the upload form on the project page ------------------------------------------


def test_upload_form_imports_and_says_how_many(project, client):
    client.login(username="adam", password=PASSWORD)
    upload = SimpleUploadedFile("p.jsonl", jsonl(prompt_line("p-1"), prompt_line("p-2")))
    response = client.post(f"/projects/{project.pk}/import/", {"file": upload}, follow=True)
    assert response.status_code == 200
    assert "Imported 2 new prompts (0 already here, unchanged)." in response.content.decode()
    assert Prompt.objects.filter(project=project).count() == 2


def test_upload_form_shows_each_bad_line_and_imports_nothing(project, client):
    client.login(username="adam", password=PASSWORD)
    upload = SimpleUploadedFile("p.jsonl", jsonl(prompt_line("p-1"), prompt_line("p-2", n=2)))
    response = client.post(f"/projects/{project.pk}/import/", {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "1 problem in the file; nothing was imported." in page
    assert "expected 4 responses (the project&#x27;s setting), got 2" in page
    assert Prompt.objects.count() == 0


def test_upload_form_is_only_shown_to_project_admins(project, client):
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Import prompts" not in page
    client.login(username="adam", password=PASSWORD)
    assert "Import prompts" in client.get(f"/projects/{project.pk}/").content.decode()


def test_a_file_over_the_size_limit_is_refused_as_it_streams(api, project, settings):
    settings.IMPORT_MAX_BYTES = 2_000
    body = jsonl(*(prompt_line(f"p-{i}") for i in range(20)))
    assert len(body) > 2_000
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/",
        data=body,
        content_type="application/x-ndjson",
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "file" and "larger than 2.0\xa0KB" in error["message"]
    assert not project.prompts.exists()


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"external_id,prompt,response_a\np-1,Hi,Hello\n", "looks like CSV or TSV"),
        (b"external_id\tprompt\np-1\tHi\n", "looks like CSV or TSV"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)), "zip archive"),
        (b"\x1f\x8b\x08\x00" + bytes(200), "gzip-compressed"),
        (b"PAR1\x15\x04" + bytes(100), "Parquet file"),
        (b"\x00\x01\x02binary\n", "binary data"),
        (b"caf\xe9,cr\xe8me\n", "not UTF-8 text"),
        (b'[{"external_id": "p-1"}]\n', "one JSON array"),
    ],
)
def test_a_file_that_is_not_jsonl_text_is_named_for_what_it_is(project, data, kind):
    errors = rejected_errors(project, data)
    assert len(errors) == 1
    assert errors[0]["line"] is None and errors[0]["field"] == "file"
    assert errors[0]["message"].startswith("this is not a JSONL text file: ")
    assert kind in errors[0]["message"]


def test_a_jsonl_file_whose_first_line_is_blank_or_plain_text_is_checked_line_by_line(
    project, other_project
):
    assert run_import(project, b"\n" + jsonl(prompt_line("p-1"))).created == 1
    errors = rejected_errors(other_project, b"hello\n")
    assert errors[0]["line"] == 1 and "not a JSONL" not in errors[0]["message"]


def test_the_upload_form_says_a_spreadsheet_is_not_a_jsonl_text_file(project, client):
    client.login(username="adam", password=PASSWORD)
    upload = SimpleUploadedFile("prompts.csv", b"external_id,prompt\np-1,Hi\n")
    response = client.post(f"/projects/{project.pk}/import/", {"file": upload})
    assert response.status_code == 400
    assert "this is not a JSONL text file" in response.content.decode()


def test_repeated_prompts_and_identical_responses_are_reported_not_refused(client, project):
    twin = prompt_line("p-2", prompt="  explain TCP   slow start. ")
    same = prompt_line("p-3", prompt="Something else.")
    same["responses"][2]["text"] = "Answer 1"
    upload = SimpleUploadedFile("p.jsonl", jsonl(prompt_line("p-1"), twin, same))
    client.login(username="adam", password=PASSWORD)
    page = client.post(
        f"/projects/{project.pk}/import/", {"file": upload}, follow=True
    ).content.decode()
    assert "Imported 3 new prompts" in page
    assert "2 things to check" in page
    assert "line 2: the same prompt as &#x27;p-1&#x27; (line 1)" in page
    assert "responses &#x27;r1&#x27; and &#x27;r3&#x27; are the same text" in page
    assert project.prompts.count() == 3
    event = AuditEvent.objects.get(verb="prompts.imported")
    assert event.data["warnings"] == 2


def test_the_command_prints_what_to_check(project, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(jsonl(prompt_line("p-1"), prompt_line("p-2")))
    out = io.StringIO()
    call_command("import_prompts", str(project.pk), str(path), stdout=out, stderr=io.StringIO())
    assert "line 2, prompt: the same prompt as 'p-1' (line 1)" in out.getvalue()


def test_a_prompt_repeating_one_imported_before_is_reported_not_refused(project, api):
    url = f"/api/projects/{project.pk}/prompts/import/"

    def post(*items):
        response = api("adam").post(url, data=jsonl(*items), content_type="application/x-ndjson")
        assert response.status_code == 200, response.content
        return response.json()

    post(prompt_line("p-1", prompt="How do  I reverse a list?"))
    again = post(
        prompt_line("p-3", prompt="How do I sort a list?"),
        prompt_line("p-2", prompt="how do I REVERSE a list?\n"),  # p-1's words again
    )
    assert again["created"] == 2
    assert again["warnings"] == [
        {"line": 2, "field": "prompt", "message": "the same prompt as 'p-1', imported before"}
    ]
    # Sending a prompt again unchanged is no repeat of itself.
    assert post(prompt_line("p-3", prompt="How do I sort a list?"))["warnings"] == []
    # A chat prompt is compared by its messages' words.
    chat = [{"role": "user", "content": "How do I sort a list?"}]
    later = post(prompt_line("p-4", prompt=chat))
    assert later["warnings"] == [
        {"line": 1, "field": "prompt", "message": "the same prompt as 'p-3', imported before"}
    ]
