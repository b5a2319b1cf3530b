"""Adaptive overlap (issue 18, point 7): annotations spent where raters disagree.

A project with `max_annotations_per_prompt` above its k lets a prompt ask for more than
k annotations. Once a prompt has every annotation its target asks for, its rankings
are tested by the agreement rule (core.statistics.consensus_settled, with the
project's `agreement_lead`):

- settled: the prompt is complete, as with fixed overlap;
- not settled, below the maximum: its target rises by one (`extra_asked` counts these),
  and the queue serves it again, nearest to completion first;
- not settled at the maximum, or with no annotator left who may still be given it: it
  is marked `unsettled`, which puts it in the review queue
  (labelling.review.review_wanted).

Targets only move in steps the queue already knows (re-labelling raises them, k moves
them), so its invariant holds: no prompt is leased beyond its target. Changing the
settings mid-project re-tests every prompt at once (`overlap_settings_apply`), as
changing k moves every target at once.
"""

from collections import defaultdict

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest

from core import statistics as st
from labelling.models import Annotation, Assignment, Membership, Project, Prompt


def _settled(rankings: list[list[list[int]]], lead: int) -> bool:
    ids = sorted(rid for group in rankings[0] for rid in group)
    return st.consensus_settled(st.ranks_from_groups(rankings, ids), lead)


def overlap_refresh(*, project: Project, prompt_id: int) -> None:
    """After a submission: if the prompt has every annotation its target asks for, test
    them; ask for one more, or mark the prompt unsettled at its maximum.

    The review refresh's UPDATE holds the prompt's row lock by now, so the annotations are
    read again here: a submission committed while this one waited for the lock is
    counted, and of two submissions at once the later one tests all of them."""
    if not project.adaptive:
        return
    rankings = list(
        Annotation.objects.filter(prompt_id=prompt_id, is_current=True, rejected=False)
        .order_by("id")
        .values_list("ranking", flat=True)
    )
    _retest(project, Prompt.objects.filter(pk=prompt_id), rankings)


def _retest(project: Project, prompt: QuerySet[Prompt], rankings: list) -> None:
    """Test one prompt's current `rankings` if they are all its target asks for. Each
    UPDATE guards on what it changes, so a repeated test changes nothing."""
    if not rankings:
        return
    given = len(rankings)
    allowed = project.extra_allowed
    mine = prompt.filter(gold__isnull=True, retired=False, target__lte=given)
    if _settled(rankings, project.agreement_lead):
        mine.filter(unsettled=True).update(unsettled=False)
        return
    # The prompt's own maximum: k (or what re-labelling raised it to) plus the extra
    # annotations allowed, that is target - extra_asked + allowed.
    room = Q(extra_asked__lt=allowed) & Q(target__gt=F("extra_asked") + (given - allowed))
    if mine.filter(room).exists() and not _someone_left(mine):
        # Every annotator of the project has had it: asking for more would leave it
        # open for good. A reviewer decides instead.
        mine.filter(unsettled=False).update(unsettled=True)
        return
    # One more than it has: a prompt with more than its target (k lowered under it)
    # counts every annotation above the old target as asked for, so that its maximum
    # does not drift.
    asked = mine.filter(room).update(
        target=given + 1,
        extra_asked=F("extra_asked") + (given + 1) - F("target"),
        unsettled=False,
    )
    if not asked:
        mine.filter(unsettled=False).update(unsettled=True)


def _someone_left(prompt: QuerySet[Prompt]) -> bool:
    """Whether an active annotator of the project may still be given the prompt: one
    the queue's rule (labelling.queue.open_prompts) has not excluded by an earlier
    assignment of it."""
    found = prompt.values_list("project_id", "round", "repeat_allowed").first()
    if found is None:
        return False
    project_id, round_, repeat_allowed = found
    given = Assignment.objects.filter(prompt__in=prompt)
    if repeat_allowed:
        given = given.filter(round=round_)
    return (
        Membership.objects.filter(
            project_id=project_id, role=Membership.Role.ANNOTATOR, user__is_active=True
        )
        .exclude(user_id__in=given.values("annotator_id"))
        .exists()
    )


def overlap_settings_apply(*, project: Project) -> None:
    """After k, the maximum or the lead changed: extra annotations asked for beyond the
    new allowance are taken back (never below what a prompt already has or holds), and
    every prompt with all its target's annotations is tested again by the new rule,
    but for prompts a reviewer closed since their last annotation."""
    allowed = project.extra_allowed
    prompts = Prompt.objects.filter(project=project)
    prompts.filter(extra_asked__gt=allowed).update(
        target=Greatest(F("target") - (F("extra_asked") - allowed), F("live_count")),
        extra_asked=allowed,
    )
    if not project.adaptive:
        prompts.filter(unsettled=True).update(unsettled=False)
        return
    rankings: dict[int, list] = defaultdict(list)
    for prompt_id, ranking in (
        Annotation.objects.filter(
            project=project,
            is_current=True,
            rejected=False,
            prompt__gold__isnull=True,
            prompt__retired=False,
            prompt__reviewed_at__isnull=True,
        )
        .order_by("prompt_id", "id")
        .values_list("prompt_id", "ranking")
        .iterator(chunk_size=5000)
    ):
        rankings[prompt_id].append(ranking)
    targets = dict(prompts.filter(pk__in=list(rankings)).values_list("pk", "target"))
    for prompt_id, given in rankings.items():
        target = targets.get(prompt_id)
        if target is not None and len(given) >= target:
            # Guarded on the target read, so a submission that moved it meanwhile wins.
            _retest(project, prompts.filter(pk=prompt_id, target=target), given)
