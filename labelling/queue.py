"""The labelling queue: who gets which prompt next, and leases that expire.

Rules (issue 3): an annotator never gets a prompt twice; a prompt never has more than k
live annotations (submitted, or leased and not yet reclaimed); gold prompts come at the
project's gold rate; the prompts nearest to completion come first, so finished items
accumulate instead of every prompt being half done.

Concurrency: the count of live annotations is a column of the prompt row
(`live_count`), so claiming a slot is a row-level decision. Inside one transaction the
lease takes the best candidate with `SELECT ... FOR UPDATE SKIP LOCKED` (on PostgreSQL:
annotators asking at once skip a row another is claiming instead of queueing behind it;
the lock's re-check of `live_count < k` runs against the newest row version), then
bumps the count with a conditional UPDATE (`... WHERE live_count < k`) whose row count
must be 1, as a second guard. SQLite ignores FOR UPDATE but runs one writing
transaction at a time (IMMEDIATE), which gives the same guarantee.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext as _

from labelling.guidelines import guideline_pending
from labelling.models import Assignment, Project, Prompt, Response
from labelling.services import DomainError

ATTEMPTS = 3


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
                slot_release(prompt_id=prompt_id)
                reclaimed += 1
    return reclaimed


def open_prompts(*, project: Project, annotator: AbstractBaseUser, gold: bool):
    """Prompts this annotator may be given, best first.

    Never one they were given before, unless a re-labelling round allows earlier
    annotators again (then: never twice in the same round).
    """
    given = Assignment.objects.filter(prompt=OuterRef("pk"), annotator=annotator)
    prompts = (
        Prompt.objects.filter(project=project, retired=False, gold__isnull=not gold)
        .exclude(Exists(given.filter(round=OuterRef("round"))))
        .exclude(Q(repeat_allowed=False) & Exists(given))
    )
    if gold:
        # Gold prompts score annotators: every annotator may see each one once, so they
        # are not capped by a target; the least seen come first.
        return prompts.order_by("live_count", "id")
    prompts = prompts.filter(live_count__lt=F("target"))
    if project.queue_order == Project.QueueOrder.UNCERTAINTY:
        # Where the reward model can least tell the best two responses apart first (a
        # human label teaches it most there); unscored prompts after, nearest to
        # completion first as usual. Every other rule above still holds.
        return prompts.order_by(F("score_gap").asc(nulls_last=True), "-live_count", "id")
    return prompts.order_by("-live_count", "id")


def slot_claim(*, prompt_id: int, gold: bool) -> bool:
    """Take one of the prompt's slots: a conditional UPDATE whose row count says whether
    this request won (gold prompts have no cap)."""
    slots = Prompt.objects.filter(pk=prompt_id)
    if not gold:
        slots = slots.filter(live_count__lt=F("target"))
    return slots.update(live_count=F("live_count") + 1) == 1


def slot_release(*, prompt_id: int) -> None:
    Prompt.objects.filter(pk=prompt_id).update(live_count=F("live_count") - 1)


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


@dataclass(frozen=True)
class Next:
    """What an annotator asking for work gets: an item, or the guideline version they
    must acknowledge first (both None: nothing is left for them)."""

    assignment: Assignment | None
    guideline_pending: int | None = None


def assignment_next(
    *,
    project: Project,
    annotator: AbstractBaseUser,
    now: datetime,
    rng: random.Random | None = None,
) -> Next:
    """The rule behind every door (page and API) that hands out work.

    A lease already held is returned as it is: it is finished under the guideline version
    it started with. A new item needs the current guideline version acknowledged first.
    """
    held = assignment_active(project=project, annotator=annotator, now=now)
    if held is not None:
        return Next(held)
    pending = guideline_pending(project=project, user=annotator)
    if pending is not None:
        return Next(None, guideline_pending=pending)
    return Next(_lease_new(project=project, annotator=annotator, now=now, rng=rng))


def assignment_lease_next(
    *,
    project: Project,
    annotator: AbstractBaseUser,
    now: datetime,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The queue itself, without the guideline gate: the annotator's current lease if
    they hold one, else a new one; None if nothing is left for them."""
    held = assignment_active(project=project, annotator=annotator, now=now)
    if held is not None:
        return held
    return _lease_new(project=project, annotator=annotator, now=now, rng=rng)


def _lease_new(*, project, annotator, now, rng) -> Assignment | None:
    rng = rng or random.Random()
    leases_reclaim(project=project, now=now)
    want_gold = project.gold_rate > 0 and rng.random() < project.gold_rate
    pools = [True, False] if want_gold else [False, True] if project.gold_rate > 0 else [False]
    for _attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                for gold in pools:
                    # The fields the annotator will see come with the lock: no second read.
                    candidate = (
                        open_prompts(project=project, annotator=annotator, gold=gold)
                        .select_for_update(skip_locked=True, of=("self",))
                        .only("id", "project_id", "external_id", "kind", "content", "gold", "round")
                        .first()
                    )
                    if candidate is None:
                        continue
                    if not slot_claim(prompt_id=candidate.pk, gold=gold):
                        raise _Lost  # only if the row changed under a non-locking backend
                    return _assignment_create(
                        project=project, annotator=annotator, prompt=candidate, now=now, rng=rng
                    )
                return None
        except (_Lost, IntegrityError):
            # IntegrityError: the same annotator leasing twice at once (two tabs); the
            # unique (prompt, annotator) constraint stopped the second and the rollback
            # returned its slot. Either way, look again.
            continue
    return None


class _Lost(Exception):
    pass


def _assignment_create(*, project, annotator, prompt, now, rng) -> Assignment:
    texts = dict(
        Response.objects.filter(prompt_id=prompt.pk).order_by("position").values_list("pk", "text")
    )
    order = list(texts)
    rng.shuffle(order)
    assignment = Assignment.objects.create(
        project=project,
        prompt=prompt,
        annotator=annotator,
        status=Assignment.Status.LEASED,
        display_order=order,
        guideline_version=project.guideline_version,
        leased_at=now,
        expires_at=now + timedelta(minutes=project.lease_minutes),
        round=prompt.round,
    )
    assignment.response_texts = texts  # saves assignment_payload a read
    return assignment


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
        slot_release(prompt_id=assignment.prompt_id)
    return assignment
