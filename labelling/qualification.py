"""Qualification (issue 18, points 1-3): gold prompts with the expert's explanation that a
rater passes before ordinary items, and again when a guideline version asks for it.

- A set (`QualificationSet`) is made of the project's gold prompts, each with an
  explanation, a pass mark (`threshold`: the share of response pairs ordered as the expert
  did, over the whole set) and a number of attempts.
- A set is a draft until it is required: from the current guideline version, or from the
  version being published (labelling.guidelines). The newest set required and not
  withdrawn is the one every annotator of the project must pass before the queue gives
  them an ordinary item (labelling.queue); raters who passed an older one re-qualify, and
  are told why (`reason`, by default the version's change summary).
- An attempt shows every item once, in an order of its own, responses lettered in an
  order of their own. After each answer the rater sees the expert's ranking by the
  letters they saw, the pairs they ordered otherwise, and the explanation. The last
  answer scores the attempt; a rater who used every attempt without passing waits for an
  admin or reviewer to grant one more, with a note (audited).
- A prompt in any set is for qualification only: the queue no longer serves it as a gold
  item, since its answer is shown to whoever qualifies.

The pass mark is shown to the rater: this is a test with a known mark and its answers
are shown after each item, unlike the project's hidden gold checks.
"""

import random
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core import statistics as st
from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import (
    Assignment,
    Membership,
    Project,
    Prompt,
    QualificationAnswer,
    QualificationAttempt,
    QualificationGrant,
    QualificationItem,
    QualificationSet,
    Response,
)
from labelling.rules import ranking_check
from labelling.visibility import annotator_names, letters

MAX_ITEMS = 100
MAX_ATTEMPTS = 20
MAX_TEXT = 5000
MAX_NAME = 200

STATUS_LABELS = {
    "passed": _lazy("passed"),
    "in_progress": _lazy("in progress"),
    "failed": _lazy("attempts used"),
    "retrying": _lazy("may try again"),
    "not_started": _lazy("not started"),
}


@dataclass(frozen=True)
class ItemSpec:
    """One item of a set to be made: a gold prompt by its external id, and what the
    rater reads after answering it."""

    prompt: str
    explanation: str


@dataclass(frozen=True)
class Due:
    """A qualification an annotator must pass before ordinary items."""

    set: QualificationSet
    used: int  # attempts finished
    allowed: int  # attempts in all: the set's, and those granted since
    open: QualificationAttempt | None

    @property
    def left(self) -> int:
        return self.allowed - self.used - (1 if self.open else 0)

    @property
    def exhausted(self) -> bool:
        return self.open is None and self.used >= self.allowed


# --- sets ------------------------------------------------------------------------------------


def _text(value: str, field: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise DomainError(_("This field is required."), field=field)
    if len(value) > limit:
        raise DomainError(_("At most %(n)d characters.") % {"n": limit}, field=field)
    return value


@transaction.atomic
def qualification_set_create(
    *,
    project: Project,
    name: str,
    threshold: float,
    attempts: int,
    items: list[ItemSpec],
    actor: User,
    now: datetime,
) -> QualificationSet:
    """A draft set of the project's gold prompts (audited)."""
    name = _text(name, "name", limit=MAX_NAME)
    if not 0 <= threshold <= 1:
        raise DomainError(_("A share between 0 and 1."), field="threshold")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise DomainError(_("Between 1 and %(n)d.") % {"n": MAX_ATTEMPTS}, field="attempts")
    if not items:
        raise DomainError(_("Choose at least one gold prompt."), field="items")
    if len(items) > MAX_ITEMS:
        raise DomainError(_("At most %(n)d items.") % {"n": MAX_ITEMS}, field="items")
    if QualificationSet.objects.filter(project=project, name=name).exists():
        raise DomainError(_("This project has a set of that name."), field="name")
    wanted = [spec.prompt for spec in items]
    twice = sorted({ext for ext in wanted if wanted.count(ext) > 1})
    if twice:
        raise DomainError(
            _("Each prompt once: %(ids)s twice.") % {"ids": ", ".join(twice)}, field="items"
        )
    prompts = {
        p.external_id: p
        for p in Prompt.objects.filter(project=project, external_id__in=wanted).only(
            "id", "external_id", "gold", "retired"
        )
    }
    unknown = [ext for ext in wanted if ext not in prompts]
    if unknown:
        raise DomainError(
            _("No prompt of this project has the id %(ids)s.") % {"ids": ", ".join(unknown[:5])},
            field="items",
        )
    _check_prompts(project, prompts, wanted)
    explanations = [
        _text(spec.explanation, f"items.{index}.explanation") for index, spec in enumerate(items)
    ]
    qset = QualificationSet.objects.create(
        project=project,
        name=name,
        threshold=threshold,
        attempts=attempts,
        created_at=now,
        created_by=actor,
    )
    QualificationItem.objects.bulk_create(
        QualificationItem(
            set=qset, prompt=prompts[spec.prompt], explanation=explanation, position=index
        )
        for index, (spec, explanation) in enumerate(zip(items, explanations, strict=True))
    )
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.QUALIFICATION_CREATED,
        obj=qset,
        project=project,
        now=now,
        data={"name": name, "items": wanted, "threshold": threshold, "attempts": attempts},
    )
    return qset


