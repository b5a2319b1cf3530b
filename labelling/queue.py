"""The labelling queue: who gets which prompt next, and leases that expire.

Rules (issue 3): an annotator never gets a prompt twice; a prompt never has more than k
live annotations (submitted, or leased and not yet reclaimed); gold prompts come at the
project's gold rate; the prompts nearest to completion come first, so finished items
accumulate instead of every prompt being half done.

Concurrency: the count of live annotations is a column of the prompt row
(`live_count`), so claiming a slot is a row-level decision, made by one statement:
`UPDATE prompt SET live_count = live_count + 1 WHERE id = (SELECT ... FOR UPDATE SKIP
LOCKED LIMIT 1) AND live_count < target RETURNING ...`. On PostgreSQL annotators asking
at once skip a row another is claiming instead of queueing behind it, and the UPDATE
re-checks `live_count < target` against the newest row version; the row count (0 or 1)
says whether this request won. Other databases (SQLite) run the same step in the ORM
(`open_prompts`, `_lease_by_orm`): SQLite has no row locks but runs one writing
transaction at a time (IMMEDIATE), which gives the same guarantee.

Speed: every annotator asks this before each item, so the hot path on PostgreSQL is
hand-written SQL, not the ORM's dozen queries: compiling the candidate query alone cost
more than running the whole path (bench/annotate.py; the figures are in the README). It
is two round trips: the annotator's state, then the claim, the responses and the lease's
insert as one statement.
"""

import random
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from core.db import on_postgresql
from core.errors import DomainError
from labelling.models import (
    Assignment,
    GuidelineAcknowledgement,
    Project,
    Prompt,
    QualificationAttempt,
    QualificationItem,
    QualificationSet,
    RaterPause,
    Response,
)
from labelling.rows import instance_from_row

ATTEMPTS = 3
# The tables the hand-written statements below name.
PROMPTS = Prompt._meta.db_table
RESPONSES = Response._meta.db_table
ASSIGNMENTS = Assignment._meta.db_table
ACKNOWLEDGEMENTS = GuidelineAcknowledgement._meta.db_table
PAUSES = RaterPause._meta.db_table
QUALIFICATION_SETS = QualificationSet._meta.db_table
QUALIFICATION_ITEMS = QualificationItem._meta.db_table
QUALIFICATION_ATTEMPTS = QualificationAttempt._meta.db_table


def leases_reclaim(*, project: Project, now: datetime, annotator: User | None = None) -> int:
    """Mark leases past their expiry as expired and give their slots back. Returns how many.

    Each lease is moved by a guarded UPDATE (`... WHERE status = 'leased'`), so two
    requests reclaiming at once, or a submit racing a reclaim, never count a slot twice.
    At most 500 a call; with `annotator`, theirs come first (one lease per annotator
    is a constraint: their own expired one must go before they can take another).
    """
    expired = Assignment.objects.filter(
        project=project, status=Assignment.Status.LEASED, expires_at__lte=now
    ).values_list("pk", "prompt_id")
    stale = list(expired.filter(annotator=annotator)) if annotator is not None else []
    stale += list(expired[: max(0, 500 - len(stale))])
    reclaimed = 0
    for pk, prompt_id in stale:
        with transaction.atomic():
            # Guarded on the expiry too: a lease renewed since it was listed stays.
            moved = Assignment.objects.filter(
                pk=pk, status=Assignment.Status.LEASED, expires_at__lte=now
            ).update(status=Assignment.Status.EXPIRED, finished_at=now)
            if moved:
                slot_release(prompt_id=prompt_id)
                reclaimed += 1
    return reclaimed


