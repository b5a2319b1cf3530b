"""What each role may see: one place for the rules (issues 14 and 15).

- **Raters' names.** Admins and reviewers of a project (and staff) manage its raters, so
  they see usernames; engineers see only pseudonyms, the same ones in the agreement
  report, the dashboard and every export, so that a rater they want to leave out of
  training can be named in an export filter without anyone learning who it is.
- **Annotators are blind.** They see an item as their assignment shows it and nothing
  else: the prompt under the assignment's own id (an import id or a database id could
  say "gold", or give the import order away), the responses by the letters of the
  assignment's shuffled display order (A, B, C...; response ids rise in the order of
  the imported file, so showing them would undo the shuffle), no model names, nobody
  else's labels, and none of the settings that tell gold items apart or decide how
  they are judged (gold rate, quality thresholds, reward model, queue order).
"""

import hashlib
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from labelling.models import Annotation, Assignment, Membership, Project, Response
from labelling.roles import REVIEWERS

SEES_USERNAMES = REVIEWERS
# Project settings an annotator is not shown (the API's project fields included).
HIDDEN_FROM_ANNOTATORS = frozenset(
    {"gold_rate", "gold_threshold", "min_median_seconds", "consensus_threshold",
     "pause_window", "review_below", "max_annotations_per_prompt", "agreement_lead",
     "reward_model", "queue_order"}
)  # fmt: skip


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


def sees_usernames(*, viewer: User, role: str | None) -> bool:
    """Whether a viewer with this role in a project sees raters' usernames."""
    return bool(viewer.is_staff) or role in SEES_USERNAMES


def annotator_names(
    *, project: Project, viewer: User, role: str | None, user_ids: Iterable[int]
) -> dict[int, str]:
    """How `viewer` sees each of these raters: a username or a pseudonym."""
    ids = sorted(set(user_ids))
    if not sees_usernames(viewer=viewer, role=role):
        return {user_id: annotator_pseudonym(project, user_id) for user_id in ids}
    usernames = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return {
        user_id: usernames.get(user_id, annotator_pseudonym(project, user_id)) for user_id in ids
    }


# --- the annotator's view of an item ---------------------------------------------------------


def letters(display_order: list[int]) -> dict[int, str]:
    """Each response's letter in this assignment: A is the first shown."""
    return {rid: chr(ord("A") + index) for index, rid in enumerate(display_order)}


def item_reference(assignment: Assignment) -> str:
    """What an annotator is told the prompt is called: the assignment's own name."""
    return f"item-{assignment.pk}"


def item_for_annotator(*, assignment: Assignment) -> dict:
    """What an annotator sees of an assignment: the prompt, its responses by letter in
    the display order, the rules to label by, and when the lease ends; the same shape
    for a gold item as for any other."""
    project, prompt = assignment.project, assignment.prompt
    texts = getattr(assignment, "response_texts", None) or dict(
        Response.objects.filter(prompt_id=assignment.prompt_id).order_by().values_list("pk", "text")
    )
    return {
        "assignment_id": assignment.pk,
        "prompt": {
            "id": assignment.pk,
            "external_id": item_reference(assignment),
            "prompt": prompt.content,
        },
        "responses": [
            {"id": letter, "label": letter, "text": texts[rid]}
            for rid, letter in letters(assignment.display_order).items()
        ],
        "guideline_version": assignment.guideline_version,
        "criteria": project.criteria,
        "allow_ties": project.allow_ties,
        "required_critiques": project.required_critiques,
        "expires_at": assignment.expires_at,
    }


def labels_by_letter(annotation: Annotation, display_order: list[int]) -> dict:
    """An annotation's labels with its responses named by the letters its annotator saw."""
    letter = letters(display_order)
    return {
        # A tie is kept in id order; shown, its letters are in their own order.
        "ranking": [sorted(letter[rid] for rid in group) for group in annotation.ranking],
        "ratings": {letter[int(rid)]: scores for rid, scores in annotation.ratings.items()},
        "critiques": {letter[int(rid)]: text for rid, text in annotation.critiques.items()},
        "flags": {
            (key if key == "all" else letter[int(key)]): items
            for key, items in annotation.flags.items()
        },
    }


def annotation_for_annotator(*, annotation: Annotation, assignment: Assignment) -> dict:
    """An annotator's own annotation as they are shown it: by letter, under the item's
    reference, with nothing they did not give but the version and the time."""
    return {
        "id": annotation.pk,
        "assignment_id": assignment.pk,
        "prompt_id": assignment.pk,
        "version": annotation.version,
        **labels_by_letter(annotation, assignment.display_order),
        "comment": annotation.comment,
        "guideline_version": annotation.guideline_version,
        "seconds_spent": annotation.seconds_spent,
        "active_seconds": annotation.active_seconds,
        "created_at": annotation.created_at,
    }


def is_blind(*, viewer: User, role: str | None) -> bool:
    """Whether this member labels blind in the project: shown items, never the project's
    prompts, gold marks or judging settings."""
    return not viewer.is_staff and role == Membership.Role.ANNOTATOR


def project_fields_for(*, role: str | None, viewer: User, data: dict) -> dict:
    """A project's API representation as this member may see it."""
    if not is_blind(viewer=viewer, role=role):
        return data
    return {key: value for key, value in data.items() if key not in HIDDEN_FROM_ANNOTATORS}
