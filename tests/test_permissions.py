"""Who reaches what: every endpoint for a member of each role, an outsider and anonymous.

A non-member gets 404 (they learn nothing of the project), a member without the right
role 403, anonymous 401 on the API and a redirect to the login page on the site.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import (
    PASSWORD,
    annotate,
    cast_create,
    import_items,
    jsonl,
    other_project_build,
    project_build,
    prompt_line,
)

PERSONAS = ["alice", "rita", "erin", "adam", "olga", "sam", None]


# (method, path, body, format, {persona: status}); {pid} is the project's id.
API_CASES = [
    ("get", "/api/projects/", None, "json",
     {"alice": 200, "rita": 200, "erin": 200, "adam": 200, "olga": 200, "sam": 200, None: 401}),
    ("post", "/api/projects/", {"name": "New"}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 403, "olga": 403, "sam": 201, None: 401}),
    ("get", "/api/projects/{pid}/", None, "json",
     {"alice": 200, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("patch", "/api/projects/{pid}/", {"gold_rate": 0.2}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/projects/{pid}/members/", None, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/members/", {"username": "bob", "role": "reviewer"}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/projects/{pid}/guidelines/", None, "json",
     {"alice": 200, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/prompts/import/", "jsonl", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/guidelines/", {"body": "# New", "change_summary": "All new."},
     "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 201, "olga": 404, "sam": 201, None: 401}),
    ("post", "/api/projects/{pid}/guidelines/{v}/acknowledge/", None, "json",
     {"alice": 200, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 401}),
    ("post", "/api/projects/{pid}/relabel/", {}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    # Annotators never see anyone's annotations but their own items.
    ("get", "/api/projects/{pid}/annotations/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/projects/{pid}/agreement/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/projects/{pid}/raters/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/projects/{pid}/pauses/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    # {paid} names no pause: 404 for those who may resume one.
    ("post", "/api/projects/{pid}/pauses/{paid}/resume/", {"note": "x"}, "json",
     {"alice": 403, "rita": 404, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    ("get", "/api/projects/{pid}/near-duplicates/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/near-duplicates/", None, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 202, "olga": 404, "sam": 202, None: 401}),
    # Qualification: {qsid} names no set (404 for those who may act on one).
    ("get", "/api/projects/{pid}/qualification-sets/", None, "json",
     {"alice": 403, "rita": 200, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/qualification-sets/", {"name": "Q", "items": []}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 400, "olga": 404, "sam": 400, None: 401}),
    ("post", "/api/projects/{pid}/qualification-sets/{qsid}/require/", {}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    ("post", "/api/projects/{pid}/qualification-sets/{qsid}/withdraw/", None, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    ("post", "/api/projects/{pid}/qualification-sets/{qsid}/grants/",
     {"annotator": "alice", "note": "x"}, "json",
     {"alice": 403, "rita": 404, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    ("get", "/api/projects/{pid}/qualification-results/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    # Annotators take it; with no set required, starting or answering is refused (400).
    ("get", "/api/projects/{pid}/qualification/", None, "json",
     {"alice": 200, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 401}),
    ("post", "/api/projects/{pid}/qualification/attempts/", None, "json",
     {"alice": 400, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 401}),
    ("post", "/api/projects/{pid}/qualification/answers/", {"ranking": [["A"]]}, "json",
     {"alice": 400, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 401}),
    ("get", "/api/projects/{pid}/leaderboard/", None, "json",
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/next/", None, "json",
     {"alice": 200, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 401}),
    # {aid} is alice's assignment; an empty body reaches validation (400) only for her.
    ("post", "/api/assignments/{aid}/submit/", {}, "json",
     {"alice": 400, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    ("post", "/api/assignments/{aid}/skip/", {"reason": "unclear prompt"}, "json",
     {"alice": 200, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 401}),
    # Exports: admins and engineers only; {eid} is a finished export of the project.
    ("get", "/api/projects/{pid}/exports/", None, "json",
     {"alice": 403, "rita": 403, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/exports/", {"format": "pairwise"}, "json",
     {"alice": 403, "rita": 403, "erin": 202, "adam": 202, "olga": 404, "sam": 202, None: 401}),
    ("get", "/api/exports/{eid}/", None, "json",
     {"alice": 403, "rita": 403, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/exports/{eid}/download/", None, "json",
     {"alice": 403, "rita": 403, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("get", "/api/exports/{eid}/manifest/", None, "json",
     {"alice": 403, "rita": 403, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    # Scoring: project admins only; without a reward model, a POST is refused (400).
    ("get", "/api/projects/{pid}/score/", None, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 401}),
    ("post", "/api/projects/{pid}/score/", None, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 400, "olga": 404, "sam": 400, None: 401}),
    ("post", "/api/users/", {"username": "newbie", "password": "a long enough passphrase"}, "json",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 403, "olga": 403, "sam": 201, None: 401}),
    # The API's description is public: it is the contract of an open-source project.
    ("get", "/api/schema/", None, None,
     {"alice": 200, "olga": 200, None: 200}),
    ("get", "/api/docs/", None, None,
     {"alice": 200, "olga": 200, None: 200}),
    ("post", "/api/auth/token/", {"username": "bob", "password": PASSWORD}, "json",
     {"alice": 200, "olga": 200, None: 200}),
    # Anyone may revoke the token they call with; without one there is nothing to revoke.
    ("delete", "/api/auth/token/", None, "json",
     {"alice": 204, "olga": 204, None: 401}),
]  # fmt: skip

PAGE_CASES = [
    ("get", "/", None, {"alice": 200, "olga": 200, None: 302}),
    # Everyone's own account: their API tokens ({tk} names none of theirs) and password.
    ("get", "/account/tokens/", None, {"alice": 200, "olga": 200, "sam": 200, None: 302}),
    ("post", "/account/tokens/{tk}/revoke/", None, {"alice": 302, "olga": 302, None: 302}),
    ("get", "/account/password/", None, {"alice": 200, "olga": 200, None: 302}),
    # Accounts: staff only ({uid} is bob); an invitation link is for anyone who has it
    # ({tok} names none: 410 Gone).
    ("get", "/people/", None, {"alice": 403, "adam": 403, "olga": 403, "sam": 200, None: 302}),
    ("post", "/people/", {"username": ""},
     {"alice": 403, "adam": 403, "olga": 403, "sam": 400, None: 302}),
    ("post", "/people/{uid}/invite/", None,
     {"alice": 403, "adam": 403, "olga": 403, "sam": 302, None: 302}),
    ("post", "/people/{uid}/active/", {"active": "1"},
     {"alice": 403, "adam": 403, "olga": 403, "sam": 302, None: 302}),
    ("get", "/invite/{tok}/", None, {"alice": 410, "olga": 410, None: 410}),
    ("post", "/projects/{pid}/members/{uid}/", {"role": "reviewer"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    # A rater's own record; anyone else's is simply empty.
    ("get", "/annotations/", None, {"alice": 200, "olga": 200, "sam": 200, None: 302}),
    ("get", "/favicon.ico", None, {"alice": 301, None: 301}),
    ("get", "/projects/{pid}/", None,
     {"alice": 200, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    # Staff create projects (as in the API); a project's admins edit its settings.
    ("get", "/projects/new/", None,
     {"alice": 403, "adam": 403, "olga": 403, "sam": 200, None: 302}),
    ("post", "/projects/new/", {"name": "New"},
     {"alice": 403, "adam": 403, "olga": 403, "sam": 400, None: 302}),
    ("get", "/projects/{pid}/settings/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/settings/", {"name": ""},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 400, "olga": 404, "sam": 400, None: 302}),
    ("post", "/projects/{pid}/import/", "upload",
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/members/", {"username": "bob", "role": "reviewer"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("get", "/projects/{pid}/guidelines/", None,
     {"alice": 200, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/guidelines/new/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/guidelines/preview/", {"body": "# Hi"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/guidelines/acknowledge/", None,
     {"alice": 200, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 302}),
    # Re-labelling: the requests, a preview to confirm (200), and cancelling one ({rlid}
    # names none: 404 for those who may cancel).
    ("get", "/projects/{pid}/relabel/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/relabel/", {"annotations_wanted": 1},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/relabel/{rlid}/cancel/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    ("post", "/projects/{pid}/next/", None,
     {"alice": 302, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 302}),
    ("get", "/assignments/{aid}/", None,
     {"alice": 200, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    ("post", "/assignments/{aid}/skip/", {"reason": "unclear prompt"},
     {"alice": 302, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    # Two responses of alice's own item side by side.
    ("get", "/assignments/{aid}/compare/", None,
     {"alice": 200, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    # What alice typed and has not saved, kept as she works.
    ("post", "/assignments/{aid}/draft/", {"comment": "half done"},
     {"alice": 200, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    # A whole response of alice's own item ({letter} is A).
    ("get", "/assignments/{aid}/responses/{letter}/", None,
     {"alice": 200, "rita": 404, "erin": 404, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    # Review: the one place annotators' work is shown to someone else, reviewers and
    # admins only. {prid} is the prompt of {nid}, bob's annotation; empty forms are
    # refused with a message and a redirect, so 302 means "reached the service".
    ("get", "/projects/{pid}/review/", None,
     {"alice": 403, "rita": 200, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/review/{prid}/", None,
     {"alice": 403, "rita": 200, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/review/{prid}/responses/{rid}/", None,
     {"alice": 403, "rita": 200, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/review/{prid}/reject/{nid}/", {"reason": ""},
     {"alice": 403, "rita": 302, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/review/{prid}/adjudicate/", {},
     {"alice": 403, "rita": 302, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/review/{prid}/close/", {},
     {"alice": 403, "rita": 302, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    # The prompt browser: everyone but annotators (who label blind); admins retire.
    ("get", "/projects/{pid}/prompts/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/prompts/{prid}/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/prompts/{prid}/responses/{rid}/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/prompts/near-duplicates/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/prompts/retire/", {"action": "retire"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/reward-model/", {"reward_model": "", "queue_order": "completion"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/score/", None,
     {"alice": 403, "rita": 403, "erin": 403, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("get", "/projects/{pid}/exports/", None,
     {"alice": 403, "rita": 403, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/dashboard/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/raters/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("get", "/projects/{pid}/dashboard/status/", None,
     {"alice": 403, "rita": 200, "erin": 200, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/dashboard/refresh/", None,
     {"alice": 403, "rita": 302, "erin": 302, "adam": 302, "olga": 404, "sam": 302, None: 302}),
    ("post", "/projects/{pid}/pauses/{paid}/resume/", {"note": "x"},
     {"alice": 403, "rita": 404, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    # Qualification: the rater's test and feedback ({anid} names no answer of theirs), the
    # sets and results for admins and reviewers ({qsid} names no set).
    ("get", "/projects/{pid}/qualify/", None,
     {"alice": 200, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 302}),
    ("get", "/projects/{pid}/qualify/answers/{anid}/", None,
     {"alice": 404, "rita": 403, "erin": 403, "adam": 403, "olga": 404, "sam": 403, None: 302}),
    ("get", "/projects/{pid}/qualification/", None,
     {"alice": 403, "rita": 200, "erin": 403, "adam": 200, "olga": 404, "sam": 200, None: 302}),
    ("post", "/projects/{pid}/qualification/", {"name": ""},
     {"alice": 403, "rita": 302, "erin": 403, "adam": 400, "olga": 404, "sam": 400, None: 302}),
    ("post", "/projects/{pid}/qualification/{qsid}/", {"action": "require"},
     {"alice": 403, "rita": 403, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 302}),
    ("post", "/projects/{pid}/qualification/{qsid}/grant/{uid}/", {"note": "x"},
     {"alice": 403, "rita": 404, "erin": 403, "adam": 404, "olga": 404, "sam": 404, None: 302}),
]  # fmt: skip


@dataclass
class World:
    """What the tables read: the cast, their project and olga's, alice's lease, bob's
    annotation, a finished export, and a token for every persona."""

    cast: dict
    project: object
    assignment: object
    annotation: object
    export: object
    tokens: dict


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Made once for the module, inside a transaction rolled back at its end: every test
    runs in a savepoint of it (pytest-django's own), so what one test changes the next
    never sees, and the 350 rows spend their time on the request they check."""
    from exports.services import export_build, export_create
    from labelling.queue import assignment_lease_next
    from labelling.tokens import token_create

    with django_db_blocker.unblock(), transaction.atomic():
        cast = cast_create()
        project = project_build(cast)
        other_project_build(cast)
        import_items(project, prompt_line("p-0"))
        now = timezone.now()
        assignment = assignment_lease_next(project=project, annotator=cast["alice"], now=now)
        annotation = annotate(project, cast["bob"])
        export = export_create(
            project=project, user=None, format="pairwise", file_format="jsonl", filters={},
            test_fraction=0, now=now,
        )  # fmt: skip
        export = export_build(export_id=export.pk)
        tokens = {
            name: token_create(user=user, name="tests", days=None, now=now)[1]
            for name, user in cast.items()
        }
        yield World(cast, project, assignment, annotation, export, tokens)
        transaction.set_rollback(True)