# The one definition of "a prompt this annotator may be given" (`p` is the prompt), for
# the claim and for the count on the annotator's home page. Never one they were given
# before, unless a re-labelling round allows earlier annotators again (then: never twice
# in the same round). Gold prompts score annotators: every annotator may see each one
# once, so they are not capped by a target. The uncapped conditions spell the queue
# index's predicate (labelling_prompt_queue), so PostgreSQL scans that index.
_OPEN = """
    {project} AND NOT p.retired AND p.gold IS {gold}
    AND NOT EXISTS (SELECT 1 FROM {assignments} a
                    WHERE a.prompt_id = p.id AND a.annotator_id = %(annotator)s
                      AND a.round = p.round)
    AND (p.repeat_allowed OR NOT EXISTS (SELECT 1 FROM {assignments} a
                                         WHERE a.prompt_id = p.id
                                           AND a.annotator_id = %(annotator)s))
    {cap}
"""
_CAP = "AND p.live_count < p.target"
# A gold prompt of a qualification set is for qualification only (labelling.qualification):
# whoever qualifies is shown its answer.
_NOT_QUALIFYING = f"""AND NOT EXISTS (SELECT 1 FROM {QUALIFICATION_ITEMS} q
                                   WHERE q.prompt_id = p.id)"""  # noqa: S608
_ORDER = {
    # Gold: the least seen first.
    "gold": "p.live_count, p.id",
    Project.QueueOrder.COMPLETION: "p.live_count DESC, p.id",
    # Where the reward model can least tell the best two responses apart first (a human
    # label teaches it most there); unscored prompts after, nearest to completion first.
    Project.QueueOrder.UNCERTAINTY: "p.score_gap ASC NULLS LAST, p.live_count DESC, p.id",
}


def _open_where(*, gold: bool, projects: int = 0) -> str:
    """The condition for one project (`%(project)s`), or with `projects` for that many
    (`%(project0)s`, `%(project1)s`, ...)."""
    scope = (
        "p.project_id IN ({})".format(", ".join(f"%(project{i})s" for i in range(projects)))
        if projects
        else "p.project_id = %(project)s"
    )
    return _OPEN.format(
        project=scope,
        gold="NOT NULL" if gold else "NULL",
        cap=_NOT_QUALIFYING if gold else _CAP,
        assignments=ASSIGNMENTS,
    )


def open_prompts_counts(*, projects: list[Project], annotator: User) -> dict[int, int]:
    """How many prompts are still open to this annotator in each project: gold ones too,
    where the project serves them, so that the count falls by one after every item, gold
    or not (a count that stood still after some items would tell the annotator which
    were gold). One query for every project at once, and one more if any serves gold."""
    counts = dict.fromkeys((p.pk for p in projects), 0)
    pools = [(False, list(counts)), (True, [p.pk for p in projects if p.gold_rate > 0])]
    for gold, ids in pools:
        if not ids:
            continue
        if not on_postgresql():
            rows = (
                open_prompts(annotator_id=annotator.pk, gold=gold)
                .filter(project_id__in=ids)
                .order_by()
                .values_list("project_id")
                .annotate(n=Count("id"))
            )
        else:
            params = {f"project{i}": pk for i, pk in enumerate(ids)}
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT p.project_id, COUNT(*) FROM {PROMPTS} p"  # noqa: S608
                    f" WHERE {_open_where(gold=gold, projects=len(ids))} GROUP BY p.project_id",
                    {**params, "annotator": annotator.pk},
                )
                rows = cursor.fetchall()
        for project_id, n in rows:
            counts[project_id] += n
    return counts


def open_prompts(*, annotator_id: int, gold: bool) -> QuerySet[Prompt]:
    """_OPEN in the ORM, for the databases that do not run the statements above."""
    given = Assignment.objects.filter(prompt=OuterRef("pk"), annotator_id=annotator_id)
    prompts = (
        Prompt.objects.filter(retired=False, gold__isnull=not gold)
        .exclude(Exists(given.filter(round=OuterRef("round"))))
        .filter(Q(repeat_allowed=True) | ~Exists(given))
    )
    if gold:
        return prompts.exclude(Exists(QualificationItem.objects.filter(prompt_id=OuterRef("pk"))))
    return prompts.filter(live_count__lt=F("target"))


_ORDER_BY = {
    "gold": ("live_count", "id"),
    Project.QueueOrder.COMPLETION: ("-live_count", "id"),
    Project.QueueOrder.UNCERTAINTY: (F("score_gap").asc(nulls_last=True), "-live_count", "id"),
}


