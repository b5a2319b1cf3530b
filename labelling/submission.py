"""Storing an annotator's labels: `annotation_submit` is the one entry of a submission.

Read it top to bottom to see every effect a submission has on the database: the labels
are checked (labelling.rules), the lease moves to submitted or the slot is claimed again
(labelling.queue), the annotation is stored (a new version for an edit, nothing for a
retry), its pairwise preferences are derived (labelling.preferences), and the prompt's
agreement and review state are refreshed (labelling.review).
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import Annotation, Assignment, Project, Prompt
from labelling.overlap import overlap_refresh
from labelling.pauses import pause_check
from labelling.preferences import preferences_record
from labelling.queue import slot_claim
from labelling.review import prompt_review_refresh
from labelling.rules import Submission, ratings_against_ranking, submission_check


class LeaseLost(DomainError):
    """The lease expired and its slot went to someone else."""


class ChangedElsewhere(DomainError):
    """The item was saved from somewhere else (another tab) since this form was opened."""


class RatingsAgainstRanking(Exception):
    """Asked to check first: some responses ranked above others are rated below them.
    `pairs` are (ranked above, ranked below) response ids; nothing was saved."""

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        super().__init__(f"{len(pairs)} pairs rated against the ranking")
        self.pairs = pairs


COMPLETE = _lazy("This prompt is complete; its annotations can no longer be edited.")
REJECTED = _lazy("A reviewer rejected your annotation of this item; it can no longer be changed.")
SKIPPED = _lazy("You skipped this item.")
LAPSED = _lazy(
    "Your time on this item ran out and someone else has taken its place: it can no longer "
    "be saved."
)


@dataclass(frozen=True)
class Locked:
    """Why an annotator's item can no longer change: `kind` is complete, rejected or
    skipped; `reason` is the reviewer's for a rejection, the annotator's own for a skip."""

    kind: str
    message: str
    reason: str = ""


def assignment_locked(*, assignment: Assignment, current: Annotation | None) -> Locked | None:
    """Whether the annotator's item opens read-only, and why (None: it may still change).
    The submission checks the same under the row lock when it is saved."""
    status = assignment.status
    if status == Assignment.Status.REJECTED:
        return Locked("rejected", str(REJECTED), current.rejection_reason if current else "")
    if status == Assignment.Status.SKIPPED:
        return Locked("skipped", str(SKIPPED), assignment.skip_reason)
    if status == Assignment.Status.SUBMITTED and _prompt_complete(assignment.prompt_id):
        return Locked("complete", str(COMPLETE))
    if status == Assignment.Status.EXPIRED and _slot_taken(assignment.prompt):
        return Locked("lapsed", str(LAPSED))
    return None


def _slot_taken(prompt: Prompt) -> bool:
    """Whether a reclaimed lease's slot went to someone else (gold prompts have no cap)."""
    live, target = Prompt.objects.filter(pk=prompt.pk).values_list("live_count", "target").get()
    return prompt.gold is None and live >= target