def _api_client(world: World, persona: str | None) -> APIClient:
    client = APIClient()
    if persona is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
    return client


def _cells(cases, width):
    for case in cases:
        for persona, expected in case[width].items():
            yield pytest.param(
                *case[:width], persona, expected, id=f"{case[0]} {case[1]} {persona}"
            )


@pytest.mark.parametrize(
    ("method", "path", "body", "fmt", "persona", "expected"), list(_cells(API_CASES, 4))
)
def test_api_permissions(world, db, method, path, body, fmt, persona, expected):
    client = _api_client(world, persona)
    url = path.format(
        pid=world.project.pk,
        aid=world.assignment.pk,
        v=1,
        eid=world.export.pk,
        paid=999999,
        qsid=999999,
    )
    if body == "jsonl":
        response = client.post(
            url, data=jsonl(prompt_line("p-1")), content_type="application/x-ndjson"
        )
    else:
        response = getattr(client, method)(url, body, format=fmt)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert set(response.json()) >= {"detail", "errors"}


@pytest.mark.parametrize(
    ("method", "path", "body", "persona", "expected"), list(_cells(PAGE_CASES, 3))
)
def test_page_permissions(world, db, client, method, path, body, persona, expected):
    from django.core.files.uploadedfile import SimpleUploadedFile

    if persona:
        client.force_login(world.cast[persona])
    if body == "upload":
        body = {"file": SimpleUploadedFile("p.jsonl", jsonl(prompt_line("p-1")))}
    annotation = world.annotation
    url = path.format(
        pid=world.project.pk,
        aid=world.assignment.pk,
        prid=annotation.prompt_id,
        nid=annotation.pk,
        rid=annotation.ranking[0][0],
        letter="A",
        tk="rlhf_nosuchtoken",
        rlid=999999,
        paid=999999,
        qsid=999999,
        anid=999999,
        uid=world.cast["bob"].pk,
        tok="no-such-invitation",
    )
    response = getattr(client, method)(url, body or {})
    assert response.status_code == expected
    if persona is None and expected == 302 and "favicon" not in path:
        assert response["Location"].startswith("/accounts/login/")


