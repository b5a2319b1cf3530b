"""The audit trail: who did what to which object, when. Every service that changes
something a project's admins must be able to account for records it here, in the
transaction of the change."""

from datetime import datetime
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, User

from core.models import AuditEvent


def signed_in(user: User | AnonymousUser | None) -> User | None:
    """The user, if someone is signed in: who a row records as having done something."""
    return cast(User, user) if user is not None and user.is_authenticated else None


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    verb: str,
    obj: Any,
    now: datetime,
    # A labelling.Project, which core may not name: core imports no app.
    project: Any = None,
    data: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        project=project,
        actor=signed_in(actor),
        verb=verb,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        data=data or {},
        created_at=now,
    )
