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


def test_every_door_that_ends_a_token_audits_it(api, cast):
    from core.models import AuditEvent

    def revoked() -> int:
        return AuditEvent.objects.filter(verb=AuditEvent.Verb.TOKEN_REVOKED).count()

    assert api("alice").delete("/api/auth/token/").status_code == 204
    assert revoked() == 1
    api("bob"), api("bob")
    bob = cast["bob"]
    bob.set_password("a different horse battery staple")
    bob.save()  # Django tells the validators, which revoke bob's two tokens
    assert revoked() == 3
    assert set(
        AuditEvent.objects.values_list("actor__username", flat=True).filter(
            verb=AuditEvent.Verb.TOKEN_REVOKED
        )
    ) == {"alice", "bob"}


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


# --- API tokens fit for production (issue 15 point 8) -------------------------------------------


def test_tokens_are_hashed_named_several_and_expire(api, cast):
    from datetime import timedelta

    from django.utils import timezone

    from labelling.models import ApiToken

    anonymous = APIClient()
    made = [
        anonymous.post(
            "/api/auth/token/",
            {"username": "alice", "password": PASSWORD, "name": name, "expires_in_days": days},
            format="json",
        ).json()
        for name, days in (("laptop", 30), ("pipeline", 365))
    ]
    assert [m["name"] for m in made] == ["laptop", "pipeline"]
    stored = ApiToken.objects.filter(user=cast["alice"])
    assert stored.count() == 2
    for token in stored:
        assert all(m["token"] not in (token.digest, token.token_key, token.name) for m in made)
    laptop, pipeline = (APIClient() for _ in made)
    laptop.credentials(HTTP_AUTHORIZATION=f"Token {made[0]['token']}")
    pipeline.credentials(HTTP_AUTHORIZATION=f"Token {made[1]['token']}")
    assert laptop.get("/api/projects/").status_code == 200
    assert ApiToken.objects.get(name="laptop").last_used_at is not None
    # An expired token opens nothing; the other still works.
    ApiToken.objects.filter(name="laptop").update(expiry=timezone.now() - timedelta(seconds=1))
    refused = laptop.get("/api/projects/")
    assert refused.status_code == 401 and refused.json()["detail"] == "Token expired."
    assert pipeline.get("/api/projects/").status_code == 200
    too_long = anonymous.post(
        "/api/auth/token/",
        {"username": "alice", "password": PASSWORD, "expires_in_days": 3650},
        format="json",
    )
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["field"] == "expires_in_days"


def test_the_tokens_page_makes_shows_once_and_revokes(client, cast):
    from labelling.models import ApiToken

    client.login(username="alice", password=PASSWORD)
    page = client.post("/account/tokens/", {"name": "notebook", "days": "30"})
    html = page.content.decode()
    token = ApiToken.objects.get(user=cast["alice"])
    key = html.split('id="new-token">')[1].split("</code>")[0]
    assert key.startswith(token.token_key) and len(key) > 40
    again = client.get("/account/tokens/").content.decode()
    assert key not in again and "notebook" in again  # shown once, listed after
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/projects/").status_code == 200
    client.post(f"/account/tokens/{token.token_key}/revoke/")
    assert not ApiToken.objects.exists()
    assert api.get("/api/projects/").status_code == 401
    # Nobody revokes someone else's token.
    other, _key = ApiToken.objects.create(user=cast["bob"])
    client.post(f"/account/tokens/{other.token_key}/revoke/")
    assert ApiToken.objects.filter(pk=other.pk).exists()


def test_a_password_change_revokes_every_token(client, api, cast):
    first, second = api("alice"), api("alice")
    assert first.get("/api/projects/").status_code == 200
    client.login(username="alice", password=PASSWORD)
    new = "a new and long passphrase"
    page = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        follow=True,
    )
    assert "your 2 API tokens are revoked" in page.content.decode()
    assert first.get("/api/projects/").status_code == 401
    assert second.get("/api/projects/").status_code == 401
    # Whatever the door: a password set in the shell or the admin revokes them too.
    third = APIClient()
    third.post("/api/auth/token/", {"username": "bob", "password": PASSWORD}, format="json")
    from labelling.models import ApiToken

    assert ApiToken.objects.filter(user=cast["bob"]).exists()
    cast["bob"].set_password("another long passphrase")
    cast["bob"].save()
    assert not ApiToken.objects.filter(user=cast["bob"]).exists()


