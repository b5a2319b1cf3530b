"""People's pages (issue 17, point 2): staff make accounts (with a password, or with a
one-time invitation link), deactivate and reactivate them; a project's admins change
members' roles and remove members (labelling.people)."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.http import AuthenticatedHttpRequest
from labelling import selectors
from labelling.models import Invite
from labelling.people import (
    INVITE_DAYS,
    invite_accept,
    invite_create,
    invite_for,
    membership_remove,
    user_set_active,
)
from labelling.roles import ADMINS
from labelling.services import membership_set, user_create

PAGE_SIZE = 50


class PersonForm(forms.Form):
    username = forms.RegexField(
        label=_lazy("Username"),
        regex=r"^[\w.@+-]{1,150}$",
        max_length=150,
        error_messages={"invalid": _lazy("Letters, digits and @ . + - _ only.")},
    )
    email = forms.EmailField(label=_lazy("Email (optional)"), required=False)
    password = forms.CharField(
        label=_lazy("Password (optional)"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_lazy(
            "Leave it empty to get a one-time link instead, for them to set their own."
        ),
    )

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            candidate = get_user_model()(
                username=self.data.get("username", ""), email=self.data.get("email", "")
            )
            validate_password(password, user=candidate)
        return password


def _staff(request: AuthenticatedHttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied(_("Only staff manage accounts."))


def _people(query: str) -> QuerySet[Any]:
    pending = Invite.objects.filter(
        user=OuterRef("pk"), used_at__isnull=True, expires_at__gt=timezone.now()
    )
    users = (
        get_user_model()
        .objects.annotate(
            projects=Count("memberships"),
            invited=Exists(pending),
            was_invited=Exists(Invite.objects.filter(user=OuterRef("pk"))),
        )
        .order_by("username")
    )
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    return users


def _people_page(
    request: AuthenticatedHttpRequest,
    *,
    form: PersonForm | None = None,
    link: str = "",
    status: int = 200,
) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()[:150]
    page = Paginator(_people(query), PAGE_SIZE).get_page(request.GET.get("page"))
    response = render(
        request,
        "labelling/people.html",
        {
            "form": form or PersonForm(),
            "page": page,
            "q": query,
            "query": urlencode({"q": query}) if query else "",
            "link": link,
            "invite_days": INVITE_DAYS,
        },
        status=status,
    )
    if link:  # the one time the link is shown: not to be kept by a cache
        response["Cache-Control"] = "no-store"
    return response


@login_required
def people_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    _staff(request)
    if request.method != "POST":
        return _people_page(request)
    form = PersonForm(request.POST)
    if not form.is_valid():
        return _people_page(request, form=form, status=400)
    data, now = form.cleaned_data, timezone.now()
    try:
        if data["password"]:
            user = user_create(
                username=data["username"],
                password=data["password"],
                email=data["email"],
                actor=request.user,
                now=now,
            )
        else:
            invitation = invite_create(
                username=data["username"], email=data["email"], actor=request.user, now=now
            )
    except DomainError as refused:
        form.add_error("username", refused.message)
        return _people_page(request, form=form, status=400)
    if data["password"]:
        messages.success(
            request,
            _("%(name)s can log in now with the password you chose.")
            % {"name": user.get_username()},
        )
        return redirect("people")
    # The link is shown once, on this page, and kept nowhere but as a digest.
    return _people_page(request, link=_invite_url(request, invitation.token))


def _invite_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("invite", args=[token]))


@login_required
@require_POST
def person_invite_page(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    _staff(request)
    user = get_object_or_404(get_user_model(), pk=user_id)
    try:
        invitation = invite_create(
            username=user.get_username(), actor=request.user, now=timezone.now(), user=user
        )
    except DomainError as refused:
        messages.error(request, refused.message)
        return redirect("people")
    return _people_page(request, link=_invite_url(request, invitation.token))


@login_required
@require_POST
def person_active_page(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    _staff(request)
    user = get_object_or_404(get_user_model(), pk=user_id)
    active = request.POST.get("active") == "1"
    try:
        changed = user_set_active(user=user, active=active, actor=request.user, now=timezone.now())
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        if not changed:
            messages.info(
                request, _("Nothing to change for %(name)s.") % {"name": user.get_username()}
            )
            return redirect("people")
        if not active and not user.has_usable_password():
            messages.success(
                request,
                _("The invitation of %(name)s is cancelled: its link no longer works.")
                % {"name": user.get_username()},
            )
            return redirect("people")
        text = (
            _("%(name)s can log in again.")
            if active
            else _(
                "%(name)s is deactivated: they cannot log in, and their API tokens stop working."
            )
        )
        messages.success(request, text % {"name": user.get_username()})
    return redirect("people")


def invite_page(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time link: set a password, and be logged in."""
    now = timezone.now()
    try:
        invite = invite_for(token=token, now=now)
    except DomainError as refused:
        return render(request, "registration/invite.html", {"refused": refused.message}, status=410)
    form = SetPasswordForm(invite.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invite_accept(
                invite=invite, password=form.cleaned_data["new_password1"], now=now
            )
        except DomainError as refused:
            return render(
                request, "registration/invite.html", {"refused": refused.message}, status=410
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request, _("Welcome, %(name)s: your password is set.") % {"name": user.get_username()}
        )
        return redirect("home")
    return render(
        request,
        "registration/invite.html",
        {"form": form, "invited": invite.user},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def member_change_page(
    request: AuthenticatedHttpRequest, project_id: int, user_id: int
) -> HttpResponse:
    """A member's role changed, or the member removed (`action=remove`)."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    member: User = get_object_or_404(get_user_model(), pk=user_id, memberships__project=project)
    now = timezone.now()
    name = member.get_username()
    try:
        if request.POST.get("action") == "remove":
            membership_remove(project=project, user=member, actor=request.user, now=now)
            messages.success(request, _("%(name)s is no longer a member.") % {"name": name})
        else:
            change = membership_set(
                project=project,
                user=member,
                role=request.POST.get("role", ""),
                actor=request.user,
                now=now,
            )
            messages.success(
                request,
                _("%(name)s is now %(role)s.")
                % {"name": name, "role": change.membership.get_role_display()},
            )
    except DomainError as refused:
        messages.error(request, refused.message)
    return redirect(reverse("project", args=[project.pk]) + "#members")
