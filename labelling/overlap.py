"""Adaptive overlap (issue 18, point 7): annotations spent where raters disagree.

A project with `max_annotations_per_prompt` above its k lets a prompt ask for more than
k annotations. Once a prompt has every annotation its target asks for, its rankings
are tested by the agreement rule (core.statistics.consensus_settled, with the
project's `agreement_lead`):

- settled: the prompt is complete, as with fixed overlap;
- not settled, below the maximum: its target rises by one (`extra_asked` counts these),
  and the queue serves it again, nearest to completion first;
- not settled at the maximum: it is marked `unsettled`, which puts it in the review
  queue (labelling.review.review_wanted).

Targets only move in steps the queue already knows (re-labelling raises them, k moves
them), so its invariant holds: no prompt is leased beyond its target. Changing the
settings mid-project re-tests every prompt at once (`overlap_settings_apply`), as
changing k moves every target at once.
"""

from collections import defaultdict

from django.db.models import F
from django.db.models.functions import Greatest

from core import statistics as st
from labelling.models import Annotation, Project, Prompt


def _settled(rankings: list[list[list[int]]], lead: int) -> bool:
    ids = sorted(rid for group in rankings[0] for rid in group)
    return st.consensus_settled(st.ranks_from_groups(rankings, ids), lead)


def overlap_refresh(*, project: Project, prompt_id: int, rankings: list[list[list[int]]]) -> None:
    """After a submission: test the prompt's current, unrejected `rankings` if they are
    all its target asks for, and ask for one more or mark it unsettled. Each UPDATE
    guards on the counts it read, so two submissions at once ask for one more, not two."""
    if not project.adaptive or not rankings:
        return
    mine = Prompt.objects.filter(
        pk=prompt_id, gold__isnull=True, retired=False, target__lte=len(rankings)
    )
    if _settled(rankings, project.agreement_lead):
        mine.filter(unsettled=True).update(unsettled=False)
        return
    asked = mine.filter(extra_asked__lt=project.extra_allowed).update(
        target=F("target") + 1, extra_asked=F("extra_asked") + 1, unsettled=False
    )
    if not asked:
        mine.filter(unsettled=False).update(unsettled=True)


def overlap_settings_apply(*, project: Project) -> None:
    """After k, the maximum or the lead changed: extra annotations asked for beyond the
    new allowance are taken back (never below what a prompt already has or holds), and
    every prompt with all its target's annotations is tested again by the new rule."""
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
        )
        .order_by("prompt_id", "id")
        .values_list("prompt_id", "ranking")
        .iterator(chunk_size=5000)
    ):
        rankings[prompt_id].append(ranking)
    targets = dict(prompts.filter(pk__in=list(rankings)).values_list("pk", "target"))
    more, settled = [], []
    for prompt_id, given in rankings.items():
        if len(given) < targets.get(prompt_id, len(given) + 1):
            continue
        if _settled(given, project.agreement_lead):
            settled.append(prompt_id)
        else:
            more.append(prompt_id)
    for chunk in _chunks(settled):
        prompts.filter(pk__in=chunk, unsettled=True).update(unsettled=False)
    for chunk in _chunks(more):
        # At the maximum first: a prompt the next statement asks more of is not unsettled.
        prompts.filter(pk__in=chunk, extra_asked__gte=allowed).update(unsettled=True)
        prompts.filter(pk__in=chunk, extra_asked__lt=allowed).update(
            target=F("target") + 1, extra_asked=F("extra_asked") + 1, unsettled=False
        )


def _chunks(ids: list[int], size: int = 1000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