def _check_prompts(project: Project, prompts: dict[str, Prompt], wanted: list[str]) -> None:
    """The prompts a set may hold: gold, not retired, never served, with something to
    rank, and an expert ranking the project's rules let a rater match."""
    not_gold = [ext for ext in wanted if prompts[ext].gold is None or prompts[ext].retired]
    if not_gold:
        raise DomainError(
            _("Only gold prompts that are not retired can qualify raters: %(ids)s.")
            % {"ids": ", ".join(not_gold[:5])},
            field="items",
        )
    # A prompt raters were given as a hidden gold item: its expert ranking, shown after
    # answering, would tell them it was gold and how they did on it.
    served = sorted(
        Assignment.objects.filter(prompt__in=[prompts[ext] for ext in wanted])
        .values_list("prompt__external_id", flat=True)
        .distinct()
    )
    if served:
        raise DomainError(
            _(
                "Raters were given %(ids)s as hidden gold items: shown with the expert's "
                "ranking, it would tell them so. Choose gold prompts nobody has labelled."
            )
            % {"ids": ", ".join(served[:5])},
            field="items",
        )
    sizes = dict(
        Response.objects.filter(prompt__in=[prompts[ext] for ext in wanted])
        .values_list("prompt__external_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    alone = [ext for ext in wanted if sizes.get(ext, 0) < 2]
    if alone:
        raise DomainError(
            _("%(ids)s has fewer than two responses: nothing to rank.")
            % {"ids": ", ".join(alone[:5])},
            field="items",
        )
    if not project.allow_ties:
        tied = [ext for ext in wanted if any(len(g) > 1 for g in prompts[ext].gold or [])]
        if tied:
            raise DomainError(
                _(
                    "The expert ranking of %(ids)s ties responses, and this project does not "
                    "allow ties: no rater could match it."
                )
                % {"ids": ", ".join(tied[:5])},
                field="items",
            )


def default_reason(*, project: Project, version: int, change_summary: str = "") -> str:
    if version > 1 and change_summary:
        return _(
            "Guideline version %(v)d changed the rules: %(summary)s Pass this short set "
            "to show how they apply before you label again."
        ) % {"v": version, "summary": change_summary.strip().rstrip(".") + "."}
    return _("%(project)s asks every rater to pass a short qualification set first.") % {
        "project": project.name
    }


@transaction.atomic
def qualification_require(
    *, qset: QualificationSet, actor: User, now: datetime, reason: str = "", version: int = 0
) -> QualificationSet:
    """Require a draft set from `version` (by default the project's current one) on;
    every annotator who has not passed it must, before their next ordinary item."""
    locked = QualificationSet.objects.select_for_update().get(pk=qset.pk)
    if locked.withdrawn_at is not None:
        raise DomainError(_("This set was withdrawn."), field="set")
    if locked.required_from is not None:
        raise DomainError(_("This set is required already."), field="set")
    project = qset.project
    version = version or Project.objects.values_list("guideline_version", flat=True).get(
        pk=project.pk
    )
    reason = _text(reason, "reason", required=False) or default_reason(
        project=project, version=version
    )
    QualificationSet.objects.filter(pk=qset.pk).update(required_from=version, reason=reason)
    qset.refresh_from_db()
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.QUALIFICATION_REQUIRED,
        obj=qset,
        project=project,
        now=now,
        data={"version": version, "reason": reason},
    )
    return qset


@transaction.atomic
def qualification_withdraw(
    *, qset: QualificationSet, actor: User, now: datetime
) -> QualificationSet:
    """Stop requiring a set (audited); the set required before it, if any, applies again."""
    if not QualificationSet.objects.filter(pk=qset.pk, withdrawn_at__isnull=True).update(
        withdrawn_at=now
    ):
        raise DomainError(_("This set was withdrawn already."), field="set")
    qset.refresh_from_db()
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.QUALIFICATION_WITHDRAWN,
        obj=qset,
        project=qset.project,
        now=now,
        data={"name": qset.name},
    )
    return qset


