"""The REST API of section 6 for users, tokens, projects and members."""

import pytest

from core.models import AuditEvent
from labelling.models import ApiToken, GuidelineVersion, Membership, Project
from tests.conftest import CRITERIA, PASSWORD, jsonl, prompt_line

# --- tokens ---------------------------------------------------------------------------------


def test_a_password_buys_a_token_that_authenticates(api, cast):
    client = api(None)
    response = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    # Stored as a digest: the token itself is nowhere in the database.
    stored = ApiToken.objects.get(user=cast["alice"])
    assert token.startswith("rlhf_") and token not in (stored.digest, stored.token_key)
    assert token.startswith(stored.token_key)

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/projects/").status_code == 200


@pytest.mark.parametrize(
    "body", [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "x"}]
)
def test_a_wrong_password_gets_400_and_no_token(api, cast, body):
    response = api(None).post("/api/auth/token/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "password", "message": "Unknown username or wrong password."}
    ]
    assert not ApiToken.objects.exists()


def test_token_request_without_fields_names_them(api, cast):
    response = api(None).post("/api/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"username", "password"}


def test_a_bad_token_is_401(api, cast):
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/projects/").status_code == 401


# --- users ----------------------------------------------------------------------------------


def test_staff_creates_a_user_who_can_then_log_in(api, cast):
    response = api("sam").post(
        "/api/users/",
        {"username": "dora", "password": "a long enough passphrase", "email": "d@example.org"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "dora" and "password" not in response.json()
    assert (
        api(None)
        .post("/api/auth/token/", {"username": "dora", "password": "a long enough passphrase"})
        .status_code
        == 200
    )
    assert AuditEvent.objects.filter(verb=AuditEvent.Verb.USER_CREATED).count() == 1


def test_users_are_not_created_by_non_staff(api, cast):
    response = api("adam").post(
        "/api/users/", {"username": "dora", "password": "a long enough passphrase"}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "alice", "password": "a long enough passphrase"}, "username"),
        ({"username": "ALICE", "password": "a long enough passphrase"}, "username"),
        ({"username": "has space", "password": "a long enough passphrase"}, "username"),
        (
            {"username": "<script>window.__xss=1</script>", "password": "a long passphrase"},
            "username",
        ),
        (
            {"username": '"><img src=x onerror=alert(1)>', "password": "a long passphrase"},
            "username",
        ),
        ({"username": "dora", "password": "short"}, "password"),
        ({"username": "dora", "password": "12345678901"}, "password"),
        ({"username": "dora", "password": "a long enough passphrase", "email": "no"}, "email"),
    ],
)
def test_bad_user_requests_name_the_field(api, cast, body, field):
    response = api("sam").post("/api/users/", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}


# --- projects -------------------------------------------------------------------------------