# What the claim returns of the prompt: what the annotator is shown, and the round.
_CLAIMED = ("id", "project_id", "external_id", "kind", "content", "gold", "round")


@cache  # built once per kind of claim, not on every lease
def _claim_sql(*, gold: bool, order: str, wait: bool) -> str:
    """The claim. With `wait`, the candidate is chosen without locking, and the UPDATE
    waits for that one row if another transaction holds it, then re-checks the cap on
    its newest version (see _lease_at_once). Not FOR UPDATE in the subquery: that
    keeps the lock of every row it waited for and found taken, and two such claims
    deadlocked (seen in the 30-thread test under load)."""
    lock = "" if wait else " FOR UPDATE OF p SKIP LOCKED"
    return (
        f"UPDATE {PROMPTS} SET live_count = live_count + 1 WHERE id = ("  # noqa: S608
        f"SELECT p.id FROM {PROMPTS} p WHERE {_open_where(gold=gold)} "
        f"ORDER BY {_ORDER['gold' if gold else order]} LIMIT 1{lock})"
        f"{'' if gold else ' AND live_count < target'} "
        f"RETURNING {', '.join(_CLAIMED)}"
    )


def slot_claim(*, prompt_id: int, gold: bool) -> bool:
    """Take one of the prompt's slots: a conditional UPDATE whose row count says whether
    this request won (gold prompts have no cap)."""
    slots = Prompt.objects.filter(pk=prompt_id)
    if not gold:
        slots = slots.filter(live_count__lt=F("target"))
    return slots.update(live_count=F("live_count") + 1) == 1


def slot_release(*, prompt_id: int) -> None:
    Prompt.objects.filter(pk=prompt_id).update(live_count=F("live_count") - 1)


@dataclass(frozen=True)
class _State:
    held: int | None  # the lease the annotator holds, if any
    acknowledged: int  # the newest guideline version they acknowledged (0: none)
    stale: bool  # whether any lease of the project is past its expiry
    paused: int | None  # the open pause of the annotator in the project (labelling.pauses)
    # the qualification set they must pass first (labelling.qualification), if any
    qualifying: int | None = None


# Five questions asked before every lease, in one round trip.
_STATE = f"""
    SELECT
      (SELECT id FROM {ASSIGNMENTS}
        WHERE annotator_id = %(annotator)s AND project_id = %(project)s
          AND status = 'leased' AND expires_at > %(now)s
        ORDER BY leased_at LIMIT 1),
      (SELECT MAX(version) FROM {ACKNOWLEDGEMENTS}
        WHERE project_id = %(project)s AND user_id = %(annotator)s),
      EXISTS (SELECT 1 FROM {ASSIGNMENTS}
               WHERE project_id = %(project)s AND status = 'leased'
                 AND expires_at <= %(now)s),
      (SELECT id FROM {PAUSES}
        WHERE project_id = %(project)s AND annotator_id = %(annotator)s
          AND resumed_at IS NULL),
      (SELECT s.id FROM (SELECT id, required_from FROM {QUALIFICATION_SETS}
                          WHERE project_id = %(project)s AND required_from IS NOT NULL
                            AND withdrawn_at IS NULL
                          ORDER BY required_from DESC, id DESC LIMIT 1) s
        WHERE NOT EXISTS (SELECT 1 FROM {QUALIFICATION_ATTEMPTS} t
                            JOIN {QUALIFICATION_SETS} u ON u.id = t.set_id
                           WHERE t.annotator_id = %(annotator)s AND t.passed
                             AND u.project_id = %(project)s
                             AND u.required_from >= s.required_from))
"""  # noqa: S608