def required_set(*, project: Project) -> QualificationSet | None:
    """The set annotators of the project must have passed: the newest required."""
    return (
        QualificationSet.objects.filter(
            project=project, required_from__isnull=False, withdrawn_at__isnull=True
        )
        .order_by("-required_from", "-id")
        .first()
    )


# --- a rater's attempts ------------------------------------------------------------------


def _covered(qset: QualificationSet, annotator_id: int) -> bool:
    """Whether the rater passed this set, or one required from the same or a later
    guideline version (withdrawing the newest set then asks nothing of those who passed
    it)."""
    return QualificationAttempt.objects.filter(
        annotator_id=annotator_id,
        passed=True,
        set__project_id=qset.project_id,
        set__required_from__gte=qset.required_from or 0,
    ).exists()


def _due_for(qset: QualificationSet, annotator_id: int) -> Due | None:
    if _covered(qset, annotator_id):
        return None
    tries = list(QualificationAttempt.objects.filter(set=qset, annotator_id=annotator_id))
    granted = QualificationGrant.objects.filter(set=qset, annotator_id=annotator_id).count()
    return Due(
        set=qset,
        used=sum(1 for attempt in tries if attempt.finished_at is not None),
        allowed=qset.attempts + granted,
        open=next((attempt for attempt in tries if attempt.finished_at is None), None),
    )


def qualification_due(*, project: Project, annotator: User) -> Due | None:
    """What the annotator must pass before ordinary items, or None."""
    qset = required_set(project=project)
    return None if qset is None else _due_for(qset, annotator.pk)


def attempt_start(
    *, project: Project, annotator: User, now: datetime, rng: random.Random | None = None
) -> QualificationAttempt:
    """Begin an attempt at the required set (or return the one open): every item once,
    in a random order, each with its responses in a random order."""
    due = qualification_due(project=project, annotator=annotator)
    if due is None:
        raise DomainError(_("You have no qualification to take here."), field="qualification")
    if due.open is not None:
        return due.open
    if due.exhausted:
        raise DomainError(attempts_used_message(due), field="qualification")
    rng = rng or random.Random()
    items = list(due.set.items.values_list("id", "prompt_id"))
    responses: dict[int, list[int]] = {}
    for prompt_id, rid in Response.objects.filter(
        prompt_id__in=[prompt for _item, prompt in items]
    ).values_list("prompt_id", "id"):
        responses.setdefault(prompt_id, []).append(rid)
    order = []
    for item_id, prompt_id in rng.sample(items, len(items)):
        shown = sorted(responses[prompt_id])
        rng.shuffle(shown)
        order.append({"item": item_id, "order": shown})
    try:
        with transaction.atomic():
            return QualificationAttempt.objects.create(
                set=due.set,
                annotator=annotator,
                number=due.used + 1,
                item_order=order,
                started_at=now,
            )
    except IntegrityError:  # two tabs starting at once: the other one's attempt stands
        return QualificationAttempt.objects.get(
            set=due.set, annotator=annotator, finished_at__isnull=True
        )


