"""The examples of /api/docs/ work when tried as they are (issue 17, point 14): every
request example of the schema is sent, unchanged, to the demo that `make run` seeds,
and succeeds. Only the token example's password is a placeholder, by necessity."""

import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from labelling.models import Project
from labelling.tokens import token_create


def _examples(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for name, example in (media.get("examples") or {}).items():
                    yield path, method, name, example["value"]


def _client(username: str) -> APIClient:
    from django.utils import timezone

    client = APIClient()
    _token, raw = token_create(
        user=User.objects.get(username=username), name="docs", days=None, now=timezone.now()
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


@pytest.mark.django_db
def test_every_request_example_of_the_docs_succeeds_on_the_demo(client):
    call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Demo: assistant responses")
    schema = json.loads(client.get("/api/schema/", {"format": "json"}).content)
    examples = list(_examples(schema))
    assert len(examples) >= 10, examples
    admin, alice = _client("admin"), _client("alice")
    alice.post(f"/api/projects/{project.pk}/guidelines/1/acknowledge/")
    tried = []
    # Labelling first: publishing a guideline version would send alice to read it.
    order = sorted(examples, key=lambda e: ("assignments" not in e[0], e[0]))
    for path, method, name, body in order:
        if path == "/api/auth/token/":
            assert body["password"] == "your password"  # a placeholder, said so
            continue
        caller = admin
        if "{assignment_id}" in path:
            caller = alice
            lease = alice.post(f"/api/projects/{project.pk}/next/").json()
            path = path.replace("{assignment_id}", str(lease["assignment_id"]))
        if "{pause_id}" in path:
            from django.utils import timezone

            from labelling.models import RaterPause

            pause = RaterPause.objects.create(
                project=project,
                annotator=User.objects.get(username="bob"),
                reason=RaterPause.Reason.LOW_GOLD,
                figure=0.4,
                threshold=0.7,
                items=10,
                paused_at=timezone.now(),
            )
            path = path.replace("{pause_id}", str(pause.pk))
        url = path.replace("{project_id}", str(project.pk))
        response = getattr(caller, method)(url, body, format="json")
        assert response.status_code < 300, (method, path, name, response.content[:400])
        tried.append(name)
    assert "FourResponses,BBest,AAndDTiedLast" in tried and len(tried) == len(examples) - 1
