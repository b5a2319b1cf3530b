"""API tokens (issue 15): made, listed and revoked here; django-rest-knox stores them.

A token is shown once, when it is made; the database keeps its digest. Each has a name
(the script or machine it is for) and an expiry (API_TOKEN_DAYS by default, at most a
year). A password change revokes every token of the user, whichever way the password
changes (the tokens page, the admin, `manage.py changepassword`): Django tells the
password validators of every change, and TokenRevocation is one of them.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import ApiToken

MAX_DAYS = 365


def token_create(*, user: User, name: str, days: int | None, now: datetime) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and the token itself, which nobody can see
    again."""
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise DomainError(
            _("A token lasts 1 to %(n)d days.") % {"n": MAX_DAYS}, field="expires_in_days"
        )
    name = (name or "").strip()
    if len(name) > 100:
        raise DomainError(_("At most 100 characters."), field="name")
    token, key = ApiToken.objects.create(user=user, expiry=timedelta(days=days), name=name)
    audit_record(
        actor=user,
        verb=AuditEvent.Verb.TOKEN_CREATED,
        obj=token,
        now=now,
        data={"name": name, "expiry": token.expiry.isoformat()},
    )
    return token, key


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created")


def token_revoke(*, user: User, token_key: str, now: datetime) -> int:
    """Revoke the user's token(s) whose key starts so (the key the tokens page shows)."""
    return tokens_revoke(tokens_of(user=user).filter(token_key=token_key), actor=user, now=now)


def tokens_revoke_all(*, user: User) -> int:
    return tokens_revoke(ApiToken.objects.filter(user=user), actor=user, now=timezone.now())


@transaction.atomic
def tokens_revoke(tokens: QuerySet[ApiToken], *, actor: User, now: datetime) -> int:
    """The one way a token ends, by any door (the tokens page, the API's DELETE, a
    password change): each revocation is audited."""
    revoked = list(tokens)
    for token in revoked:
        audit_record(
            actor=actor,
            verb=AuditEvent.Verb.TOKEN_REVOKED,
            obj=token,
            now=now,
            data={"name": token.name},
        )
        token.delete()
    return len(revoked)


class TokenRevocation:
    """A password 'validator' that validates nothing: Django calls `password_changed`
    on every validator whenever a user's password is saved, by whatever door."""

    def validate(self, password: str, user: User | None = None) -> None:
        return None

    def password_changed(self, password: str, user: User | None = None) -> None:
        if user is not None and user.pk is not None:
            tokens_revoke_all(user=user)

    def get_help_text(self) -> str:
        return _("Changing your password revokes every API token you hold.")
