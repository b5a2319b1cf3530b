"""Review (issue 5): which prompts a reviewer should look at, and what they may do there.

A prompt is open for review when its current annotations disagree (pairwise agreement
below the project's `review_below`) or flag a response, until a reviewer closes it; a
later annotation reopens it. The reviewer sees every annotation of the prompt side by
side (the one place where annotators' work is shown to someone else), may reject an
annotation with a reason, record an adjudicated ranking, or close the review. Every one
of those is an audit event.
"""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from core import statistics as st
from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.inputs import ascii_int
from labelling.models import (
    Adjudication,
    Annotation,
    Assignment,
    PairwisePreference,
    Project,
    Prompt,
    Response,
    ResponseScore,
)
from labelling.queue import slot_release
from labelling.rules import ranking_check

MAX_REASON = 2000


def rankings_agreement(rankings: list[list[list[int]]]) -> float | None:
    """Pairwise agreement (design §7) of one prompt's rankings; None below two."""
    if len(rankings) < 2:
        return None
    ids = sorted(rid for group in rankings[0] for rid in group)
    verdicts = st.rank_verdicts(st.ranks_from_groups(rankings, ids))
    result = st.pairwise_agreement(np.zeros(len(rankings), dtype=np.int64), verdicts, 1)
    return round(result.overall, 4)


_CURRENT_LABELS = (
    f"SELECT ranking, flags FROM {Annotation._meta.db_table}"  # noqa: S608
    " WHERE prompt_id = %s AND is_current AND NOT rejected ORDER BY id"
)
_REVIEW_STATE = (
    f"UPDATE {Prompt._meta.db_table} SET agreement = %s, flagged = %s,"  # noqa: S608
    " reviewed_at = CASE WHEN %s THEN NULL ELSE reviewed_at END WHERE id = %s"
)


def prompt_review_refresh(*, prompt_id: int, reopen: bool) -> None:
    """Recompute a prompt's agreement and flag from its current, unrejected annotations;
    `reopen` (a new or edited annotation) puts a closed prompt back in the queue.

    Hand-written SQL: every submission runs this, and the ORM's two statements cost more
    to build than to run."""
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT_LABELS, [prompt_id])
        rows = [(orjson.loads(ranking), orjson.loads(flags)) for ranking, flags in cursor]
        agreement = rankings_agreement([ranking for ranking, _flags in rows])
        flagged = any(any(items for items in flags.values()) for _ranking, flags in rows)
        cursor.execute(_REVIEW_STATE, [agreement, flagged, reopen, prompt_id])


def review_wanted(project: Project) -> Q:
    """The prompts a reviewer should look at: they disagree, carry a flag, or reached the
    most annotations adaptive overlap allows still unsettled (labelling.overlap), and no
    reviewer has closed them since their last annotation (retired ones aside)."""
    return Q(reviewed_at__isnull=True) & (
        Q(agreement__lt=project.review_below) | Q(flagged=True) | Q(unsettled=True)
    )


def review_queue(*, project: Project) -> QuerySet[Prompt]:
    """Open prompts that disagree or carry a flag, least agreement first."""
    return Prompt.objects.filter(review_wanted(project), project=project, retired=False).order_by(
        "agreement", "id"
    )


def with_annotation_counts(prompts: QuerySet[Prompt]) -> QuerySet[Prompt]:
    """`n_annotations` (current, unrejected) on each prompt: for a page of them only, as
    counting means grouping every prompt the query reaches."""
    return prompts.annotate(
        n_annotations=Count(
            "annotations", filter=Q(annotations__is_current=True, annotations__rejected=False)
        )
    )


def prompt_get_for_review(*, project: Project, prompt_id: object) -> Prompt:
    pk = ascii_int(prompt_id)
    prompt = Prompt.objects.filter(project=project, pk=pk).first() if pk is not None else None
    if prompt is None:
        raise Http404
    return prompt


@dataclass
class PromptReview:
    prompt: Prompt
    responses: list[Response]  # by id
    annotations: list[Annotation]  # current versions, rejected ones included, oldest first
    consensus: list[list[int]]  # response ids, best group first (unrejected annotations)
    votes: list[dict]  # per response pair: a, b, a_over_b, b_over_a, ties
    adjudication: Adjudication | None
    scores: dict[int, float]  # the project's reward model, by response id (reviewers only)


def prompt_review(*, prompt: Prompt) -> PromptReview:
    responses = list(Response.objects.filter(prompt=prompt).order_by("id"))
    ids = [r.pk for r in responses]
    annotations = list(
        Annotation.objects.filter(prompt=prompt, is_current=True)
        .select_related("annotator", "rejected_by")
        .order_by("created_at", "id")
    )
    counted = [a.ranking for a in annotations if not a.rejected]
    votes_matrix = st.pair_votes(st.ranks_from_groups(counted, ids))
    votes = [
        {
            "a": ids[i],
            "b": ids[j],
            "a_over_b": int(votes_matrix[i, j]),
            "b_over_a": int(votes_matrix[j, i]),
            "ties": len(counted) - int(votes_matrix[i, j]) - int(votes_matrix[j, i]),
        }
        for i, j in zip(*np.triu_indices(len(ids), k=1), strict=True)
    ]
    consensus = (
        [[ids[c] for c in group] for group in st.net_vote_groups(votes_matrix)] if counted else []
    )
    return PromptReview(
        prompt=prompt,
        responses=responses,
        annotations=annotations,
        consensus=consensus,
        votes=votes,
        adjudication=prompt.adjudications.filter(is_current=True).first(),
        scores=dict(
            ResponseScore.objects.filter(
                response__prompt=prompt, reward_model=prompt.project.reward_model
            ).values_list("response_id", "score")
        )
        if prompt.project.reward_model
        else {},
    )


