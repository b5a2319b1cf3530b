"""The audit trail: who did what to which object, when. Every service that changes
something a project's admins must be able to account for records it here, in the
transaction of the change."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from core.models import AuditEvent


def audit_record(
    *,
    actor: User | None,
    verb: str,
    obj: Any,
    now: datetime,
    # A labelling.Project, which core may not name: core imports no app.
    project: Any = None,
    data: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        project=project,
        actor=actor if actor is not None and actor.is_authenticated else None,
        verb=verb,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        data=data or {},
        created_at=now,
    )