def _state(*, project: Project, annotator: User, now: datetime) -> _State:
    """Five questions asked before every lease, in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            _STATE,
            {
                "project": project.pk,
                "annotator": annotator.pk,
                "now": connection.ops.adapt_datetimefield_value(now),
            },
        )
        held, acknowledged, stale, paused, qualifying = cursor.fetchone()
    return _State(
        held=held,
        acknowledged=acknowledged or 0,
        stale=bool(stale),
        paused=paused,
        qualifying=qualifying,
    )


def _held(pk: int) -> Assignment:
    return Assignment.objects.select_related("project", "prompt").get(pk=pk)


@dataclass(frozen=True)
class Next:
    """What an annotator asking for work gets: an item, the guideline version they must
    acknowledge first, the qualification set to pass first, or the pause that stops them
    (all None: nothing is left)."""

    assignment: Assignment | None
    guideline_pending: int | None = None
    paused: RaterPause | None = None
    qualifying: QualificationSet | None = None


def assignment_next(
    *,
    project: Project,
    annotator: User,
    now: datetime,
    rng: random.Random | None = None,
) -> Next:
    """The rule behind every door (page and API) that hands out work.

    A lease already held is returned as it is: it is finished under the guideline version
    it started with. A new item needs the current guideline version acknowledged first,
    then the qualification the project requires passed (labelling.qualification), and a
    rater paused in the project (labelling.pauses) gets none until resumed.
    """
    state = _state(project=project, annotator=annotator, now=now)
    if state.held is not None:
        return Next(_held(state.held))
    if state.paused is not None:
        return Next(None, paused=RaterPause.objects.select_related("project").get(pk=state.paused))
    if state.acknowledged < project.guideline_version:
        return Next(None, guideline_pending=project.guideline_version)
    if state.qualifying is not None:
        qset = QualificationSet.objects.select_related("project").get(pk=state.qualifying)
        return Next(None, qualifying=qset)
    return Next(_lease_new(project=project, annotator=annotator, now=now, rng=rng, state=state))


def assignment_lease_next(
    *,
    project: Project,
    annotator: User,
    now: datetime,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The queue itself, without the guideline gate or a pause (labelling.pauses): the
    annotator's current lease if they hold one, else a new one; None if nothing is left
    for them. For the demo's seed and tests; every door goes through assignment_next."""
    state = _state(project=project, annotator=annotator, now=now)
    if state.held is not None:
        return _held(state.held)
    return _lease_new(project=project, annotator=annotator, now=now, rng=rng, state=state)


def _lease_new(
    *, project: Project, annotator: User, now: datetime, rng: random.Random | None, state: _State
) -> Assignment | None:
    rng = rng or random.Random()
    if state.stale:
        leases_reclaim(project=project, now=now, annotator=annotator)
    want_gold = project.gold_rate > 0 and rng.random() < project.gold_rate
    pools = [True, False] if want_gold else [False, True] if project.gold_rate > 0 else [False]
    lease = _lease_at_once if on_postgresql() else _lease_by_orm
    for _attempt in range(ATTEMPTS):
        try:
            return lease(project=project, annotator=annotator, pools=pools, now=now, rng=rng)
        except IntegrityError:
            # The same annotator leasing twice at once (two tabs): a constraint (one
            # lease per annotator, or the unique prompt, annotator and round) stopped
            # the second and the rollback returned its slot. The lease the other call
            # took is theirs: both calls answer with it.
            held = _state(project=project, annotator=annotator, now=now).held
            if held is not None:
                return _held(held)
    return None