def attempts_used_message(due: Due) -> str:
    return _(
        "You have used your %(n)d attempts at this qualification. An admin or reviewer of "
        "the project can give you another."
    ) % {"n": due.allowed}


@dataclass(frozen=True)
class Current:
    """The item an attempt asks next, as the rater sees it."""

    item: QualificationItem
    order: list[int]
    number: int  # 1-based
    count: int


def attempt_current(attempt: QualificationAttempt) -> Current | None:
    """The next unanswered item of an open attempt (None once all are answered)."""
    if attempt.finished_at is not None:
        return None
    answered = set(attempt.answers.values_list("item_id", flat=True))
    for index, entry in enumerate(attempt.item_order):
        if entry["item"] not in answered:
            item = QualificationItem.objects.select_related("prompt").get(pk=entry["item"])
            return Current(
                item=item, order=entry["order"], number=index + 1, count=len(attempt.item_order)
            )
    return None


def item_shown(current: Current) -> dict:
    """What the rater sees of a qualification item: the prompt and its responses by
    letter, nothing that names the prompt."""
    texts = dict(
        Response.objects.filter(prompt_id=current.item.prompt_id).values_list("id", "text")
    )
    return {
        "number": current.number,
        "count": current.count,
        "kind": current.item.prompt.kind,
        "prompt": current.item.prompt.content,
        "responses": [
            {"id": letter, "label": letter, "text": texts[rid]}
            for rid, letter in letters(current.order).items()
        ],
    }


def _response_ids(prompt_id: int) -> dict[str, int]:
    return dict(Response.objects.filter(prompt_id=prompt_id).values_list("external_id", "id"))


def _expert_ranking(prompt: Prompt, ids: dict[str, int]) -> list[list[int]]:
    """The prompt's gold ranking (by external id) by response id."""
    return [sorted(ids[ext] for ext in group) for group in prompt.gold or []]


class AnsweredAlready(DomainError):
    """The item named was answered already (another tab, a second press): nothing is
    recorded against the item that follows, which the rater has not seen."""


def answer_submit(
    *, attempt: QualificationAttempt, number: int, ranking: object, now: datetime
) -> QualificationAnswer:
    """Record the rater's ranking (by the letters they saw) of item `number` (1-based) of
    the attempt, which must be the one it asks now; the last answer scores the attempt
    (audited)."""
    with transaction.atomic():
        locked = QualificationAttempt.objects.select_for_update().get(pk=attempt.pk)
        current = attempt_current(locked)
        if current is None:
            raise AnsweredAlready(_("This attempt is finished."), field="item")
        if number != current.number:
            raise AnsweredAlready(
                _("Item %(n)d was answered already, perhaps in another tab: item %(next)d is next.")
                % {"n": number, "next": current.number},
                field="item",
            )
        project = current.item.set.project
        groups = ranking_check(
            ranking, known=set(current.order), allow_ties=project.allow_ties, shown=current.order
        )
        expert = _expert_ranking(current.item.prompt, _response_ids(current.item.prompt_id))
        hits, pairs = st.pairs_alike(groups, expert, sorted(current.order))
        answer = QualificationAnswer.objects.create(
            attempt=locked,
            item=current.item,
            display_order=current.order,
            ranking=groups,
            hits=hits,
            pairs=pairs,
            created_at=now,
        )
        if current.number == current.count:
            _finish(locked, project, now)
    attempt.refresh_from_db()
    return answer


def _finish(attempt: QualificationAttempt, project: Project, now: datetime) -> None:
    hits = pairs = 0
    for answer_hits, answer_pairs in attempt.answers.values_list("hits", "pairs"):
        hits += answer_hits
        pairs += answer_pairs
    share = hits / pairs  # every item has two responses or more (qualification_set_create)
    passed = share >= attempt.set.threshold
    score = round(share, 4)
    QualificationAttempt.objects.filter(pk=attempt.pk).update(
        finished_at=now, score=score, passed=passed
    )
    audit_record(
        actor=attempt.annotator,
        verb=AuditEvent.Verb.QUALIFICATION_FINISHED,
        obj=attempt,
        project=project,
        now=now,
        data={"set": attempt.set_id, "number": attempt.number, "score": score, "passed": passed},
    )