def test_staff_creates_a_project_with_guideline_v1_and_becomes_its_admin(api, cast):
    response = api("sam").post(
        "/api/projects/",
        {
            "name": "Code review",
            "responses_per_prompt": 3,
            "annotations_per_prompt": 5,
            "allow_ties": False,
            "criteria": CRITERIA,
            "gold_rate": 0.1,
            "guideline": "# Rules\n\nPrefer correct code.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["responses_per_prompt"] == 3 and body["annotations_per_prompt"] == 5
    assert body["allow_ties"] is False and body["criteria"] == CRITERIA
    assert body["progress"] == {"prompts": 0, "complete": 0, "annotations": 0}
    assert body["role"] == "admin"
    project = Project.objects.get(pk=body["id"])
    v1 = GuidelineVersion.objects.get(project=project)
    assert (v1.version, v1.body) == (1, "# Rules\n\nPrefer correct code.")
    assert Membership.objects.get(project=project, user=cast["sam"]).role == "admin"
    assert set(AuditEvent.objects.filter(project=project).values_list("verb", flat=True)) == {
        "project.created",
        "member.added",
    }


def test_a_project_gets_default_settings_and_a_default_guideline(api, cast):
    response = api("sam").post("/api/projects/", {"name": "Plain"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["responses_per_prompt"], body["annotations_per_prompt"]) == (4, 3)
    assert body["allow_ties"] is True and body["gold_rate"] == 0.0
    assert "Rank" in GuidelineVersion.objects.get(project_id=body["id"]).body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "X", "responses_per_prompt": 1}, "responses_per_prompt"),
        ({"name": "X", "responses_per_prompt": 10}, "responses_per_prompt"),
        ({"name": "X", "annotations_per_prompt": 0}, "annotations_per_prompt"),
        ({"name": "X", "gold_rate": 1.5}, "gold_rate"),
        ({"name": "X", "criteria": "helpfulness"}, "criteria"),
        ({"name": "X", "criteria": [{"key": "a", "label": "A", "scale": [7, 1]}]}, "criteria"),
        ({"name": "X", "criteria": [{"key": "A b", "label": "A", "scale": [1, 7]}]}, "criteria"),
        ({"name": "X", "criteria": [CRITERIA[0], CRITERIA[0]]}, "criteria"),
        ({"name": "X", "required_critiques": "sometimes"}, "required_critiques"),
    ],
)
def test_bad_project_settings_are_400_with_the_field(api, cast, body, field):
    response = api("sam").post("/api/projects/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in {e["field"] for e in response.json()["errors"]}
    assert Project.objects.count() == 0


def test_a_duplicate_project_name_is_400(api, project):
    response = api("sam").post("/api/projects/", {"name": project.name}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


def test_only_staff_create_projects(api, project):
    assert api("adam").post("/api/projects/", {"name": "Mine"}, format="json").status_code == 403


def test_project_list_shows_only_my_projects_with_my_role(api, project, other_project):
    body = api("alice").get("/api/projects/").json()
    assert body["count"] == 1
    assert [(p["name"], p["role"]) for p in body["results"]] == [(project.name, "annotator")]
    assert api("olga").get("/api/projects/").json()["results"][0]["name"] == other_project.name
    assert api("sam").get("/api/projects/").json()["count"] == 2


def test_project_detail_shows_settings_and_progress(api, project):
    api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/",
        data=jsonl(prompt_line("p-1"), prompt_line("p-2")),
        content_type="application/x-ndjson",
    )
    body = api("erin").get(f"/api/projects/{project.pk}/").json()
    assert body["name"] == project.name and body["criteria"] == CRITERIA
    assert body["progress"] == {"prompts": 2, "complete": 0, "annotations": 0}
    assert body["role"] == "engineer"


def test_project_admin_changes_settings_and_it_is_audited(api, project):
    response = api("adam").patch(
        f"/api/projects/{project.pk}/", {"annotations_per_prompt": 5}, format="json"
    )
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert project.annotations_per_prompt == 5
    event = AuditEvent.objects.get(verb=AuditEvent.Verb.PROJECT_UPDATED)
    assert event.data == {
        "before": {"annotations_per_prompt": 3},
        "after": {"annotations_per_prompt": 5},
    }


def test_responses_per_prompt_is_frozen_once_prompts_exist(api, project):
    api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/",
        data=jsonl(prompt_line("p-1")),
        content_type="application/x-ndjson",
    )
    response = api("adam").patch(
        f"/api/projects/{project.pk}/", {"responses_per_prompt": 3}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "responses_per_prompt"


def test_renaming_a_project_to_a_taken_name_is_400(api, project, other_project):
    response = api("sam").patch(
        f"/api/projects/{project.pk}/", {"name": other_project.name}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


def test_import_refuses_a_json_body_with_415(api, project):
    response = api("adam").post(
        f"/api/projects/{project.pk}/prompts/import/", [prompt_line()], format="json"
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_guidelines_list_shows_version_one(api, project):
    body = api("alice").get(f"/api/projects/{project.pk}/guidelines/").json()
    assert body["count"] == 1
    assert [v["version"] for v in body["results"]] == [1]
    assert body["results"][0]["published_by"] == "adam"


# --- members --------------------------------------------------------------------------------


def test_project_admin_adds_a_member_then_changes_the_role(api, project, cast):
    client = api("adam")
    url = f"/api/projects/{project.pk}/members/"
    response = client.post(url, {"username": "olga", "role": "annotator"}, format="json")
    assert response.status_code == 201
    assert response.json()["username"] == "olga" and response.json()["role"] == "annotator"
    assert api("olga").get(f"/api/projects/{project.pk}/").status_code == 200

    response = client.post(url, {"username": "olga", "role": "reviewer"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "reviewer"
    assert Membership.objects.filter(project=project, user=cast["olga"]).count() == 1
    assert list(
        AuditEvent.objects.filter(data__username="olga")
        .order_by("id")
        .values_list("verb", flat=True)
    ) == ["member.added", "member.role_changed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "role": "annotator"}, "username"),
        ({"username": "olga", "role": "boss"}, "role"),
    ],
)
def test_bad_member_requests_name_the_field(api, project, body, field):
    response = api("adam").post(f"/api/projects/{project.pk}/members/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


# --- errors are JSON, never HTML ------------------------------------------------------------


def test_an_unknown_project_is_a_json_404(api, project):
    response = api("adam").get("/api/projects/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": []}


def test_schema_and_docs_are_served(api, cast, client):
    schema = api("alice").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/auth/token/",
        "/api/users/",
        "/api/projects/",
        "/api/projects/{project_id}/",
        "/api/projects/{project_id}/members/",
        "/api/projects/{project_id}/prompts/import/",
    ]:
        assert path in paths
    client.login(username="alice", password=PASSWORD)
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_api_urls_no_view_answers_get_the_json_envelope_and_huge_ids_are_404(api, client):
    for path in ["/api/nothing-here/", "/api/projects/18446744073709551615/", "/api/projects/abc/"]:
        response = api("adam").get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found.", "errors": []}
    # Outside the API the site's own page answers.
    page = client.get("/projects/18446744073709551615/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_every_list_is_paginated_and_a_page_past_the_end_is_refused(api, project):
    client = api("adam")
    for path in [
        "/api/projects/",
        f"/api/projects/{project.pk}/members/",
        f"/api/projects/{project.pk}/guidelines/",
        f"/api/projects/{project.pk}/annotations/",
        f"/api/projects/{project.pk}/exports/",
    ]:
        body = client.get(path).json()
        assert set(body) == {"count", "next", "previous", "results"}, path
        # No page size to ask for: a client cannot make the server build a huge page
        # (the parameter is ignored, or refused where query parameters are allow-listed).
        huge = client.get(path, {"page_size": 100_000})
        assert huge.status_code == 400 or len(huge.json()["results"]) <= 50, path
        past = client.get(path, {"page": 999})
        assert past.status_code == 404, path
        assert past.json()["detail"] == "Invalid page."
