"""What each hot request says to the database, pinned (issue 16, point 1).

Every test runs one request under `pinned(name, postgresql=N, sqlite=M)`: the statements
it sends are counted (N on PostgreSQL, M on SQLite) and compared, text and order, with
`tests/golden/sql/<vendor>/<name>.sql`, one statement a line, as composed (placeholders,
not values). A refactor that changes what a request runs shows up here as a diff to read;
when the change is meant, rewrite the files with

    SQL_GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/test_queries.py            # SQLite
    SQL_GOLDEN_UPDATE=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/rlhf_t \\
        .venv/bin/python -m pytest tests/test_queries.py                           # PostgreSQL

and commit them with the change. The counts stay written in the tests, so a count that
moves is a change to the test, not only to a golden file. Inside a test every transaction
is a savepoint, so the counts include SAVEPOINT and RELEASE statements that production
sends as BEGIN and COMMIT. PostgreSQL's COPY (the import's rows) goes by another door
than `execute` and is not in its file; `test_every_composed_statement_is_as_pinned` pins
the statements built from fragments for every combination, on either database.
"""

import difflib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from labelling.models import Assignment
from labelling.queue import assignment_lease_next
from tests.conftest import PASSWORD, import_items, prompt_line

GOLDEN = Path(__file__).parent / "golden" / "sql"
UPDATE = bool(os.environ.get("SQL_GOLDEN_UPDATE"))

# What differs between two runs of the same request: savepoint and cursor names.
_VARYING = [
    (re.compile(r'"s\d+_x\d+"'), '"savepoint"'),
    (re.compile(r'"?_django_curs_\d+_\w+"?'), "cursor"),
]


def _normalised(sql: str) -> str:
    for pattern, replacement in _VARYING:
        sql = pattern.sub(replacement, sql)
    return " ".join(sql.split())