def answer_feedback(answer: QualificationAnswer) -> dict:
    """What the rater is shown after an answer: the expert's ranking and theirs by the
    letters they saw, the pairs they ordered otherwise, and the explanation; after the
    last item, the attempt's result too."""
    item = answer.item
    order = answer.display_order
    letter = letters(order)
    rows = list(
        Response.objects.filter(prompt_id=item.prompt_id).values_list("id", "external_id", "text")
    )
    texts = {rid: text for rid, _ext, text in rows}
    expert = _expert_ranking(item.prompt, {ext: rid for rid, ext, _text in rows})

    def shown(groups: list[list[int]]) -> list[list[str]]:
        return [sorted(letter[rid] for rid in group) for group in groups]

    # Pairs in the letters' order, as the rater reads them: (A, B), (A, C), ...
    verdicts = st.rank_verdicts(st.ranks_from_groups([answer.ranking, expert], order))
    firsts, seconds = np.triu_indices(len(order), k=1)
    differ = [
        {
            "pair": [letter[order[a]], letter[order[b]]],
            "yours": _verdict_word(int(mine)),
            "expert": _verdict_word(int(theirs)),
        }
        for a, b, mine, theirs in zip(firsts, seconds, verdicts[0], verdicts[1], strict=True)
        if mine != theirs
    ]
    place = {
        name: {rid: index + 1 for index, group in enumerate(groups) for rid in group}
        for name, groups in (("yours", answer.ranking), ("expert", expert))
    }
    responses = [
        {
            "letter": letter[rid],
            "text": texts[rid],
            "your_rank": place["yours"][rid],
            "expert_rank": place["expert"][rid],
        }
        for rid in order
    ]
    attempt = answer.attempt
    number = next(
        index + 1 for index, entry in enumerate(attempt.item_order) if entry["item"] == item.pk
    )
    return {
        "number": number,
        "count": len(attempt.item_order),
        "yours": shown(answer.ranking),
        "expert": shown(expert),
        "differ": differ,
        "pairs": answer.pairs,
        "hits": answer.hits,
        "explanation": item.explanation,
        "responses": responses,
        "finished": attempt.finished_at is not None,
        "score": attempt.score,
        "passed": attempt.passed if attempt.finished_at is not None else None,
        "threshold": attempt.set.threshold,
    }


def _verdict_word(sign: int) -> str:
    return {1: "above", -1: "below", 0: "tied"}[sign]


# --- grants and results -------------------------------------------------------------------


@transaction.atomic
def qualification_grant(
    *, qset: QualificationSet, annotator_id: int, actor: User, note: str, now: datetime
) -> QualificationGrant:
    """One more attempt at the required set for a rater of the project who used theirs,
    with a note (audited)."""
    if actor.pk == annotator_id:
        raise DomainError(_("Someone else must give you another attempt."), field="annotator")
    note = _text(note, "note", limit=2000)
    # The set's row lock: two reviewers granting at once give one attempt, not two.
    qset = QualificationSet.objects.select_for_update().get(pk=qset.pk)
    current = required_set(project=qset.project)
    if current is None or current.pk != qset.pk:
        raise DomainError(_("This set is no longer the one raters must pass."), field="set")
    if not Membership.objects.filter(
        project_id=qset.project_id, user_id=annotator_id, role=Membership.Role.ANNOTATOR
    ).exists():
        raise DomainError(_("No annotator of this project has that name."), field="annotator")
    due = _due_for(qset, annotator_id)
    if due is None:
        raise DomainError(_("This rater has passed this set."), field="annotator")
    if not due.exhausted:
        raise DomainError(_("This rater has an attempt left."), field="annotator")
    grant = QualificationGrant.objects.create(
        set=qset, annotator_id=annotator_id, granted_by=actor, note=note, granted_at=now
    )
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.QUALIFICATION_GRANTED,
        obj=grant,
        project=qset.project,
        now=now,
        data={"set": qset.pk, "annotator": annotator_id, "note": note},
    )
    return grant


