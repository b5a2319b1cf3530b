"""People (issue 17, point 2): accounts made by staff, by password or by a one-time
invitation link; accounts deactivated and reactivated; members removed from a project.
Every change is an audit event.

An invitation makes the account at once, inactive and without a password, so that admins
may add it to projects before it is used; the link sets the password and activates it.
A link works once and for INVITE_DAYS; a new invitation for the same person replaces
theirs. Only the token's SHA-256 is stored. A deactivated user cannot log in, their
session ends at their next request, and their API tokens stop working (an inactive user
is refused by labelling.authentication); their labels stay as they are.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import Invite, Membership, Project
from labelling.services import LAST_ADMIN, is_last_admin, user_create

INVITE_DAYS = 7


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    user: User
    token: str  # shown once; only its digest is kept
    expires_at: datetime


@transaction.atomic
def invite_create(
    *, username: str, email: str = "", actor: User, now: datetime, user: User | None = None
) -> Invitation:
    """An invitation for a new account `username`, or anew for `user`, an account that
    has never set a password (earlier links stop working)."""
    if user is None:
        user = user_create(username=username, password="", email=email, actor=actor, now=now)
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
    elif not _pending(user):
        raise DomainError(
            _("%(name)s was not invited, or has accepted: they log in as usual.")
            % {"name": user.get_username()},
            field="username",
        )
    Invite.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        user=user,
        digest=_digest(token),
        created_by=actor,
        created_at=now,
        expires_at=now + timedelta(days=INVITE_DAYS),
    )
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.USER_INVITED,
        obj=user,
        now=now,
        data={"username": user.get_username(), "expires_at": invite.expires_at.isoformat()},
    )
    return Invitation(user=user, token=token, expires_at=invite.expires_at)


def _pending(user: User) -> bool:
    """An account made by an invitation and never used: the only kind a new link may be
    made for (a link sets the password of the account it names)."""
    return (
        not user.is_active
        and not user.has_usable_password()
        and user.last_login is None
        and Invite.objects.filter(user=user).exists()
        and not Invite.objects.filter(user=user, used_at__isnull=False).exists()
    )


def invite_for(*, token: str, now: datetime) -> Invite:
    """The invitation this link names, if it may still be used."""
    invite = (
        Invite.objects.select_related("user").filter(digest=_digest(token or "")).first()
        if 0 < len(token or "") <= 100
        else None
    )
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        raise DomainError(
            _("This invitation link has been used or has expired. Ask for a new one."),
            field="token",
        )
    return invite


@transaction.atomic
def invite_accept(*, invite: Invite, password: str, now: datetime) -> User:
    """Set the invited user's password (already checked by the password validators)
    and activate the account; the link is spent."""
    if not _pending(invite.user):  # it has been used, or its account set up otherwise
        raise DomainError(
            _("This invitation link has been used or has expired. Ask for a new one."),
            field="token",
        )
    spent = Invite.objects.filter(pk=invite.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if not spent:
        raise DomainError(
            _("This invitation link has been used or has expired. Ask for a new one."),
            field="token",
        )
    user = invite.user
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    audit_record(
        actor=user,
        verb=AuditEvent.Verb.INVITE_ACCEPTED,
        obj=user,
        now=now,
        data={"username": user.get_username()},
    )
    return user


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor: User, now: datetime) -> bool:
    """Deactivate or reactivate an account (deactivating also cancels the links that
    invite it); whether anything changed. Staff accounts are a superuser's to change."""
    if user.pk == actor.pk and not active:
        raise DomainError(_("You cannot deactivate your own account."), field="user")
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise DomainError(_("Only a superuser changes a staff account."), field="user")
    cancelled = 0
    if not active:
        cancelled = Invite.objects.filter(
            user=user, used_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
    if user.is_active == active:
        if cancelled:
            audit_record(
                actor=actor,
                verb=AuditEvent.Verb.USER_DEACTIVATED,
                obj=user,
                now=now,
                data={"username": user.get_username(), "invitations_cancelled": cancelled},
            )
        return bool(cancelled)
    if active and not user.has_usable_password():
        raise DomainError(
            _("%(name)s has not set a password yet: send them a new invitation.")
            % {"name": user.get_username()},
            field="user",
        )
    get_user_model().objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.USER_REACTIVATED if active else AuditEvent.Verb.USER_DEACTIVATED,
        obj=user,
        now=now,
        data={"username": user.get_username()},
    )
    return True


@transaction.atomic
def membership_remove(*, project: Project, user: User, actor: User, now: datetime) -> None:
    """Take `user` out of the project. Their labels stay; a lease they hold runs out."""
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise DomainError(_("%(name)s is not a member.") % {"name": user.get_username()})
    if is_last_admin(membership):
        raise DomainError(str(LAST_ADMIN) % {"name": user.get_username()}, field="user")
    role = membership.role
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.MEMBER_REMOVED,
        obj=membership,
        project=project,
        now=now,
        data={"username": user.get_username(), "role": role},
    )
    membership.delete()
