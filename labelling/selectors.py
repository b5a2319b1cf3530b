"""Reads that need more than one line, and the scoping helpers for objects reached by id."""

from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from labelling.inputs import ascii_int
from labelling.models import (
    Annotation,
    Assignment,
    Membership,
    PairwisePreference,
    Project,
    Prompt,
)
from labelling.queue import open_prompts_counts
from labelling.rows import columns_as, instance_from_row

# Annotations or preferences: the rows that carry a guideline version and a time.
M = TypeVar("M", Annotation, PairwisePreference)


def projects_for_user(*, user: User | AnonymousUser) -> QuerySet[Project]:
    """The projects a user may see: their own, or all of them for staff."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def role_for(*, user: User, project: Project) -> str | None:
    """The user's role in the project; staff act as its admins."""
    if user.is_staff:
        return Membership.Role.ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


# One hand-written query for the project and the user's role in it: every API call asks
# this first, and the ORM's compilation of the join cost more than running it.
_PROJECT_WITH_ROLE = (
    f"SELECT p.*, m.role AS member_role FROM {Project._meta.db_table} p"  # noqa: S608
    f" LEFT JOIN {Membership._meta.db_table} m ON m.project_id = p.id AND m.user_id = %s"
    " WHERE p.id = %s"
)


def project_get_for_member(
    *, user: User | AnonymousUser, project_id: object, roles: Iterable[str] | None = None
) -> Project:
    """The project if `user` is a member (404 otherwise, so outsiders learn nothing),
    with one of `roles` if given (403: a member may know the project exists)."""
    pk = ascii_int(project_id)
    if pk is None:
        raise Http404
    if not user.is_authenticated:
        raise Http404
    found = list(Project.objects.raw(_PROJECT_WITH_ROLE, [user.pk, pk]))
    project = found[0] if found else None
    if project is None or (project.member_role is None and not user.is_staff):
        raise Http404
    # Staff act as admins of every project, and keep any role they hold as members.
    granted = {project.member_role} if project.member_role is not None else set()
    if user.is_staff:
        granted.add(Membership.Role.ADMIN)
    if roles is not None and not granted & set(roles):
        raise PermissionDenied
    return project


