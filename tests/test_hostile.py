"""Hostile values at every door (issue 15 point 3): every operation of the API schema gets
non-ASCII digits, NUL, lone surrogates, direction overrides, huge numbers and deep
nesting in every body field, query parameter and path parameter, as an admin and as an
annotator, and answers a 4xx in the error envelope, never a 500, on either database
(CI runs the suite on both). Forms and imports are held to the same rules."""

import json

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from labelling.inputs import MAX_DEPTH, json_problems
from labelling.models import Annotation, Prompt
from tests.conftest import PASSWORD, import_items, prompt_line

pytestmark = pytest.mark.slow

DEEP = json.loads("[" * 200 + "]" * 200)
# Values as they reach the server: JSON text for bodies (so "\ud800" stays an escape, as
# a hostile client would send it), raw strings for query strings and paths.
HOSTILE = {
    "arabic digits": "\u0661\u0662",
    "superscript two": "\u00b2",
    "underscored number": "1_000",
    "nul": "a\x00b",
    "lone surrogate": "\ud800",
    "direction override": "evil\u202egnp.exe",
    "huge number": 10**30,
    "deep nesting": DEEP,
}
QUERY_HOSTILE = {
    "arabic digits": "%D9%A1%D9%A2",
    "superscript two": "%C2%B2",
    "nul": "a%00b",
    "encoded surrogate": "%ED%A0%80",
    "direction override": "x%E2%80%AEy",
    "huge number": "1" + "0" * 30,
}


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {})
            if "$ref" in body:
                body = components[body["$ref"].rsplit("/", 1)[1]]
            yield (
                method,
                path,
                sorted(body.get("properties", {})),
                [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"],
            )


OPERATIONS = list(_operations())


@pytest.fixture
def world(project, cast, api):
    """A project with a prompt, alice's lease on it and an export, so that every path
    parameter can name a real object."""
    from exports.services import export_create

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    alice = api("alice")
    body = alice.post(f"/api/projects/{project.pk}/next/").json()
    export = export_create(
        project=project, user=None, format="pairwise", file_format="jsonl", filters={},
        test_fraction=0, now=timezone.now(),
    )  # fmt: skip
    ids = {
        "project_id": project.pk,
        "assignment_id": body["assignment_id"],
        "export_id": export.pk,
        "version": 1,
    }
    return ids, {"adam": api("adam"), "alice": alice}


def _url(path: str, ids: dict, hostile_param: str | None = None, value: str = "") -> str:
    for name, pk in ids.items():
        path = path.replace("{" + name + "}", value if name == hostile_param else str(pk))
    return path


def _assert_refused_cleanly(response, what) -> None:
    assert response.status_code < 500, what
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        body = response.json()
        assert set(body) >= {"detail", "errors"}, what


@pytest.mark.parametrize(("method", "path", "fields", "query"), OPERATIONS)
def test_every_operation_refuses_hostile_values_without_a_server_error(
    world, method, path, fields, query
):
    ids, clients = world
    if path.endswith("/prompts/import/"):
        fields = []  # JSONL, not JSON: test_an_import_line_with_hostile_text_is_refused
    for name, client in clients.items():
        url = _url(path, ids)
        for label, value in HOSTILE.items():
            for field in fields:
                body = json.dumps({field: value})
                response = client.generic(
                    method.upper(), url, body, content_type="application/json"
                )
                _assert_refused_cleanly(response, (name, method, path, field, label))
                # Refused for who is asking (before the body is read), or for the value.
                refused_access = response.status_code in (401, 403, 404, 409)
                if label in ("nul", "lone surrogate", "deep nesting", "huge number") and not (
                    refused_access
                ):
                    assert response.status_code == 400, (name, method, path, field, label)
                    fields_named = {e["field"] for e in response.json()["errors"]}
                    assert any(f.startswith(field) for f in fields_named), (field, fields_named)
            if method in ("post", "patch"):
                whole = json.dumps(DEEP)
                response = client.generic(
                    method.upper(), url, whole, content_type="application/json"
                )
                _assert_refused_cleanly(response, (name, method, path, "body", "deep"))
        for label, raw in QUERY_HOSTILE.items():
            for param in query:
                response = client.generic(method.upper(), f"{url}?{param}={raw}")
                _assert_refused_cleanly(response, (name, method, path, param, label))
            for param in [p for p in ids if "{" + p + "}" in path]:
                response = client.generic(method.upper(), _url(path, ids, param, raw))
                assert response.status_code in (400, 404), (name, path, param, label)


def test_a_nul_or_an_override_in_a_form_field_or_query_is_a_400_naming_it(client, project):
    client.login(username="adam", password=PASSWORD)
    page = client.post(
        f"/projects/{project.pk}/members/", {"username": "x\x00y", "role": "annotator"}
    )
    assert page.status_code == 400 and "username" in page.content.decode()
    assert "NUL" in page.content.decode()
    api = client.get(f"/api/projects/{project.pk}/agreement/?annotators=a%E2%80%AEb")
    assert api.status_code == 400
    assert api.json()["errors"][0]["field"] == "annotators"


def test_an_import_line_with_hostile_text_is_refused_line_by_line(api, project):
    lines = [
        prompt_line("p-1", prompt="a\x00b"),
        prompt_line("p-2", metadata={"deep": json.loads("[" * 40 + "]" * 40)}),
        prompt_line("p\u202e-3"),
        prompt_line(
            "p-4",
            prompt="fine",
            responses=[
                {"external_id": f"r{i}", "model": "m", "text": "RTL \u202e is model output"}
                for i in range(4)
            ],
        ),
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)  # \u escapes
    body += b'{"external_id": "p-5", "prompt": "\\ud800", "responses": []}\n'
    response = api("adam").generic(
        "POST", f"/api/projects/{project.pk}/prompts/import/", body,
        content_type="application/x-ndjson",
    )  # fmt: skip
    assert response.status_code == 400
    errors = {(e["line"], e["field"]) for e in response.json()["errors"]}
    assert (1, "prompt") in errors
    assert any(line == 2 and field.startswith("metadata.deep") for line, field in errors)
    assert (3, "external_id") in errors
    assert not any(line == 4 for line, _field in errors)  # overrides in model output stay
    assert any(line == 5 for line, _field in errors)
    assert not Prompt.objects.exists()


def test_ids_and_numbers_in_text_are_ascii_digits_only(api, project, client):
    import_items(project, prompt_line("p-1"))
    for digits in ("\u0661", "\u00b2", "1_0", " 1", "+1"):  # Arabic-Indic 1, superscript 2
        response = api("adam").get(
            f"/api/projects/{project.pk}/annotations/?guideline_version={digits}"
        )
        assert response.status_code == 400, digits
    # A rank typed as a non-ASCII digit counts as no rank at all.
    client.login(username="alice", password=PASSWORD)
    held = client.post(f"/projects/{project.pk}/next/")["Location"]
    form = {f"rank-{letter}": "\u0661" for letter in "ABCD"}
    page = client.post(held, form)
    assert page.status_code == 400 and not Annotation.objects.exists()


def test_the_json_rules_name_where_they_were_broken():
    value = {"a": [{"b": "x\x00"}], "n": 2**70, "deep": DEEP}
    problems = dict(json_problems(value))
    assert "a.0.b" in problems and "n" in problems
    assert any(where.startswith("deep") for where in problems)
    assert MAX_DEPTH == 32
