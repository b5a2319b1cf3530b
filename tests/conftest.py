"""The cast (STYLE.md): alice the annotator, bob a second annotator, rita the reviewer,
adam the admin, erin the engineer, olga an outsider, and sam, staff."""

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from labelling.models import Membership, Project
from labelling.services import membership_set, project_create

User = get_user_model()
PASSWORD = "correct horse battery staple"
SLOW_MODULE = "pytestmark = pytest.mark.slow"
pytest_plugins = ["tests.browser"]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the inner loop (`-m "not slow"`), a module that is slow as a whole is not even
    imported: collecting the fuzz tests alone builds the API schema and thousands of
    cases (8 of the 9 s that collecting everything took)."""
    if config.getoption("markexpr") != "not slow" or not collection_path.name.startswith("test_"):
        return None
    return SLOW_MODULE in collection_path.read_text(encoding="utf-8") or None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that loads a model (the tiny reward model, built with torch) is slow."""
    for item in items:
        if "tiny_reward_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


CAST = ["alice", "bob", "rita", "adam", "erin", "olga"]


def user_create(username: str, **extra):
    return User.objects.create_user(username=username, password=PASSWORD, **extra)


def cast_create() -> dict:
    users = {name: user_create(name) for name in CAST}
    users["sam"] = user_create("sam", is_staff=True)
    return users


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    return user_create


@pytest.fixture
def cast(db) -> dict:
    return cast_create()


CRITERIA = [
    {"key": "helpfulness", "label": "Helpfulness", "scale": [1, 7], "help": "Does it help?"},
    {"key": "honesty", "label": "Honesty", "scale": [1, 7]},
]


def project_build(cast: dict) -> Project:
    """A four-response project run by adam, with the cast in their roles (olga left out)."""
    now = timezone.now()
    project = project_create(
        name="Chatbot comparisons",
        created_by=cast["adam"],
        now=now,
        responses_per_prompt=4,
        criteria=CRITERIA,
    )
    for name, role in [
        ("alice", Membership.Role.ANNOTATOR),
        ("bob", Membership.Role.ANNOTATOR),
        ("rita", Membership.Role.REVIEWER),
        ("erin", Membership.Role.ENGINEER),
    ]:
        membership_set(project=project, user=cast[name], role=role, actor=cast["adam"], now=now)
    acknowledge(project, cast["alice"], cast["bob"])
    return project


@pytest.fixture
def project(cast) -> Project:
    return project_build(cast)


@pytest.fixture
def project_factory(cast) -> Callable[[str], Project]:
    """project_factory("Name"): another four-response project run by adam, with alice
    and bob as annotators who have read its guidelines."""

    def make(name: str) -> Project:
        now = timezone.now()
        made = project_create(
            name=name, created_by=cast["adam"], now=now, responses_per_prompt=4, criteria=CRITERIA
        )
        for user in ("alice", "bob"):
            membership_set(
                project=made, user=cast[user], role=Membership.Role.ANNOTATOR, actor=None, now=now
            )
        acknowledge(made, cast["alice"], cast["bob"])
        return made

    return make


def acknowledge(project, *users) -> None:
    """These annotators have read the project's current guideline version."""
    from labelling.guidelines import guideline_acknowledge

    project.refresh_from_db()
    for user in users:
        guideline_acknowledge(
            project=project, user=user, version=project.guideline_version, now=timezone.now()
        )


def other_project_build(cast: dict) -> Project:
    """A project olga annotates and nobody else of the cast belongs to."""
    now = timezone.now()
    project = project_create(
        name="Olga's project", created_by=cast["sam"], now=now, responses_per_prompt=2
    )
    membership_set(
        project=project, user=cast["olga"], role=Membership.Role.ANNOTATOR, actor=None, now=now
    )
    return project


@pytest.fixture
def other_project(cast) -> Project:
    return other_project_build(cast)


@pytest.fixture
def api(cast) -> Callable[[str | None], APIClient]:
    """api("alice") is a client holding alice's token; api(None) is anonymous."""

    def client_for(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            response = client.post(
                "/api/auth/token/", {"username": name, "password": PASSWORD}, format="json"
            )
            assert response.status_code == 200, response.content
            client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        return client

    return client_for


def prompt_line(
    external_id: str = "p-1",
    *,
    prompt: object = "Explain TCP slow start.",
    n: int = 4,
    gold: list | None = None,
    **overrides,
) -> dict:
    """One import item with `n` responses r1..rn from model-a, model-b, ..."""
    item = {
        "external_id": external_id,
        "prompt": prompt,
        "responses": [
            {"external_id": f"r{i}", "model": f"model-{'abcdefghi'[i - 1]}", "text": f"Answer {i}"}
            for i in range(1, n + 1)
        ],
        "metadata": {"domain": "networking"},
    }
    if gold is not None:
        item["gold"] = gold
    item.update(overrides)
    return item


def jsonl(*items: object) -> bytes:
    """Items as JSONL bytes; a str item is written as it is (for broken lines)."""
    return b"".join(
        (item if isinstance(item, str) else json.dumps(item)).encode() + b"\n" for item in items
    )


def import_items(project, *items: object, now=None):
    """Import items (dicts from `prompt_line`, or raw lines) into a project, as the
    import form does, with no one recorded as the importer."""
    from labelling.importing import prompts_import

    return prompts_import(
        project=project,
        stream=io.BytesIO(jsonl(*items)),
        actor=None,
        now=now or timezone.now(),
    )


def annotate(
    project, user, *, rank=None, flags=None, ratings=None, critiques=None, comment="", now=None
):
    """Lease `user`'s next item and submit a complete annotation through the services.

    `rank(ids)` turns the responses (ids ascending) into groups, best first (default:
    lowest id best); `flags(ids)`, `ratings(ids)` and `critiques(ids)` give those fields
    (default: none, the bottom of every scale, none)."""
    from labelling.queue import assignment_lease_next
    from labelling.submission import annotation_submit

    now = now or timezone.now()
    assignment = assignment_lease_next(project=project, annotator=user, now=now)
    assert assignment is not None, f"nothing left for {user}"
    ids = sorted(assignment.display_order)
    data = {
        "ranking": rank(ids) if rank else [[rid] for rid in ids],
        "ratings": (
            ratings(ids)
            if ratings
            else {str(rid): {c["key"]: c["scale"][0] for c in project.criteria} for rid in ids}
        ),
        "flags": flags(ids) if flags else {},
        "critiques": critiques(ids) if critiques else {},
        "comment": comment,
    }
    return annotation_submit(assignment=assignment, annotator=user, data=data, now=now).annotation


@pytest.fixture(scope="session")
def tiny_reward_model(tmp_path_factory):
    """The folder of a tiny reward model, built once per test run, offline."""
    import os

    import torch

    from tests.reward_model import build_tiny_reward_model

    torch.set_num_threads(1)  # about ten times faster than the default here
    os.environ["HF_HUB_OFFLINE"] = "1"
    return build_tiny_reward_model(tmp_path_factory.mktemp("reward-model"))