def project_progress(*, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{"prompts", "complete", "annotations"} per project, in three queries.

    A prompt is complete when it has as many submitted annotations as its target; gold
    prompts, which every annotator may label, never are. Annotations count current
    versions (an edit does not add one).
    """
    ids = list(project_ids)
    prompts = dict(
        Project.objects.filter(pk__in=ids).annotate(n=Count("prompts")).values_list("pk", "n")
    )
    done = (
        Prompt.objects.filter(project_id__in=ids, gold__isnull=True)
        .annotate(
            submitted=Count(
                "assignments", filter=Q(assignments__status=Assignment.Status.SUBMITTED)
            )
        )
        .filter(submitted__gte=F("target"))
        .values("pk")
    )
    complete = dict(
        Prompt.objects.filter(pk__in=done)
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    annotations = dict(
        Annotation.objects.filter(project_id__in=ids, is_current=True)
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    return {
        pk: {"prompts": n, "complete": complete.get(pk, 0), "annotations": annotations.get(pk, 0)}
        for pk, n in prompts.items()
    }


def roles_for_user(*, user: User, project_ids: Iterable[int]) -> dict[int, str]:
    ids = list(project_ids)
    roles = dict(
        Membership.objects.filter(user=user, project_id__in=ids).values_list("project_id", "role")
    )
    if user.is_staff:
        return {pk: roles.get(pk, Membership.Role.ADMIN) for pk in ids}
    return roles


_ASSIGNMENT_OF = (
    f"SELECT a.*, {columns_as(Project, table='p', prefix='project__')}"  # noqa: S608
    f" FROM {Assignment._meta.db_table} a"
    f" JOIN {Project._meta.db_table} p ON p.id = a.project_id"
    " WHERE a.id = %s AND a.annotator_id = %s"
    # Still an annotator of the project: removing someone ends their access.
    f" AND EXISTS (SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id ="
    " a.project_id AND m.user_id = a.annotator_id AND m.role = %s)"
)


def assignment_get_for_annotator(*, user: User, assignment_id: object) -> Assignment:
    """The assignment if it is this user's own (404 otherwise: nobody else's work is
    visible, not even its existence), with its project; its prompt is read if asked for.

    One hand-written query, as for project_get_for_member: every submit asks this first."""
    pk = ascii_int(assignment_id)
    if pk is None:
        raise Http404
    found = list(Assignment.objects.raw(_ASSIGNMENT_OF, [pk, user.pk, Membership.Role.ANNOTATOR]))
    if not found:
        raise Http404
    assignment = found[0]
    assignment.project = instance_from_row(Project, vars(assignment), prefix="project__")
    return assignment


def annotator_progress(*, project: Project, user: User, now: datetime) -> dict[str, int]:
    """Done today and in total by this annotator, and prompts still open to them."""
    return annotators_progress(projects=[project], user=user, now=now)[project.pk]


def annotators_progress(
    *, projects: list[Project], user: User, now: datetime
) -> dict[int, dict[str, int]]:
    """annotator_progress for every project of a page at once: the same few queries for
    one project or fifty."""
    ids = [p.pk for p in projects]
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    done = {
        row["project_id"]: row
        for row in Annotation.objects.filter(project_id__in=ids, annotator=user, version=1)
        .values("project_id")
        .annotate(total=Count("id"), today=Count("id", filter=Q(created_at__gte=start_of_day)))
    }
    holding = set(
        Assignment.objects.filter(
            project_id__in=ids,
            annotator=user,
            status=Assignment.Status.LEASED,
            expires_at__gt=now,
        )
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    left = open_prompts_counts(projects=projects, annotator=user)
    return {
        pk: {
            "today": done.get(pk, {}).get("today", 0),
            "total": done.get(pk, {}).get("total", 0),
            "left": left[pk],
            "holding": pk in holding,
        }
        for pk in ids
    }


# Reads that statistics and exports build on. Every one can be restricted to guideline
# versions, so figures and files can be made per version or for "version N and later"
# after a revision.


def _window(
    queryset: QuerySet[M],
    *,
    versions: Iterable[int] | None,
    min_version: int | None,
    since: datetime | None,
    until: datetime | None,
) -> QuerySet[M]:
    """Labels made under these guideline versions, and submitted in [since, until)."""
    if versions is not None:
        queryset = queryset.filter(guideline_version__in=list(versions))
    if min_version is not None:
        queryset = queryset.filter(guideline_version__gte=min_version)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def annotations_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_rejected: bool = False,
) -> QuerySet[Annotation]:
    """Current annotations (edits superseded, history excluded; rejected ones only if
    asked for), oldest first."""
    annotations = Annotation.objects.filter(project=project, is_current=True)
    if not include_rejected:
        annotations = annotations.filter(rejected=False)
    annotations = _window(
        annotations, versions=versions, min_version=min_version, since=since, until=until
    )
    return annotations.order_by("id")


def preferences_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_ties: bool = True,
    include_rejected: bool = False,
    include_flagged: bool = True,
    models: Iterable[str] | None = None,
) -> QuerySet[PairwisePreference]:
    """Stored pairwise preferences of current annotations, in a stable order; those of
    rejected annotations only if asked for; with `models`, only pairs of two responses
    from those models."""
    preferences = PairwisePreference.objects.filter(project=project)
    if not include_rejected:
        preferences = preferences.filter(annotation_rejected=False)
    if not include_flagged:
        preferences = preferences.filter(flagged=False)
    if not include_ties:
        preferences = preferences.filter(is_tie=False)
    if models is not None:
        models = list(models)
        preferences = preferences.filter(
            chosen__model_name__in=models, rejected__model_name__in=models
        )
    preferences = _window(
        preferences, versions=versions, min_version=min_version, since=since, until=until
    )
    return preferences.order_by("prompt_id", "chosen_id", "rejected_id", "annotation_id")


def counts_by_version(*, project: Project) -> list[dict]:
    """Per guideline version: annotations, preference pairs and ties, oldest version first."""
    annotations = dict(
        Annotation.objects.filter(project=project, is_current=True, rejected=False)
        .values_list("guideline_version")
        .annotate(n=Count("id"))
        .values_list("guideline_version", "n")
    )
    pairs = {
        row["guideline_version"]: row
        for row in PairwisePreference.objects.filter(project=project, annotation_rejected=False)
        .values("guideline_version")
        .annotate(pairs=Count("id"), ties=Count("id", filter=Q(is_tie=True)))
    }
    return [
        {
            "version": version,
            "annotations": annotations.get(version, 0),
            "pairs": pairs.get(version, {}).get("pairs", 0),
            "ties": pairs.get(version, {}).get("ties", 0),
        }
        for version in sorted(set(annotations) | set(pairs))
    ]