def _reason(text: str, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise DomainError(_("Give a reason."), field="reason")
    if len(text) > MAX_REASON:
        raise DomainError(_("Keep it under %(n)d characters.") % {"n": MAX_REASON}, field="reason")
    return text


@transaction.atomic
def annotation_reject(
    *, annotation: Annotation, reviewer: User, reason: str, now: datetime
) -> Annotation:
    """Reject an annotation: a new version with the same labels, marked rejected, so the
    labels stay in the history but leave statistics and exports. Its slot goes back to
    the pool, so the prompt still gets the annotations it wants."""
    reason = _reason(reason, required=True)
    # The assignment's row lock serialises this with the annotator editing it.
    assignment = Assignment.objects.select_for_update(of=("self",)).get(pk=annotation.assignment_id)
    current = Annotation.objects.get(assignment=assignment, is_current=True)
    if current.pk != annotation.pk:
        raise DomainError(
            _("The annotator changed this annotation since you opened it; look again."),
            field="annotation",
        )
    if current.rejected:
        raise DomainError(_("This annotation is already rejected."), field="annotation")
    current.is_current = False
    current.save(update_fields=["is_current"])
    rejected = Annotation.objects.create(
        assignment=assignment,
        project_id=current.project_id,
        prompt_id=current.prompt_id,
        annotator_id=current.annotator_id,
        version=current.version + 1,
        ranking=current.ranking,
        ratings=current.ratings,
        critiques=current.critiques,
        comment=current.comment,
        flags=current.flags,
        guideline_version=current.guideline_version,
        display_order=current.display_order,
        seconds_spent=current.seconds_spent,
        payload_hash=current.payload_hash,
        created_at=now,
        rejected=True,
        rejected_by=reviewer,
        rejection_reason=reason,
    )
    PairwisePreference.objects.filter(annotation=current).update(
        annotation=rejected, annotation_rejected=True
    )
    assignment.status = Assignment.Status.REJECTED
    assignment.save(update_fields=["status"])
    if assignment.prompt.gold is None:
        slot_release(prompt_id=assignment.prompt_id)
    prompt_review_refresh(prompt_id=assignment.prompt_id, reopen=False)
    audit_record(
        actor=reviewer,
        verb=AuditEvent.Verb.ANNOTATION_REJECTED,
        obj=rejected,
        project=assignment.project,
        now=now,
        data={"previous": current.pk, "annotator": current.annotator_id, "reason": reason},
    )
    return rejected


@transaction.atomic
def prompt_adjudicate(
    *,
    prompt: Prompt,
    reviewer: User,
    ranking: list[list[int]],
    note: str,
    now: datetime,
) -> Adjudication:
    """Record the reviewer's ranking of the prompt, superseding an earlier one, and
    close its review. `ranking` is checked by the annotators' own rule."""
    project = prompt.project
    known = set(Response.objects.filter(prompt=prompt).values_list("pk", flat=True))
    ranking = ranking_check(ranking, known=known, allow_ties=project.allow_ties)
    note = _reason(note, required=False)
    # Lock the prompt: two reviewers adjudicating at once must not both stay current.
    Prompt.objects.select_for_update().filter(pk=prompt.pk).values_list("pk").get()
    prompt.adjudications.filter(is_current=True).update(is_current=False)
    adjudication = Adjudication.objects.create(
        project=project,
        prompt=prompt,
        reviewer=reviewer,
        ranking=ranking,
        note=note,
        created_at=now,
    )
    Prompt.objects.filter(pk=prompt.pk).update(reviewed_at=now)
    audit_record(
        actor=reviewer,
        verb=AuditEvent.Verb.PROMPT_ADJUDICATED,
        obj=adjudication,
        project=project,
        now=now,
        data={"prompt": prompt.pk, "ranking": ranking, "note": note},
    )
    return adjudication


@transaction.atomic
def prompt_review_close(*, prompt: Prompt, reviewer: User, note: str, now: datetime) -> None:
    """The reviewer looked and is done: the prompt leaves the queue until it changes."""
    note = _reason(note, required=False)
    Prompt.objects.filter(pk=prompt.pk).update(reviewed_at=now)
    audit_record(
        actor=reviewer,
        verb=AuditEvent.Verb.PROMPT_REVIEWED,
        obj=prompt,
        project=prompt.project,
        now=now,
        data={"note": note},
    )