def sets_shown(*, project: Project, only: int | None = None) -> list[dict]:
    """The project's sets (or the one with id `only`), newest first, with their items
    and how raters fared."""
    current = required_set(project=project)
    chosen = QualificationSet.objects.filter(project=project)
    if only is not None:
        chosen = chosen.filter(pk=only)
    sets = list(
        chosen.annotate(
            n_items=Count("items", distinct=True),
            n_passed=Count("tries__annotator", filter=Q(tries__passed=True), distinct=True),
            n_tried=Count("tries__annotator", distinct=True),
        )
    )
    items: dict[int, list[dict]] = {}
    for set_id, external_id, explanation in QualificationItem.objects.filter(
        set__in=[qset.pk for qset in sets]
    ).values_list("set_id", "prompt__external_id", "explanation"):
        items.setdefault(set_id, []).append({"prompt": external_id, "explanation": explanation})
    return [
        {
            "id": qset.pk,
            "name": qset.name,
            "threshold": qset.threshold,
            "attempts": qset.attempts,
            "required_from": qset.required_from,
            "reason": qset.reason,
            "withdrawn_at": qset.withdrawn_at,
            "created_at": qset.created_at,
            "status": "withdrawn"
            if qset.withdrawn_at
            else "required"
            if current is not None and qset.pk == current.pk
            else "superseded"
            if qset.required_from is not None
            else "draft",
            "n_items": qset.n_items,
            "raters_passed": qset.n_passed,
            "raters_tried": qset.n_tried,
            "items": items.get(qset.pk, []),
        }
        for qset in sets
    ]


def results_shown(*, project: Project, viewer: User, role: str | None) -> list[dict]:
    """Per set required and per annotator of the project: attempts used and allowed, the
    best score, whether they passed. Raters by username or pseudonym, as the viewer may
    see them (labelling.visibility)."""
    sets = list(
        QualificationSet.objects.filter(project=project, required_from__isnull=False).order_by(
            "-required_from", "-id"
        )
    )
    if not sets:
        return []
    current = required_set(project=project)
    annotators = list(
        Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).values_list(
            "user_id", flat=True
        )
    )
    tries: dict[tuple[int, int], list[QualificationAttempt]] = {}
    for attempt in QualificationAttempt.objects.filter(set__in=sets):
        tries.setdefault((attempt.set_id, attempt.annotator_id), []).append(attempt)
    grants: dict[tuple[int, int], int] = {}
    for set_id, annotator_id in QualificationGrant.objects.filter(set__in=sets).values_list(
        "set_id", "annotator_id"
    ):
        grants[(set_id, annotator_id)] = grants.get((set_id, annotator_id), 0) + 1
    people = sorted({*annotators, *(who for _set, who in tries)})
    names = annotator_names(project=project, viewer=viewer, role=role, user_ids=people)
    rows = []
    for qset in sets:
        for who in people:
            mine = tries.get((qset.pk, who), [])
            if not mine and (current is None or qset.pk != current.pk):
                continue  # an older set nobody of them took
            finished = [a for a in mine if a.finished_at is not None]
            allowed = qset.attempts + grants.get((qset.pk, who), 0)
            passed = any(a.passed for a in finished)
            open_ = any(a.finished_at is None for a in mine)
            status = _status(passed=passed, open_=open_, used=len(finished), allowed=allowed)
            rows.append(
                {
                    "set": qset.pk,
                    "set_name": qset.name,
                    "guideline_version": qset.required_from,
                    "annotator": names[who],
                    "annotator_id": who,
                    "attempts_used": len(finished),
                    "attempts_allowed": allowed,
                    "best_score": max(
                        (a.score for a in finished if a.score is not None), default=None
                    ),
                    "status": status,
                    "status_label": str(STATUS_LABELS[status]),
                    # Extra attempts are given at the set raters must pass now only.
                    "current": current is not None and qset.pk == current.pk,
                    "last_at": max((a.finished_at or a.started_at for a in mine), default=None),
                }
            )
    return rows


