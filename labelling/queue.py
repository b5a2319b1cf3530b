"""The labelling queue: who gets which prompt next, and leases that expire.

Rules (issue 3): an annotator never gets a prompt twice; a prompt never has more than k
live annotations (submitted, or leased and not yet reclaimed); gold prompts come at the
project's gold rate; the prompts nearest to completion come first, so finished items
accumulate instead of every prompt being half done.

Concurrency: a slot is claimed with a conditional UPDATE,
`UPDATE prompt SET live_count = live_count + 1 WHERE id = %s AND live_count < k`,
whose row count says whether this request won. PostgreSQL re-checks the WHERE clause
against the newest row version after waiting for a competing writer, so two annotators
can never both take the last slot; SQLite runs one writer at a time. A SELECT ... FOR
UPDATE over a count subquery would not do: under READ COMMITTED the count comes from
the statement's snapshot and can be stale by the time the lock is granted.
"""

import random
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils.translation import gettext as _

from labelling.models import Assignment, GuidelineVersion, Project, Prompt
from labelling.services import DomainError

CANDIDATES = 20  # prompts tried per scan before scanning again
SCANS = 3


def guideline_current_version(*, project: Project) -> int:
    return (
        GuidelineVersion.objects.filter(project=project)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
        or 1
    )


def leases_reclaim(*, project: Project, now: datetime) -> int:
    """Mark leases past their expiry as expired and give their slots back. Returns how many.

    Each lease is moved by a guarded UPDATE (`... WHERE status = 'leased'`), so two
    requests reclaiming at once, or a submit racing a reclaim, never count a slot twice.
    """
    stale = list(
        Assignment.objects.filter(
            project=project, status=Assignment.Status.LEASED, expires_at__lte=now
        ).values_list("pk", "prompt_id")[:500]
    )
    reclaimed = 0
    for pk, prompt_id in stale:
        with transaction.atomic():
            moved = Assignment.objects.filter(pk=pk, status=Assignment.Status.LEASED).update(
                status=Assignment.Status.EXPIRED, finished_at=now
            )
            if moved:
                Prompt.objects.filter(pk=prompt_id).update(live_count=F("live_count") - 1)
                reclaimed += 1
    return reclaimed


def _candidates(*, project: Project, annotator: AbstractBaseUser, gold: bool) -> list[int]:
    seen = Assignment.objects.filter(prompt=OuterRef("pk"), annotator=annotator)
    prompts = Prompt.objects.filter(project=project, retired=False, gold__isnull=not gold).exclude(
        Exists(seen)
    )
    if gold:
        # Gold prompts score annotators: every annotator may see each one once, so they
        # are not capped at k.
        return list(prompts.order_by("live_count", "id").values_list("pk", flat=True)[:CANDIDATES])
    return list(
        prompts.filter(live_count__lt=project.annotations_per_prompt)
        .order_by("-live_count", "id")
        .values_list("pk", flat=True)[:CANDIDATES]
    )


def _claim(*, project: Project, prompt_id: int, gold: bool) -> bool:
    slots = Prompt.objects.filter(pk=prompt_id, retired=False)
    if not gold:
        slots = slots.filter(live_count__lt=project.annotations_per_prompt)
    return slots.update(live_count=F("live_count") + 1) == 1


def assignment_active(*, project: Project, annotator: AbstractBaseUser, now: datetime):
    return (
        Assignment.objects.filter(
            project=project,
            annotator=annotator,
            status=Assignment.Status.LEASED,
            expires_at__gt=now,
        )
        .order_by("leased_at")
        .first()
    )


def assignment_lease_next(
    *,
    project: Project,
    annotator: AbstractBaseUser,
    now: datetime,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The annotator's current lease if they hold one, else a new one; None if nothing is
    left for them."""
    rng = rng or random.Random()
    active = assignment_active(project=project, annotator=annotator, now=now)
    if active is not None:
        return active
    leases_reclaim(project=project, now=now)
    version = guideline_current_version(project=project)
    want_gold = project.gold_rate > 0 and rng.random() < project.gold_rate
    pools = [True, False] if want_gold else [False, True] if project.gold_rate > 0 else [False]
    for gold in pools:
        for _scan in range(SCANS):
            candidates = _candidates(project=project, annotator=annotator, gold=gold)
            if not candidates:
                break
            for prompt_id in candidates:
                assignment = _lease(
                    project=project,
                    annotator=annotator,
                    prompt_id=prompt_id,
                    gold=gold,
                    version=version,
                    now=now,
                    rng=rng,
                )
                if assignment is not None:
                    return assignment
    return None


def _lease(*, project, annotator, prompt_id, gold, version, now, rng) -> Assignment | None:
    try:
        with transaction.atomic():
            if not _claim(project=project, prompt_id=prompt_id, gold=gold):
                return None  # someone took the last slot first
            order = list(
                Prompt.objects.get(pk=prompt_id)
                .responses.order_by("position")
                .values_list("pk", flat=True)
            )
            rng.shuffle(order)
            return Assignment.objects.create(
                project=project,
                prompt_id=prompt_id,
                annotator=annotator,
                status=Assignment.Status.LEASED,
                display_order=order,
                guideline_version=version,
                leased_at=now,
                expires_at=now + timedelta(minutes=project.lease_minutes),
            )
    except IntegrityError:
        # The same annotator leasing twice at once (two tabs): the unique constraint on
        # (prompt, annotator) stopped the second, and the rollback returned its slot.
        return None


@transaction.atomic
def assignment_skip(*, assignment: Assignment, reason: str, now: datetime) -> Assignment:
    """Give the prompt back with a reason; this annotator will not be offered it again."""
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.status in (Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED):
        raise DomainError(
            _("This item was already %(status)s.") % {"status": assignment.get_status_display()},
            field="assignment",
        )
    if not reason.strip():
        raise DomainError(_("Say why you skip this item."), field="reason")
    held_a_slot = assignment.status == Assignment.Status.LEASED
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason.strip()[:2000]
    assignment.finished_at = now
    assignment.save(update_fields=["status", "skip_reason", "finished_at"])
    if held_a_slot:
        Prompt.objects.filter(pk=assignment.prompt_id).update(live_count=F("live_count") - 1)
    return assignment