def complete_prompts(prompts: QuerySet[Prompt]) -> QuerySet[Prompt]:
    """Those of `prompts` that have every annotation they want (submitted items as many
    as their target): their labels can no longer change. Gold prompts follow the same
    rule, though the queue serves them beyond it: an item that stayed editable for ever
    would tell its rater it is gold."""
    submitted = (
        Assignment.objects.filter(prompt=OuterRef("pk"), status=Assignment.Status.SUBMITTED)
        .order_by()
        .values("prompt")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return prompts.alias(
        n_submitted=Coalesce(Subquery(submitted, output_field=IntegerField()), 0)
    ).filter(n_submitted__gte=F("target"))


def _prompt_complete(prompt_id: int) -> bool:
    return complete_prompts(Prompt.objects.filter(pk=prompt_id)).exists()


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitResult:
    annotation: Annotation
    created: bool


def annotation_submit(
    *,
    assignment: Assignment,
    annotator: User,
    data: Any,
    now: datetime,
    by_letter: bool = False,
    based_on: int | None = None,
    check_ratings: bool = False,
    active_seconds: int | None = None,
) -> SubmitResult:
    """Check the annotator's labels and store them for the assignment, or edit them.

    `data` is the submission as a door received it: responses named by id, or with
    `by_letter` by the letters the annotator was shown (A is the first of the
    assignment's display order). Labels that break a rule raise SubmissionInvalid
    (labelling.rules) with every (field, message), before anything is read or written.

    - The same submission again (a retry, a double click) returns the stored annotation
      and creates nothing.
    - A different submission for an already submitted assignment is an edit: it adds a
      new version and keeps the old one, while the prompt is not yet complete.
    - An expired lease may still be submitted if its slot is still free.
    - With `based_on`, the version of the annotation the annotator's form showed (0 for
      none), a save made from elsewhere since (another tab) raises ChangedElsewhere
      rather than replacing it unseen.
    - With `check_ratings`, labels whose ratings put a response ranked below another
      above it (labelling.rules.ratings_against_ranking) raise RatingsAgainstRanking
      instead of being stored: the page asks the annotator to confirm.
    - `active_seconds`, what the page measured of the time it was visible and in use,
      is stored beside the server's own time, never above it.
    """
    submission = submission_check(
        project=assignment.project,
        response_ids=list(assignment.display_order),
        data=data,
        by_letter=by_letter,
    )
    return _submission_store(
        assignment=assignment,
        annotator=annotator,
        submission=submission,
        now=now,
        based_on=based_on,
        active_seconds=active_seconds,
        check_ratings=check_ratings,
    )


def _ask_about_ratings(submission: Submission, project: Project) -> None:
    """After every refusal a save could meet: the rater is asked only about a save that
    would happen (the transaction rolls back what was claimed so far)."""
    pairs = ratings_against_ranking(submission.ranking, submission.ratings, project.criteria)
    if pairs:
        raise RatingsAgainstRanking(pairs)


@transaction.atomic
def _submission_store(
    *,
    assignment: Assignment,
    annotator: User,
    submission: Submission,
    now: datetime,
    based_on: int | None,
    active_seconds: int | None,
    check_ratings: bool,
) -> SubmitResult:
    project = assignment.project
    digest = submission.digest()
    # The common case, the first submission of a lease still held, in one statement: a
    # conditional UPDATE whose row count says whether this request moved the lease on.
    # It takes the row lock as it goes, which serialises it with a second submit and with
    # a lease reclaim (both guard on the status too).
    first = Assignment.objects.filter(
        pk=assignment.pk, annotator_id=annotator.pk, status=Assignment.Status.LEASED
    ).update(status=Assignment.Status.SUBMITTED, finished_at=now)
    current = None if first else _current_locked(assignment, annotator)
    if current is not None and current.payload_hash == digest:
        return SubmitResult(annotation=current, created=False)
    if based_on is not None and based_on != (current.version if current else 0):
        raise ChangedElsewhere(
            _("This item was saved from somewhere else (another tab?) since you opened it."),
            field="assignment",
        )

    if current is not None:
        if _prompt_complete(assignment.prompt_id):
            raise DomainError(str(COMPLETE), field="assignment")
        if check_ratings:
            _ask_about_ratings(submission, project)
        current.is_current = False
        current.save(update_fields=["is_current"])
        annotation = _annotation_create(
            assignment,
            submission,
            digest,
            now,
            version=current.version + 1,
            seconds=(now - current.created_at).total_seconds(),
            active_seconds=active_seconds,
        )
        audit_record(
            actor=annotator,
            verb=AuditEvent.Verb.ANNOTATION_EDITED,
            obj=annotation,
            project=project,
            now=now,
            data={"previous": current.pk, "version": annotation.version},
        )
    else:
        if not first and assignment.status == Assignment.Status.EXPIRED:
            _reclaim_slot(assignment)  # only if its slot is still free
        if check_ratings:
            _ask_about_ratings(submission, project)
        if not first:
            Assignment.objects.filter(pk=assignment.pk).update(
                status=Assignment.Status.SUBMITTED, finished_at=now
            )
        assignment.status, assignment.finished_at = Assignment.Status.SUBMITTED, now
        annotation = _annotation_create(
            assignment,
            submission,
            digest,
            now,
            version=1,
            seconds=(now - assignment.leased_at).total_seconds(),
            active_seconds=active_seconds,
        )
    preferences_record(annotation=annotation, replace=current is not None)
    prompt_review_refresh(prompt_id=assignment.prompt_id, reopen=True)
    overlap_refresh(project=project, prompt_id=assignment.prompt_id)
    _pause_check(project=project, annotator=annotator, now=now)
    return SubmitResult(annotation=annotation, created=True)


def _pause_check(*, project: Project, annotator: User, now: datetime) -> None:
    """The continuous checks (labelling.pauses), in a savepoint of their own: whatever
    goes wrong there is logged, and the rater's labels are still saved."""
    if not project.pause_window:
        return
    try:
        with transaction.atomic():
            pause_check(project=project, annotator=annotator, now=now)
    except Exception:
        logger.exception(
            "pause check failed for annotator %s in project %s", annotator.pk, project.pk
        )


def _current_locked(assignment: Assignment, annotator: User) -> Annotation | None:
    """Every case but a first submission, under the row lock: the current annotation of a
    submitted item (None for an expired lease), or a refusal.

    Only this row is locked: FOR UPDATE on a joined project row would block every lease's
    foreign-key check on the project and deadlock with it. The caller's object already
    holds the project; only the status can have moved since it was read."""
    status, owner = (
        Assignment.objects.select_for_update(of=("self",))
        .filter(pk=assignment.pk)
        .values_list("status", "annotator_id")
        .get()
    )
    assignment.status = status
    if owner != annotator.pk:
        raise DomainError(_("This item is not yours."), field="assignment")
    if status == Assignment.Status.SUBMITTED:
        current = assignment.annotations.filter(is_current=True).first()
        if current is not None:
            return current
    if status == Assignment.Status.SKIPPED:
        raise DomainError(str(SKIPPED), field="assignment")
    if status == Assignment.Status.REJECTED:
        raise DomainError(str(REJECTED), field="assignment")
    return None


def _reclaim_slot(assignment: Assignment) -> None:
    if not slot_claim(prompt_id=assignment.prompt_id, gold=assignment.prompt.gold is not None):
        raise LeaseLost(
            _("Your time on this item ran out and others have since completed it."),
            field="assignment",
        )


def _annotation_create(
    assignment: Assignment,
    submission: Submission,
    digest: str,
    now: datetime,
    *,
    version: int,
    seconds: float,
    active_seconds: int | None,
) -> Annotation:
    spent = max(0, round(seconds))
    return Annotation.objects.create(
        assignment=assignment,
        project_id=assignment.project_id,
        prompt_id=assignment.prompt_id,
        annotator_id=assignment.annotator_id,
        version=version,
        ranking=submission.ranking,
        ratings={str(rid): scores for rid, scores in submission.ratings.items()},
        critiques={str(rid): text for rid, text in submission.critiques.items()},
        comment=submission.comment,
        flags=submission.flags,
        guideline_version=assignment.guideline_version,
        display_order=assignment.display_order,
        seconds_spent=spent,
        active_seconds=None if active_seconds is None else min(max(0, active_seconds), spent),
        payload_hash=digest,
        created_at=now,
    )