def mine_shown(*, project: Project, annotator: User) -> list[dict]:
    """The rater's own attempts in the project, newest first, for their own view."""
    return [
        {
            "set_name": attempt.set.name,
            "guideline_version": attempt.set.required_from,
            "number": attempt.number,
            "started_at": attempt.started_at,
            "finished_at": attempt.finished_at,
            "score": attempt.score,
            "passed": attempt.passed,
            "threshold": attempt.set.threshold,
        }
        for attempt in QualificationAttempt.objects.filter(
            set__project=project, annotator=annotator
        ).select_related("set")
    ]


def rater_state(*, project: Project, annotator: User) -> dict:
    """Where the rater stands with the project's qualification, for the API and the home
    page: nothing required, passed, due, in progress (with the item asked), or every
    attempt used."""
    qset, due, status = _standing(project, annotator)
    current = attempt_current(due.open) if due is not None and due.open is not None else None
    return {
        "status": status,
        "set_name": qset.name if qset else None,
        "reason": qset.reason if qset else None,
        "threshold": qset.threshold if qset else None,
        "items": qset.items.count() if qset else None,
        "attempts_used": due.used if due else None,
        "attempts_allowed": due.allowed if due else None,
        "item": item_shown(current) if current is not None else None,
        "history": mine_shown(project=project, annotator=annotator),
    }


def _standing(project: Project, annotator: User) -> tuple[QualificationSet | None, Due | None, str]:
    qset = required_set(project=project)
    if qset is None:
        return None, None, "none"
    due = _due_for(qset, annotator.pk)
    if due is None:
        return qset, None, "passed"
    status = _status(passed=False, open_=due.open is not None, used=due.used, allowed=due.allowed)
    return qset, due, _STANDING[status]


def standings(*, projects: list[Project], annotator: User) -> dict[int, str]:
    """_standing's status for many projects at once (the home page): one query when
    none requires a qualification, four when some do."""
    newest: dict[int, QualificationSet] = {}
    for qset in QualificationSet.objects.filter(
        project__in=projects, required_from__isnull=False, withdrawn_at__isnull=True
    ).order_by("project_id", "-required_from", "-id"):
        newest.setdefault(qset.project_id, qset)
    result = {p.pk: "none" for p in projects}
    if not newest:
        return result
    sets = {qset.pk: qset for qset in newest.values()}
    tries: dict[int, list[QualificationAttempt]] = {}
    for attempt in QualificationAttempt.objects.filter(set_id__in=sets, annotator=annotator):
        tries.setdefault(attempt.set_id, []).append(attempt)
    # Passing a set required from the same or a later version covers the newest (_covered).
    covered: dict[int, int] = {}
    for project_id, version in QualificationAttempt.objects.filter(
        annotator=annotator, passed=True, set__project__in=list(newest)
    ).values_list("set__project_id", "set__required_from"):
        covered[project_id] = max(covered.get(project_id, 0), version or 0)
    grants = dict(
        QualificationGrant.objects.filter(set_id__in=sets, annotator=annotator)
        .values_list("set_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for project_id, qset in newest.items():
        mine = tries.get(qset.pk, [])
        status = _status(
            passed=covered.get(project_id, 0) >= (qset.required_from or 0),
            open_=any(a.finished_at is None for a in mine),
            used=sum(1 for a in mine if a.finished_at is not None),
            allowed=qset.attempts + grants.get(qset.pk, 0),
        )
        result[project_id] = _STANDING[status]
    return result


def _status(*, passed: bool, open_: bool, used: int, allowed: int) -> str:
    """Where a rater stands with one set, as the results table says it (STATUS_LABELS)."""
    if passed:
        return "passed"
    if open_:
        return "in_progress"
    if used >= allowed:
        return "failed"
    return "retrying" if used else "not_started"


# The same, as the rater's own standing says it (rater_state, the home page).
_STANDING = {
    "passed": "passed",
    "in_progress": "in_progress",
    "failed": "attempts_used",
    "retrying": "due",
    "not_started": "due",
}
