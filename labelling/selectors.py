"""Reads that need more than one line, and the scoping helpers for objects reached by id."""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from labelling.models import Membership, Project


def projects_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects a user may see: their own, or all of them for staff."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def role_for(*, user: AbstractBaseUser, project: Project) -> str | None:
    """The user's role in the project; staff act as its admins."""
    if user.is_staff:
        return Membership.Role.ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def project_get_for_member(
    *, user: AbstractBaseUser, project_id: object, roles: Iterable[str] | None = None
) -> Project:
    """The project if `user` is a member (404 otherwise, so outsiders learn nothing),
    with one of `roles` if given (403: a member may know the project exists)."""
    try:
        pk = int(str(project_id))
    except ValueError:
        raise Http404 from None
    project = projects_for_user(user=user).filter(pk=pk).first()
    if project is None:
        raise Http404
    if roles is not None and role_for(user=user, project=project) not in set(roles):
        raise PermissionDenied
    return project


def project_progress(*, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{"prompts", "complete", "annotations"} per project, in one query.

    Annotations arrive with the annotator's workflow; until then nothing is complete.
    """
    from django.db.models import Count

    counts = dict(
        Project.objects.filter(pk__in=list(project_ids))
        .annotate(n=Count("prompts"))
        .values_list("pk", "n")
    )
    return {pk: {"prompts": n, "complete": 0, "annotations": 0} for pk, n in counts.items()}


def roles_for_user(*, user: AbstractBaseUser, project_ids: Iterable[int]) -> dict[int, str]:
    ids = list(project_ids)
    roles = dict(
        Membership.objects.filter(user=user, project_id__in=ids).values_list("project_id", "role")
    )
    if user.is_staff:
        return {pk: roles.get(pk, Membership.Role.ADMIN) for pk in ids}
    return roles
