"""Writes and workflows of the labelling app. Views call these; they never write rows."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import (
    Annotation,
    GuidelineVersion,
    Membership,
    Project,
    Prompt,
    RegisteredRewardModel,
)
from labelling.overlap import overlap_settings_apply

DEFAULT_GUIDELINE = """# Guidelines

Read the prompt, then every response in full before you rank.

1. **Rank** the responses from best to worst. Put responses of equal quality in one group
   only when you truly cannot separate them.
2. **Rate** each response on every criterion of the project.
3. **Critique**: say briefly what makes a response better or worse than the others.
4. **Flag** anything unsafe, factually wrong or broken.
"""


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: User | None,
    now: datetime,
    guideline_body: str = "",
    **settings: Any,
) -> Project:
    """A project, its guideline version 1, and its creator as a project admin."""
    try:
        Project(name=name, **settings).clean()  # the checks across fields
    except ValidationError as invalid:
        field, problems = next(iter(invalid.message_dict.items()))
        raise DomainError(problems[0], field=field) from None
    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name, created_by=created_by, created_at=now, **settings
            )
    except IntegrityError as error:
        if Project.objects.filter(name=name).exists():
            raise DomainError(
                _("A project named %(name)s exists already.") % {"name": repr(name)}, field="name"
            ) from error
        raise
    project_initialise(
        project=project, created_by=created_by, now=now, guideline_body=guideline_body
    )
    return project


@transaction.atomic
def project_initialise(
    *,
    project: Project,
    created_by: User | None,
    now: datetime,
    guideline_body: str = "",
) -> None:
    """What every new project gets, however it was made (API, page, Django admin)."""
    GuidelineVersion.objects.create(
        project=project,
        version=1,
        body=guideline_body or DEFAULT_GUIDELINE,
        change_summary=_("First version."),
        published_at=now,
        published_by=created_by,
    )
    settings = {field: getattr(project, field) for field in Project.SETTINGS_FIELDS}
    audit_record(
        actor=created_by,
        verb=AuditEvent.Verb.PROJECT_CREATED,
        obj=project,
        project=project,
        now=now,
        data={"name": project.name, **settings},
    )
    if created_by is not None:
        membership_set(
            project=project, user=created_by, role=Membership.Role.ADMIN, actor=created_by, now=now
        )


def _rated_on(criteria: list[dict]) -> set[tuple]:
    """What ratings given on criteria mean: their keys and scales (not their order)."""
    return {(c.get("key"), tuple(c.get("scale") or ())) for c in criteria or []}


# Settings after which every prompt's overlap is tested again (labelling.overlap).
OVERLAP_SETTINGS = {"annotations_per_prompt", "max_annotations_per_prompt", "agreement_lead"}

# Settings that decide how existing prompts were imported cannot change under them.
_FROZEN_ONCE_PROMPTS_EXIST = {"responses_per_prompt"}


def project_changes_check(*, project: Project, changes: dict[str, Any]) -> None:
    """Refuse (DomainError, naming the field) a change a project may not take as it
    stands: an unregistered reward model, responses per prompt once prompts are imported,
    criteria added, removed or rescaled once prompts are annotated. Every door that
    changes a project asks this: the API and the pages through project_update, the
    Django admin in its form."""
    # A reward model is a name staff registered, never a path or an id of the tenant's
    # choosing: the loader only ever sees what staff wrote (labelling.scoring).
    # A model kept as it is may have been unregistered since: the project keeps it (its
    # scoring says it is gone) rather than refusing every other change.
    named = changes.get("reward_model")
    if (
        named
        and named != project.reward_model
        and not RegisteredRewardModel.objects.filter(name=named).exists()
    ):
        raise DomainError(
            _("Choose one of the reward models staff registered."), field="reward_model"
        )
    frozen = _FROZEN_ONCE_PROMPTS_EXIST & changes.keys()
    for field in frozen:
        if changes[field] != getattr(project, field) and project.prompts.exists():
            raise DomainError(
                _("This cannot change once prompts are imported: they were checked against it."),
                field=field,
            )
    if (
        "criteria" in changes
        and _rated_on(changes["criteria"]) != _rated_on(project.criteria)
        and Annotation.objects.filter(project=project).exists()
    ):
        raise DomainError(
            _(
                "Criteria cannot be added, removed or rescaled once prompts are annotated: "
                "ratings were given on them. Their labels, help and order may change."
            ),
            field="criteria",
        )


@transaction.atomic
def project_update(*, project: Project, actor: User, now: datetime, **changes: Any) -> Project:
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    project_changes_check(project=project, changes=changes)
    before = {field: getattr(project, field) for field in changes}
    for field, value in changes.items():
        setattr(project, field, value)
    project.full_clean()
    project.save(update_fields=list(changes) or None)
    if "annotations_per_prompt" in changes:
        # Every prompt's target moves with k; re-labelling raises stay on top of it.
        delta = project.annotations_per_prompt - before["annotations_per_prompt"]
        Prompt.objects.filter(project=project).update(target=Greatest(F("target") + delta, 1))
    if changes.keys() & OVERLAP_SETTINGS:
        overlap_settings_apply(project=project)
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.PROJECT_UPDATED,
        obj=project,
        project=project,
        now=now,
        data={"before": before, "after": changes},
    )
    return project


@dataclass(frozen=True)
class MembershipChange:
    membership: Membership
    created: bool


LAST_ADMIN = _lazy("%(name)s is the project's only admin: make someone else admin first.")


def is_last_admin(membership: Membership) -> bool:
    """Whether this member is the only admin of their project (staff aside)."""
    return (
        membership.role == Membership.Role.ADMIN
        and not Membership.objects.filter(
            project_id=membership.project_id, role=Membership.Role.ADMIN
        )
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def membership_set(
    *, project: Project, user: User, role: str, actor: User | None, now: datetime
) -> MembershipChange:
    """Add `user` to `project` with `role`, or change the role of an existing member."""
    if role not in Membership.Role.values:
        raise DomainError(_("Unknown role %(role)s.") % {"role": repr(role)}, field="role")
    # The project's row lock serialises role changes, so two admins demoting each other
    # at once cannot both pass the last-admin check.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    membership, created = Membership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role, "created_at": now}
    )
    if created:
        audit_record(
            actor=actor,
            verb=AuditEvent.Verb.MEMBER_ADDED,
            obj=membership,
            project=project,
            now=now,
            data={"username": user.get_username(), "role": role},
        )
    elif membership.role != role:
        if role != Membership.Role.ADMIN and is_last_admin(membership):
            raise DomainError(str(LAST_ADMIN) % {"name": user.get_username()}, field="role")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            verb=AuditEvent.Verb.MEMBER_ROLE_CHANGED,
            obj=membership,
            project=project,
            now=now,
            data={"username": user.get_username(), "before": before, "after": role},
        )
    return MembershipChange(membership=membership, created=created)


@transaction.atomic
def user_create(
    *, username: str, password: str, email: str = "", actor: User | None, now: datetime
) -> User:
    users = get_user_model()
    if users.objects.filter(username__iexact=username).exists():
        raise DomainError(
            _("The username %(name)s is taken.") % {"name": repr(username)}, field="username"
        )
    user = users.objects.create_user(username=username, password=password, email=email)
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.USER_CREATED,
        obj=user,
        now=now,
        data={"username": username},
    )
    return user
