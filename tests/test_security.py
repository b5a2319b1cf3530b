"""Sessions and tokens (issue 8): login rate limiting with lockout, revocable tokens."""

import time

import pytest
from django.db import close_old_connections, connection
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


@override_settings(AXES_ENABLED=True)
def test_the_login_page_locks_a_username_out_after_five_failures(client, cast):
    for _ in range(4):
        response = client.post(LOGIN, {"username": "alice", "password": "wrong guess"})
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()
    locked = client.post(LOGIN, {"username": "alice", "password": "wrong guess"})
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()
    # Even the right password is refused while the lockout lasts...
    assert client.post(LOGIN, {"username": "alice", "password": PASSWORD}).status_code == 429
    # ...for that username only: bob, from the same address, logs in.
    assert client.post(LOGIN, {"username": "bob", "password": PASSWORD}).status_code == 302


@override_settings(AXES_ENABLED=True)
def test_a_success_clears_the_count(client, cast):
    for _ in range(4):
        client.post(LOGIN, {"username": "alice", "password": "wrong guess"})
    assert client.post(LOGIN, {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(4):
        client.post(LOGIN, {"username": "alice", "password": "wrong guess"})
    assert client.post(LOGIN, {"username": "alice", "password": PASSWORD}).status_code == 302


@override_settings(AXES_ENABLED=True)
def test_the_token_endpoint_locks_out_too(cast):
    client = APIClient()
    for _ in range(5):
        response = client.post(
            "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
        )
        assert response.status_code in (400, 429)
    refused = client.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.json()["detail"]


def test_a_token_can_be_revoked(api):
    client = api("alice")
    assert client.get("/api/projects/").status_code == 200
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/projects/").status_code == 401
    # Revoking again: the token is gone, so the request is not authenticated.
    assert client.delete("/api/auth/token/").status_code == 401
    assert APIClient().delete("/api/auth/token/").status_code == 401


def test_an_unknown_token_is_refused_with_401(cast):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    refused = client.get("/api/projects/")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid token."


def test_a_deactivated_users_token_stops_working(api, cast):
    client = api("alice")
    assert client.get("/api/projects/").status_code == 200
    cast["alice"].is_active = False
    cast["alice"].save(update_fields=["is_active"])
    refused = client.get("/api/projects/")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "User inactive or deleted."


def _server_ends_this_connection() -> None:
    """What a PostgreSQL restart does to every connection, done to this one."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])


POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="terminates a PostgreSQL server process"
)


@POSTGRESQL_ONLY
def test_a_database_outage_is_a_503_to_retry_and_the_service_recovers(
    transactional_db, api, project
):
    client = api("alice")
    assert client.get(f"/api/projects/{project.pk}/").status_code == 200
    _server_ends_this_connection()
    refused = client.get(f"/api/projects/{project.pk}/")
    assert refused.status_code == 503
    assert refused.json() == {
        "detail": "The database is unavailable for a moment; try again.",
        "errors": [],
    }
    assert refused["Retry-After"] == "1"
    # What Django does at the end of every request in production (the test client skips
    # it): the broken connection is dropped, and the next request opens a new one.
    close_old_connections()
    assert client.get(f"/api/projects/{project.pk}/").status_code == 200


@POSTGRESQL_ONLY
def test_a_page_during_a_database_outage_says_to_send_again(transactional_db, project, cast):
    client = Client(raise_request_exception=False)
    client.login(username="alice", password=PASSWORD)
    assert client.get("/").status_code == 200
    _server_ends_this_connection()
    refused = client.get("/")
    assert refused.status_code == 503
    assert refused["Retry-After"] == "1"
    assert "The database is unavailable for a moment" in refused.content.decode()
    close_old_connections()
    assert client.get("/").status_code == 200


@pytest.fixture
def persistent_connection(transactional_db, monkeypatch):
    """A connection kept across requests, as in production (the tests close theirs)."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    yield
    connection.close()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@POSTGRESQL_ONLY
def test_a_connection_that_sat_idle_is_checked_and_replaced_before_use(
    persistent_connection, monkeypatch
):
    from rlhf_site.postgresql import base

    monkeypatch.setattr(base, "TRUSTED_IDLE_SECONDS", 0.05)
    before = _backend_pid()
    close_old_connections()  # a request ends
    _server_ends_this_connection()
    time.sleep(0.1)  # longer than the trusted idle time
    close_old_connections()  # the next request starts
    assert _backend_pid() != before  # the health check found it dead: a new connection


@POSTGRESQL_ONLY
def test_a_connection_that_worked_a_moment_ago_is_used_without_a_check(persistent_connection):
    # The price of skipping a round trip per request: a connection the server drops in
    # the second after its last request fails that next request (a 503 to send again),
    # and is replaced at its end.
    from django.db.utils import OperationalError

    before = _backend_pid()
    close_old_connections()  # a request ends...
    close_old_connections()  # ...and the next starts at once
    _server_ends_this_connection()
    with pytest.raises(OperationalError):
        _backend_pid()
    close_old_connections()  # that request ends: Django drops the broken connection
    assert _backend_pid() != before


# --- errors that leak nothing (issue 15 point 10) -----------------------------------------------


@pytest.mark.parametrize("debug", [True, False])
def test_an_error_page_shows_no_setting_and_no_environment(client, settings, monkeypatch, debug):
    """make run serves with DEBUG on; Django's technical error page would print the
    settings and, under runserver, the process's environment."""
    from django.test import Client

    monkeypatch.setenv("CANARY_TOKEN", "env-canary-4242")
    settings.DEBUG = debug
    settings.ROOT_URLCONF = "tests.urls_failing"
    quiet = Client(raise_request_exception=False)
    for path, kind in (
        ("/failing/", "text/html"),
        ("/api/failing/", "application/json"),
        ("/api/failing-plain/", "application/json"),
    ):
        response = quiet.get(path, HTTP_ACCEPT=kind)
        body = response.content.decode()
        assert response.status_code == 500, path
        for leak in ("env-canary-4242", "CANARY_TOKEN", settings.SECRET_KEY, "DATABASES",
                     "sk-test-canary", "Traceback", "RuntimeError"):  # fmt: skip
            assert leak not in body, (debug, path, leak)
    page = quiet.get("/failing/", HTTP_ACCEPT="text/html").content.decode()
    assert "Something went wrong on our side" in page
    api = quiet.get("/api/failing/", HTTP_ACCEPT="application/json")
    assert api.json() == {
        "detail": "The server failed on this request; it is logged.",
        "errors": [],
    }


@pytest.mark.parametrize(
    ("key", "refused"),
    [
        ("short-key", True),
        ("django-insecure-local-development-only-never-in-production", True),
        ("k" * 49, True),
        ("k" * 50, False),
    ],
)
def test_a_weak_secret_key_stops_a_production_start(key, refused):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": key,
        "DJANGO_SETTINGS_MODULE": "rlhf_site.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (result.returncode != 0) == refused, result.stderr[-500:]
    if refused:
        assert "SECRET_KEY is too weak" in result.stderr