@contextmanager
def pinned(name: str, **counts: int) -> Iterator[list[str]]:
    """Record the statements sent inside the block; then check their number for this
    database and their text against the golden file."""
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(_normalised(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen
    path = GOLDEN / connection.vendor / f"{name}.sql"
    text = "".join(f"{sql}\n" for sql in seen)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    expected = path.read_text() if path.exists() else ""
    diff = "\n".join(
        difflib.unified_diff(
            expected.splitlines(), text.splitlines(), str(path), "this run", lineterm=""
        )
    )
    assert text == expected, f"the statements of {name} changed:\n{diff}"
    assert len(seen) == counts[connection.vendor], "\n".join(seen)


# --- the annotator's cycle ----------------------------------------------------------------


@pytest.fixture
def queue(project):
    import_items(project, *(prompt_line(f"p-{i}") for i in range(3)))
    return project


@pytest.fixture
def alice(api):
    return api("alice")


def submission(body: dict, *, best_last: bool = False) -> dict:
    """Every response ranked in the order of their ids (the reverse with `best_last`),
    whatever order the letters showed them in."""
    letters = [r["id"] for r in body["responses"]]
    if "assignment_id" in body:
        order = Assignment.objects.get(pk=body["assignment_id"]).display_order
        letters = [letter for _, letter in sorted(zip(order, letters, strict=True))]
    if best_last:
        letters = letters[::-1]
    return {
        "ranking": [[letter] for letter in letters],
        "ratings": {letter: {"helpfulness": 5, "honesty": 6} for letter in letters},
        "critiques": {},
        "comment": "",
        "flags": {},
    }


def test_next_with_a_token(queue, alice):
    with pinned("api-next", postgresql=7, sqlite=10):
        response = alice.post(f"/api/projects/{queue.pk}/next/")
    assert response.status_code == 200, response.content


def test_next_again_returns_the_lease_held(queue, alice):
    alice.post(f"/api/projects/{queue.pk}/next/")
    with pinned("api-next-held", postgresql=5, sqlite=5):
        response = alice.post(f"/api/projects/{queue.pk}/next/")
    assert response.status_code == 200


def test_next_with_nothing_left(project, alice):
    with pinned("api-next-empty", postgresql=9, sqlite=7):
        response = alice.post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 204


@pytest.fixture
def leased(queue, alice) -> dict:
    body = alice.post(f"/api/projects/{queue.pk}/next/").json()
    body["url"] = f"/api/assignments/{body['assignment_id']}/submit/"
    return body


def test_a_first_submission(leased, alice):
    body = submission(leased)
    with pinned("api-submit-first", postgresql=9, sqlite=9):
        response = alice.post(leased["url"], body, format="json")
    assert response.status_code == 201, response.content


def test_the_same_submission_again(leased, alice):
    body = submission(leased)
    alice.post(leased["url"], body, format="json")
    with pinned("api-submit-repeat", postgresql=7, sqlite=7):
        response = alice.post(leased["url"], body, format="json")
    assert response.status_code == 200


def test_an_edit(leased, alice):
    alice.post(leased["url"], submission(leased), format="json")
    edited = submission(leased, best_last=True)
    with pinned("api-submit-edit", postgresql=15, sqlite=15):
        response = alice.post(leased["url"], edited, format="json")
    assert response.status_code == 201, response.content


def test_an_invalid_submission(leased, alice):
    body = submission(leased)
    body["ranking"] = body["ranking"][:-1]
    with pinned("api-submit-invalid", postgresql=2, sqlite=2):
        response = alice.post(leased["url"], body, format="json")
    assert response.status_code == 400


def test_an_expired_lease_submitted_while_its_slot_is_free(queue, alice, cast):
    assignment = assignment_lease_next(
        project=queue, annotator=cast["alice"], now=timezone.now() - timedelta(hours=2)
    )
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.EXPIRED)
    queue.prompts.filter(pk=assignment.prompt_id).update(live_count=0)
    body = submission({"responses": [{"id": letter} for letter in "ABCD"]})
    with pinned("api-submit-expired", postgresql=14, sqlite=14):
        response = alice.post(f"/api/assignments/{assignment.pk}/submit/", body, format="json")
    assert response.status_code == 201, response.content


def test_an_annotators_cycle_is_eleven_statements_on_postgresql(queue, alice):
    """The README's figure for bench/annotate.py: a `next` and its first submission,
    with a token whose last use was recorded less than five minutes ago, are 11
    statements on PostgreSQL, and each of the two writes is a transaction of its own
    (BEGIN and COMMIT; savepoints here)."""
    alice.get("/api/projects/")  # the token's first use is recorded, later ones every 5 min
    with pinned("api-cycle", postgresql=15, sqlite=18) as cycle:
        body = alice.post(f"/api/projects/{queue.pk}/next/").json()
        url = f"/api/assignments/{body['assignment_id']}/submit/"
        response = alice.post(url, submission({"responses": body["responses"]}), format="json")
    assert response.status_code == 201, response.content
    statements = [sql for sql in cycle if "SAVEPOINT" not in sql]
    assert len(statements) == {"postgresql": 11, "sqlite": 14}[connection.vendor]


@pytest.fixture
def alice_browser(cast) -> Client:
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    return client


def test_a_submission_from_the_labelling_page(queue, cast, alice_browser):
    assignment = assignment_lease_next(project=queue, annotator=cast["alice"], now=timezone.now())
    form = {}
    for rank, letter in enumerate("ABCD", 1):
        form[f"rank-{letter}"] = str(rank)
        form[f"rating-{letter}-helpfulness"] = "5"
        form[f"rating-{letter}-honesty"] = "6"
    with pinned("page-submit", postgresql=15, sqlite=18):
        response = alice_browser.post(f"/assignments/{assignment.pk}/", form)
    assert response.status_code == 302, response.content


# --- reading ------------------------------------------------------------------------------


def test_token_authentication_and_the_project_list(queue, alice):
    with pinned("api-projects", postgresql=8, sqlite=8):
        response = alice.get("/api/projects/")
    assert response.status_code == 200


def test_project_scoping_of_one_project(queue, alice):
    with pinned("api-project", postgresql=7, sqlite=7):
        response = alice.get(f"/api/projects/{queue.pk}/")
    assert response.status_code == 200


def test_the_home_page_asks_the_same_for_one_project_as_for_three(
    queue, project_factory, alice_browser
):
    with pinned("page-home-one", postgresql=14, sqlite=14) as one:
        assert alice_browser.get("/").status_code == 200
    project_factory("Second")
    project_factory("Third")
    with pinned("page-home-three", postgresql=14, sqlite=14) as three:
        assert alice_browser.get("/").status_code == 200
    assert b"Third" in alice_browser.get("/").content and len(three) == len(one)


def test_the_review_queue(queue, api, cast):
    client = Client()
    assert client.login(username="rita", password=PASSWORD)
    for user in ("alice", "bob"):
        annotator = api(user)
        body = annotator.post(f"/api/projects/{queue.pk}/next/").json()
        url = f"/api/assignments/{body['assignment_id']}/submit/"
        annotator.post(url, submission(body, best_last=user == "bob"), format="json")
    with pinned("page-review-queue", postgresql=5, sqlite=5):
        response = client.get(f"/projects/{queue.pk}/review/")
    assert response.status_code == 200


def test_the_exports_list(queue, api):
    engineer = api("erin")
    for file_format in ("jsonl", "parquet"):
        engineer.post(
            f"/api/projects/{queue.pk}/exports/",
            {"format": "pairwise", "file_format": file_format},
            format="json",
        )
    with pinned("api-exports", postgresql=4, sqlite=4):
        response = engineer.get(f"/api/projects/{queue.pk}/exports/")
    assert response.status_code == 200 and response.json()["count"] == 2
    client = Client()
    assert client.login(username="erin", password=PASSWORD)
    with pinned("page-exports", postgresql=7, sqlite=7):
        assert client.get(f"/projects/{queue.pk}/exports/").status_code == 200


# --- reports, imports and jobs --------------------------------------------------------------


@pytest.fixture
def labelled(queue, api):
    for user in ("alice", "bob"):
        annotator = api(user)
        body = annotator.post(f"/api/projects/{queue.pk}/next/").json()
        url = f"/api/assignments/{body['assignment_id']}/submit/"
        annotator.post(url, submission(body, best_last=user == "bob"), format="json")
    return queue


def test_the_agreement_report(labelled, api):
    engineer = api("erin")
    with pinned("api-agreement", postgresql=10, sqlite=7):
        response = engineer.get(f"/api/projects/{labelled.pk}/agreement/")
    assert response.status_code == 200


def test_the_leaderboard(labelled, api):
    engineer = api("erin")
    with pinned("api-leaderboard", postgresql=10, sqlite=7):
        response = engineer.get(f"/api/projects/{labelled.pk}/leaderboard/")
    assert response.status_code == 200


def test_an_import(project, api):
    from tests.conftest import jsonl

    # The first import of a project also makes its near-duplicate scan row (five statements).
    admin = api("adam")
    body = jsonl(*(prompt_line(f"p-{i}") for i in range(3)))
    with pinned("api-import", postgresql=14, sqlite=15):
        response = admin.post(
            f"/api/projects/{project.pk}/prompts/import/", body, content_type="application/jsonl"
        )
    assert response.status_code == 200, response.content


def test_an_export_build(labelled, cast):
    from exports.services import export_build, export_create

    export = export_create(
        project=labelled,
        user=cast["erin"],
        format="pairwise",
        file_format="jsonl",
        filters={},
        test_fraction=0.5,
        now=timezone.now(),
    )
    with pinned("export-build", postgresql=14, sqlite=14):
        export = export_build(export_id=export.pk)
    assert export.status == "done", export.error


def test_every_composed_statement_is_as_pinned():
    """The statements built from fragments, for every combination they are built for,
    whichever database runs the suite."""
    from labelling.models import Project
    from labelling.queue import _claim_sql, _lease_sql
    from labelling.scoring import _GAPS, _ROUND, _STORE
    from ranking.agreement import _PostgresReads

    composed = []
    orders = [Project.QueueOrder.COMPLETION, Project.QueueOrder.UNCERTAINTY]
    for gold in (False, True):
        for order in orders:
            for wait in (False, True):
                composed.append(
                    (
                        f"claim {gold=} {order=} {wait=} postgresql",
                        _claim_sql(gold=gold, order=order, wait=wait),
                    )
                )
                composed.append(
                    (
                        f"lease {gold=} {order=} {wait=}",
                        _lease_sql(gold=gold, order=order, wait=wait),
                    )
                )
    reads = _PostgresReads
    for name in ("annotations", "ranks", "ratings"):
        composed.append(
            (f"agreement {name} postgresql", reads.JOIN.format(getattr(reads, name.upper())))
        )
    composed.append(("agreement responses", reads.RESPONSES))
    composed += [("scores postgresql", _STORE), ("gaps postgresql", _GAPS)]
    composed.append(("scoring round postgresql", _ROUND))
    text = "".join(f"-- {name}\n{_normalised(sql)}\n" for name, sql in composed)
    path = GOLDEN / "composed.sql"
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text()
