"""Who may see which name for the people behind labels: one place for the rule.

Admins and reviewers of a project (and staff) manage its raters, so they see usernames;
engineers see only pseudonyms, the same ones in the agreement report, the dashboard and
every export, so that a rater they want to leave out of training can be named in an
export filter without anyone learning who it is (issue 14 point 9). Annotators never see
anyone else's labels at all (labelling.selectors.assignment_payload).
"""

import hashlib
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from labelling.models import Annotation, Membership, Project

SEES_USERNAMES = frozenset({Membership.Role.ADMIN, Membership.Role.REVIEWER})


def annotator_pseudonym(project: Project, user_id: int) -> str:
    """A stable, pseudonymous annotator id: never a username or email, and not
    computable from a user id without the project's secret key."""
    digest = hashlib.sha256(f"{project.pseudonym_key}:{user_id}".encode()).hexdigest()
    return f"ann-{digest[:12]}"


def pseudonym_owners(*, project: Project) -> dict[str, int]:
    """Every pseudonym that can appear in the project's figures and exports (whoever
    annotated in it, and its annotators who have not yet), with the user behind it."""
    annotated = Annotation.objects.filter(project=project).values_list("annotator_id", flat=True)
    members = Membership.objects.filter(
        project=project, role=Membership.Role.ANNOTATOR
    ).values_list("user_id", flat=True)
    users = set(annotated.distinct()) | set(members)
    return {annotator_pseudonym(project, user_id): user_id for user_id in users}


def sees_usernames(*, viewer: AbstractBaseUser, role: str | None) -> bool:
    """Whether a viewer with this role in a project sees raters' usernames."""
    return bool(viewer.is_staff) or role in SEES_USERNAMES


def annotator_names(
    *, project: Project, viewer: AbstractBaseUser, role: str | None, user_ids: Iterable[int]
) -> dict[int, str]:
    """How `viewer` sees each of these raters: a username or a pseudonym."""
    ids = sorted(set(user_ids))
    if not sees_usernames(viewer=viewer, role=role):
        return {user_id: annotator_pseudonym(project, user_id) for user_id in ids}
    usernames = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return {
        user_id: usernames.get(user_id, annotator_pseudonym(project, user_id)) for user_id in ids
    }