def _lease_by_orm(
    *, project: Project, annotator: User, pools: list[bool], now: datetime, rng: random.Random
) -> Assignment | None:
    """The lease in the ORM, for the databases that do not run _LEASE: the first open
    prompt in the queue's order, its slot, its responses, the lease, in one transaction.
    No row locks are needed: SQLite runs one writing transaction at a time (IMMEDIATE),
    so nothing else claims between the read and the write."""
    with transaction.atomic():
        for gold in pools:
            prompt = (
                open_prompts(annotator_id=annotator.pk, gold=gold)
                .filter(project=project)
                .order_by(*_ORDER_BY["gold" if gold else project.queue_order])
                .only(*_CLAIMED)
                .first()
            )
            if prompt is None or not slot_claim(prompt_id=prompt.pk, gold=gold):
                continue
            texts = dict(
                Response.objects.filter(prompt_id=prompt.pk)
                .order_by("position")
                .values_list("id", "text")
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
            assignment.response_texts = texts  # saves item_for_annotator a read
            return assignment
    return None


# The lease's columns, in the order _LEASE gives their values.
_LEASE_COLUMNS = (
    "project_id, prompt_id, annotator_id, status, display_order, guideline_version,"
    " leased_at, expires_at, skip_reason, round"
)

# PostgreSQL: the claim, the responses and the lease's insert are one statement, so one
# round trip and its own transaction instead of five (BEGIN and COMMIT included). The
# display order is the responses sorted by a hash of their id salted by this lease's
# own random number: a uniformly random order, drawn from the same generator as SQLite's
# shuffle.
_LEASE = """
WITH claimed AS ({claim}),
shown AS (
    SELECT array_agg(r.id ORDER BY r.position) AS ids,
           array_agg(r.text ORDER BY r.position) AS texts,
           array_agg(r.id ORDER BY md5(%(salt)s || r.id::text), r.id) AS display_order
      FROM {responses} r WHERE r.prompt_id = (SELECT id FROM claimed)
),
lease AS (
    INSERT INTO {assignments} ({columns})
    SELECT c.project_id, c.id, %(annotator)s, 'leased', to_jsonb(s.display_order), %(version)s,
           %(now)s, %(expires)s, '', c.round
      FROM claimed c, shown s
    RETURNING id
)
SELECT l.id, s.display_order, s.ids, s.texts, {claimed}
  FROM lease l, shown s, claimed c
"""


@cache  # built once per kind of claim, not on every lease
def _lease_sql(*, gold: bool, order: str, wait: bool) -> str:
    return _LEASE.format(
        claim=_claim_sql(gold=gold, order=order, wait=wait),
        columns=_LEASE_COLUMNS,
        responses=RESPONSES,
        assignments=ASSIGNMENTS,
        claimed=", ".join(f"c.{column}" for column in _CLAIMED),
    )


def _lease_at_once(
    *, project: Project, annotator: User, pools: list[bool], now: datetime, rng: random.Random
) -> Assignment | None:
    expires_at = now + timedelta(minutes=project.lease_minutes)
    ops = connection.ops
    params = {
        "project": project.pk,
        "annotator": annotator.pk,
        "version": project.guideline_version,
        "now": ops.adapt_datetimefield_value(now),
        "expires": ops.adapt_datetimefield_value(expires_at),
    }
    # Inside a caller's transaction, a savepoint, so that a refused insert can be retried.
    alone = transaction.atomic() if connection.in_atomic_block else nullcontext()
    # Skipping locked rows keeps annotators from queueing behind each other; but a row
    # is also locked for the moment another annotator's submission updates its
    # agreement, and when that row is the only one left for this annotator, skipping it
    # would say "nothing left" while a slot is free (seen once in the 30-thread test).
    # So when every pool comes back empty, ask again, waiting for the row; twice, since
    # the row waited for may have been the last slot someone else took.
    with alone, connection.cursor() as cursor:
        for wait in (False, True, True):
            for gold in pools:
                params["salt"] = f"{rng.getrandbits(64):016x}"
                cursor.execute(_lease_sql(gold=gold, order=project.queue_order, wait=wait), params)
                row = cursor.fetchone()
                if row is not None:
                    pk, order, ids, texts, *claimed = row
                    texts = dict(zip(ids, texts, strict=True))
                    return _leased(pk, project, annotator, claimed, order, texts, now, expires_at)
    return None


def _leased(
    pk: int,
    project: Project,
    annotator: User,
    claimed: list,
    order: list[int],
    texts: dict[int, str],
    now: datetime,
    expires_at: datetime,
) -> Assignment:
    """The lease just written, as the model instance the caller gets, without a read."""
    prompt = instance_from_row(Prompt, dict(zip(_CLAIMED, claimed, strict=True)), only=_CLAIMED)
    assignment = Assignment(
        pk=pk,
        project=project,
        prompt=prompt,
        annotator=annotator,
        status=Assignment.Status.LEASED,
        display_order=order,
        guideline_version=project.guideline_version,
        leased_at=now,
        expires_at=expires_at,
        round=prompt.round,
    )
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.response_texts = texts  # saves item_for_annotator a read
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
