"""People (issue 17, point 2): staff make accounts with a password or a one-time link,
deactivate and reactivate them; project admins change roles and remove members; all of
it audited."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.models import AuditEvent
from labelling.models import Invite, Membership
from tests.conftest import PASSWORD

NEW_PASSWORD = "a long and unusual passphrase 42"


def as_staff(client):
    client.login(username="sam", password=PASSWORD)
    return client


def invite_link(page: str) -> str:
    found = re.search(r'value="http://testserver(/invite/[^"]+/)"', page)
    assert found, "the page shows the link"
    return found.group(1)


def test_staff_make_an_account_with_a_password(client, cast):
    page = as_staff(client).post(
        "/people/", {"username": "nina", "password": NEW_PASSWORD}, follow=True
    )
    assert "nina can log in now" in page.content.decode()
    client.logout()
    assert client.login(username="nina", password=NEW_PASSWORD)
    assert AuditEvent.objects.filter(verb="user.created", data__username="nina").exists()


def test_a_weak_password_is_refused_with_the_reasons(client, cast):
    response = as_staff(client).post("/people/", {"username": "nina", "password": "1234"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "This password is too short" in page and "data-error-summary" in page
    assert not User.objects.filter(username="nina").exists()


def test_an_invitation_sets_a_password_once_and_logs_in(client, cast, project):
    page = as_staff(client).post("/people/", {"username": "nina", "email": "n@example.org"})
    assert page.status_code == 200
    link = invite_link(page.content.decode())
    nina = User.objects.get(username="nina")
    assert not nina.is_active and not nina.has_usable_password()
    assert Invite.objects.get().digest not in link  # only the digest is kept
    # Admins may add the invited account to a project before it is used.
    client.login(username="adam", password=PASSWORD)
    client.post(f"/projects/{project.pk}/members/", {"username": "nina", "role": "annotator"})
    assert Membership.objects.filter(user=nina, project=project).exists()

    client.logout()
    form = client.get(link)
    assert (
        form.status_code == 200
        and "You are invited as <strong>nina</strong>" in form.content.decode()
    )
    weak = client.post(link, {"new_password1": "nina", "new_password2": "nina"})
    assert weak.status_code == 400
    done = client.post(
        link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert "Welcome, nina: your password is set." in done.content.decode()
    assert "Chatbot comparisons" in done.content.decode()  # logged in, on their home
    nina.refresh_from_db()
    assert nina.is_active and nina.check_password(NEW_PASSWORD)
    client.logout()
    again = client.get(link)
    assert again.status_code == 410 and "has been used or has expired" in again.content.decode()
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"user.invited", "user.invite_accepted"} <= verbs


def test_an_expired_or_replaced_link_does_not_work(client, cast):
    page = as_staff(client).post("/people/", {"username": "nina"}).content.decode()
    first = invite_link(page)
    nina = User.objects.get(username="nina")
    second = invite_link(client.post(f"/people/{nina.pk}/invite/").content.decode())
    client.logout()
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200
    Invite.objects.filter(used_at__isnull=True).update(expires_at=timezone.now() - timedelta(1))
    assert client.get(second).status_code == 410
    assert client.get("/invite/not-a-token/").status_code == 410


def test_a_deactivated_account_cannot_log_in_or_use_its_tokens(client, cast, api):
    bob_api = api("bob")
    bob_session = client.__class__()
    bob_session.login(username="bob", password=PASSWORD)
    page = as_staff(client).post(f"/people/{cast['bob'].pk}/active/", {"active": "0"}, follow=True)
    assert "bob is deactivated" in page.content.decode()
    assert bob_api.get("/api/projects/").status_code == 401
    assert bob_session.get("/").status_code == 302  # the session ended
    assert not client.__class__().login(username="bob", password=PASSWORD)
    client.post(f"/people/{cast['bob'].pk}/active/", {"active": "1"})
    assert client.__class__().login(username="bob", password=PASSWORD)
    verbs = list(AuditEvent.objects.filter(data__username="bob").values_list("verb", flat=True))
    assert "user.deactivated" in verbs and "user.reactivated" in verbs
    own = client.post(f"/people/{cast['sam'].pk}/active/", {"active": "0"}, follow=True)
    assert "You cannot deactivate your own account." in own.content.decode()


@pytest.mark.parametrize("who", ["adam", "alice"])
def test_only_staff_manage_accounts(client, cast, who):
    client.login(username=who, password=PASSWORD)
    assert client.get("/people/").status_code == 403
    assert client.post("/people/", {"username": "x", "password": NEW_PASSWORD}).status_code == 403


def test_admins_change_roles_and_remove_members_but_keep_an_admin(client, project, cast):
    client.login(username="adam", password=PASSWORD)
    url = f"/projects/{project.pk}/members/"
    page = client.post(f"{url}{cast['bob'].pk}/", {"role": "reviewer"}, follow=True)
    assert "bob is now Reviewer." in page.content.decode()
    page = client.post(f"{url}{cast['bob'].pk}/", {"action": "remove"}, follow=True)
    assert "bob is no longer a member." in page.content.decode()
    assert not Membership.objects.filter(project=project, user=cast["bob"]).exists()
    removed = AuditEvent.objects.get(verb="member.removed")
    assert removed.data == {"username": "bob", "role": "reviewer"} and removed.actor == cast["adam"]
    # adam is the only admin: neither demoted nor removed.
    for body in ({"role": "annotator"}, {"action": "remove"}):
        page = client.post(f"{url}{cast['adam'].pk}/", body, follow=True).content.decode()
        assert "adam is the project&#x27;s only admin" in page
    assert Membership.objects.get(project=project, user=cast["adam"]).role == "admin"
    # Nobody outside the project is reached through it.
    assert client.post(f"{url}{cast['olga'].pk}/", {"action": "remove"}).status_code == 404


def test_a_link_is_only_for_an_account_still_waiting_for_its_invitation(client, cast, make_user):
    root = make_user("root", is_staff=True, is_superuser=True)
    root.set_unusable_password()
    root.save()
    rater = make_user("rater-kim")
    rater.set_unusable_password()
    rater.save()
    as_staff(client)
    for target in (root, rater, cast["bob"]):
        page = client.post(f"/people/{target.pk}/invite/", follow=True).content.decode()
        assert "was not invited, or has accepted" in page, target
    assert not Invite.objects.exists()
    # Nor does staff that is not a superuser change a staff account.
    page = client.post(f"/people/{root.pk}/active/", {"active": "0"}, follow=True)
    assert "Only a superuser changes a staff account." in page.content.decode()
    assert User.objects.get(pk=root.pk).is_active


def test_an_invitation_can_be_cancelled_and_the_page_after_a_link_posts_to_people(client, cast):
    page = as_staff(client).post("/people/", {"username": "nina"})
    assert page["Cache-Control"] == "no-store"
    body = page.content.decode()
    link = invite_link(body)
    assert 'action="/people/"' in body  # the forms do not post to where the link was made
    nina = User.objects.get(username="nina")
    page = client.post(f"/people/{nina.pk}/active/", {"active": "0"}, follow=True)
    assert "The invitation of nina is cancelled" in page.content.decode()
    assert "invitation expired or cancelled" in page.content.decode()
    assert AuditEvent.objects.filter(verb="user.deactivated", data__username="nina").exists()
    client.logout()
    assert client.get(link).status_code == 410


def test_searching_people_keeps_the_query_across_pages(client, cast, make_user):
    for i in range(55):
        make_user(f"a&b-{i:02d}")
    page = as_staff(client).get("/people/", {"q": "a&b"}).content.decode()
    assert "q=a%26b&amp;page=2" in page
