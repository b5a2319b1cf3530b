"""The site's own pages for what goes wrong (issue 17): 403, 404, 500 and an expired
form are pages in the site's layout, saying what happened and where to go."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def _signed_in(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


def test_an_unknown_page_is_the_sites_404_in_its_layout(project, cast):
    response = _signed_in("alice").get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing here" in page
    assert 'class="topbar"' in page and "My projects" in page  # the layout, signed in
    assert reverse("home") in page


def test_another_projects_page_is_the_same_404_as_a_missing_one(project, cast):
    missing = _signed_in("olga").get(reverse("project", args=[project.pk]))
    assert missing.status_code == 404
    assert "There is nothing here" in missing.content.decode()


def test_a_member_without_the_role_gets_the_sites_403(project, cast):
    response = _signed_in("alice").get(reverse("dashboard", args=[project.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role does not allow this" in page and 'class="topbar"' in page


def test_an_expired_form_says_nothing_was_saved_and_what_to_do(project, cast):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alice", password=PASSWORD)
    response = client.post(reverse("label-next", args=[project.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form had expired" in page and "Nothing was saved" in page
    assert 'class="topbar"' in page


@pytest.mark.urls("tests.urls_failing")
def test_a_server_failure_is_the_sites_500_page(client, cast, settings):
    settings.DEBUG = False
    client.raise_request_exception = False
    assert client.login(username="alice", password=PASSWORD)
    response = client.get("/failing/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and 'class="topbar"' in page