def _paths(resolver, prefix=""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _paths(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_url_of_ours_is_in_the_tables():
    """A new endpoint must join the tables above before it can ship."""
    ours = {
        "/"
        + route.replace("<id:project_id>", "{pid}")
        .replace("<id:assignment_id>", "{aid}")
        .replace("<id:version>", "{v}")
        .replace("<id:prompt_id>", "{prid}")
        .replace("<id:annotation_id>", "{nid}")
        .replace("<id:export_id>", "{eid}")
        .replace("<id:relabel_id>", "{rlid}")
        .replace("<id:pause_id>", "{paid}")
        .replace("<id:set_id>", "{qsid}")
        .replace("<id:answer_id>", "{anid}")
        .replace("<id:user_id>", "{uid}")
        .replace("<str:token>", "{tok}")
        .replace("<id:response_id>", "{rid}")
        .replace("<letter:letter>", "{letter}")
        .replace("<token_key:token_key>", "{tk}")
        for route in _paths(get_resolver())
        if not route.startswith(("admin/", "accounts/"))
    }
    covered = {case[1] for case in API_CASES} | {case[1] for case in PAGE_CASES}
    assert ours - covered == set()


def test_member_form_changes_a_role_and_refuses_an_unknown_user(world, db, client):
    project = world.project
    client.login(username="adam", password=PASSWORD)
    response = client.post(
        f"/projects/{project.pk}/members/", {"username": "olga", "role": "annotator"}, follow=True
    )
    assert "olga joined as Annotator." in response.content.decode()
    response = client.post(
        f"/projects/{project.pk}/members/", {"username": "ghost", "role": "admin"}
    )
    assert response.status_code == 400
    assert "No user has this username." in response.content.decode()