# --- lockout that cannot be turned against a user (issue 15 point 9) ---------------------------


def _attempt(username, password, address, forwarded=None):
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().post(LOGIN, {"username": username, "password": password}, **extra)


@override_settings(AXES_ENABLED=True, LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_one_address_trying_many_users_is_locked_out(make_user, cast):
    for i in range(12):
        make_user(f"victim{i}")
        # The twelfth failure is the one that locks: it is answered with the lockout.
        expected = 429 if i == 11 else 200
        assert _attempt(f"victim{i}", "guess", "203.0.113.7").status_code == expected
    # The address is out, even with the right password for an account it never tried...
    assert _attempt("bob", PASSWORD, "203.0.113.7").status_code == 429
    # ...and bob from his own address is not.
    assert _attempt("bob", PASSWORD, "198.51.100.2").status_code == 302


@override_settings(AXES_ENABLED=True, LOGIN_USER_FAILURE_LIMIT=8)
def test_many_addresses_trying_one_user_cannot_lock_the_user_out(cast):
    # alice logged in from her office before.
    assert _attempt("alice", PASSWORD, "198.51.100.10").status_code == 302
    # An attacker guesses from eight addresses, once each: under the pair limit, and the
    # eighth failure reaches the username's limit.
    for i in range(8):
        expected = 429 if i == 7 else 200
        assert _attempt("alice", "guess", f"203.0.113.{i}").status_code == expected
    # A ninth address, even with the password, is refused for alice...
    assert _attempt("alice", PASSWORD, "203.0.113.99").status_code == 429
    # ...but alice, from where she logs in, is not locked out.
    assert _attempt("alice", PASSWORD, "198.51.100.10").status_code == 302
    # Nor is anyone else.
    assert _attempt("bob", PASSWORD, "203.0.113.99").status_code == 302


def test_behind_trusted_proxies_the_real_client_address_counts(settings, cast):
    from django.test import RequestFactory

    # The settings fixture only: mixing it with override_settings leaks on teardown.
    settings.AXES_ENABLED = True

    from labelling.lockout import client_address

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8"
    )
    settings.TRUSTED_PROXIES = 0
    assert client_address(request) == "10.0.0.1"  # no proxy: the header is the client's
    settings.TRUSTED_PROXIES = 1
    assert client_address(request) == "5.6.7.8"  # what the one proxy saw
    settings.TRUSTED_PROXIES = 2
    assert client_address(request) == "1.2.3.4"
    settings.TRUSTED_PROXIES = 3
    assert client_address(request) == "10.0.0.1"  # fewer entries than proxies: the peer
    junk = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip")
    settings.TRUSTED_PROXIES = 1
    assert client_address(junk) == "10.0.0.1"
    # Behind one proxy, a client cannot pick its address: forging the header's left part
    # leaves the right-most entry, the proxy's own, counting.
    settings.TRUSTED_PROXIES = 1
    for _ in range(5):
        _attempt("alice", "guess", "10.0.0.1", forwarded="9.9.9.9, 203.0.113.50")
    assert (
        _attempt("alice", PASSWORD, "10.0.0.1", forwarded="8.8.8.8, 203.0.113.50").status_code
        == 429
    )
    assert _attempt("alice", PASSWORD, "10.0.0.1", forwarded="203.0.113.51").status_code == 302


@override_settings(AXES_ENABLED=True)
def test_the_api_token_endpoint_follows_the_same_limits(cast):
    with override_settings(LOGIN_USER_FAILURE_LIMIT=4):
        for i in range(4):
            APIClient(REMOTE_ADDR=f"203.0.113.{i}").post(
                "/api/auth/token/", {"username": "alice", "password": "guess"}, format="json"
            )
        refused = APIClient(REMOTE_ADDR="203.0.113.200").post(
            "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
        )
        assert refused.status_code == 429
