"""Continuous checks (issue 18, point 5): a rater whose recent work falls below the
project's thresholds is paused in that project until an admin or reviewer resumes them.

With the project's `pause_window` W above 0, every submission looks at the rater's last
W gold items and their last W items that others labelled too (since they were last
resumed, so a resumed rater starts afresh):

- gold accuracy (verdicts on response pairs that match the gold ranking) under the
  project's `gold_threshold`, or
- agreement with the leave-one-out consensus of the others (core.statistics) under its
  `consensus_threshold`

opens a pause (`RaterPause`, audited). A paused rater finishes the item they hold but is
given no new one (labelling.queue), and is told they are paused (not the figures: those
are judging settings, shown to watchers). The rules are the dashboard's (ranking.quality)
on a rolling window instead of all time: gold accuracy as it is, agreement by its
one-sided 95% upper bound, so an honest rater is not paused on a few unlucky items.
"""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core import statistics as st
from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import Annotation, Project, RaterPause, Response
from labelling.visibility import annotator_names, sees_usernames

MAX_NOTE = 2000
CONSENSUS_CONFIDENCE = 0.95  # as ranking.quality's low_consensus
# What the rater is told: that they are paused and what happens next, never the figure
# or the threshold (judging settings are hidden from annotators, and a gold figure that
# moved would tell them which item was gold). Watchers see the reason on the dashboard.
PAUSED = _lazy(
    "You are paused in %(project)s: the project's checks found your recent labels far from "
    "what it expects. An admin or reviewer will look at your work with you and resume you."
)


@dataclass(frozen=True)
class Window:
    figure: float
    items: int


def pause_message(*, pause: RaterPause) -> str:
    """What the paused rater is told."""
    return str(PAUSED) % {"project": pause.project.name}


def pause_open(*, project: Project, annotator_id: int) -> RaterPause | None:
    return RaterPause.objects.filter(
        project=project, annotator_id=annotator_id, resumed_at__isnull=True
    ).first()


def pause_check(*, project: Project, annotator: User, now: datetime) -> RaterPause | None:
    """After a submission: pause the rater if a window falls below its threshold.
    Returns the pause opened, if any."""
    window = project.pause_window
    if not window or pause_open(project=project, annotator_id=annotator.pk) is not None:
        return None
    resumed = (
        RaterPause.objects.filter(project=project, annotator=annotator, resumed_at__isnull=False)
        .order_by("-resumed_at")
        .values_list("resumed_at", flat=True)
        .first()
    )
    mine = Annotation.objects.filter(
        project=project, annotator=annotator, is_current=True, rejected=False
    )
    if resumed is not None:
        mine = mine.filter(created_at__gt=resumed)
    gold = _gold_window(mine, window)
    if gold is not None and gold.figure < project.gold_threshold:
        return _pause(
            project, annotator, RaterPause.Reason.LOW_GOLD, gold, project.gold_threshold, now
        )
    shared = _consensus_window(mine, annotator, window)
    if shared is not None and shared.figure < project.consensus_threshold:
        return _pause(
            project,
            annotator,
            RaterPause.Reason.LOW_CONSENSUS,
            shared,
            project.consensus_threshold,
            now,
        )
    return None


def _gold_window(mine: QuerySet[Annotation], window: int) -> Window | None:
    rows = list(
        mine.filter(prompt__gold__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("prompt_id", "ranking", "prompt__gold")[:window]
    )
    if len(rows) < window:
        return None
    ids: dict[int, dict[str, int]] = {}
    for prompt_id, external_id, pk in Response.objects.filter(
        prompt_id__in={row[0] for row in rows}
    ).values_list("prompt_id", "external_id", "id"):
        ids.setdefault(prompt_id, {})[external_id] = pk
    hits = pairs = 0
    for prompt_id, ranking, gold in rows:
        columns = sorted(ids[prompt_id].values())
        truth = [[ids[prompt_id][ext] for ext in group] for group in gold or []]
        alike, compared = st.pairs_alike(ranking, truth, columns)
        hits += alike
        pairs += compared
    return Window(figure=hits / pairs, items=len(rows))


def _consensus_window(mine: QuerySet[Annotation], annotator: User, window: int) -> Window | None:
    """The rater's last `window` items on which the others' consensus decides a pair."""
    others_of = Annotation.objects.filter(
        prompt_id=OuterRef("prompt_id"), is_current=True, rejected=False
    ).exclude(annotator=annotator)
    recent = list(
        mine.filter(prompt__gold__isnull=True)
        .filter(Exists(others_of))
        .order_by("-created_at", "-id")
        .values_list("prompt_id", "ranking")[: window * 2]
    )
    if len(recent) < window:
        return None
    others: dict[int, list] = {}
    for prompt_id, ranking in (
        Annotation.objects.filter(
            prompt_id__in={prompt for prompt, _ranking in recent}, is_current=True, rejected=False
        )
        .exclude(annotator=annotator)
        .values_list("prompt_id", "ranking")
    ):
        others.setdefault(prompt_id, []).append(ranking)
    agree: list[int] = []
    decided: list[int] = []
    for prompt_id, ranking in recent:
        theirs = others.get(prompt_id, [])
        if not theirs:
            continue
        columns = sorted(rid for group in ranking for rid in group)
        verdicts = st.rank_verdicts(st.ranks_from_groups([ranking, *theirs], columns))
        counts = st.consensus_counts(np.zeros(len(verdicts), dtype=np.int64), verdicts)
        if counts[1][0] == 0:
            continue
        agree.append(int(counts[0][0]))
        decided.append(int(counts[1][0]))
        if len(agree) == window:
            _share, upper = st.ratio_upper_bound(
                np.array(agree), np.array(decided), confidence=CONSENSUS_CONFIDENCE
            )
            return Window(figure=upper, items=window)
    return None


def _pause(
    project: Project,
    annotator: User,
    reason: str,
    window: Window,
    threshold: float,
    now: datetime,
) -> RaterPause | None:
    try:
        with transaction.atomic():
            pause = RaterPause.objects.create(
                project=project,
                annotator=annotator,
                reason=reason,
                figure=round(window.figure, 4),
                threshold=threshold,
                items=window.items,
                paused_at=now,
            )
    except IntegrityError:  # paused by a submission at the same moment
        return None
    audit_record(
        actor=None,
        verb=AuditEvent.Verb.RATER_PAUSED,
        obj=pause,
        project=project,
        now=now,
        data={
            "annotator": annotator.pk,
            "reason": reason,
            "figure": pause.figure,
            "threshold": threshold,
            "items": window.items,
        },
    )
    return pause


@transaction.atomic
def pause_resume(*, pause: RaterPause, actor: User, note: str, now: datetime) -> RaterPause:
    """Resume a paused rater, with a note saying why (audited). Their next windows count
    only what they label from now on."""
    if actor.pk == pause.annotator_id:
        raise DomainError(_("Someone else must resume you."), field="pause")
    note = (note or "").strip()
    if not note:
        raise DomainError(_("Say why the rater may go on."), field="note")
    if len(note) > MAX_NOTE:
        raise DomainError(_("At most %(n)d characters.") % {"n": MAX_NOTE}, field="note")
    resumed = RaterPause.objects.filter(pk=pause.pk, resumed_at__isnull=True).update(
        resumed_at=now, resumed_by=actor, note=note
    )
    if not resumed:
        raise DomainError(_("This rater was resumed already."), field="pause")
    pause.refresh_from_db()
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.RATER_RESUMED,
        obj=pause,
        project=pause.project,
        now=now,
        data={"annotator": pause.annotator_id, "note": note},
    )
    return pause


def pauses_shown(
    *,
    project: Project,
    viewer: User,
    role: str | None,
    pauses: list[RaterPause] | None = None,
) -> list[dict]:
    """The project's pauses (open first, newest first) as `viewer` sees them: raters by
    username or pseudonym (labelling.visibility)."""
    if pauses is None:
        pauses = list(
            RaterPause.objects.filter(project=project)
            .select_related("resumed_by")
            .order_by(F("resumed_at").desc(nulls_first=True), "-paused_at")[:200]
        )
    names = annotator_names(
        project=project, viewer=viewer, role=role, user_ids=[p.annotator_id for p in pauses]
    )
    named = sees_usernames(viewer=viewer, role=role)
    return [
        {
            "id": pause.pk,
            "annotator": names[pause.annotator_id],
            "reason": pause.reason,
            "reason_label": pause.get_reason_display(),
            "figure": pause.figure,
            "threshold": pause.threshold,
            "items": pause.items,
            "paused_at": pause.paused_at,
            "resumed_at": pause.resumed_at,
            "resumed_by": pause.resumed_by.get_username() if pause.resumed_by and named else None,
            "note": pause.note if named else "",
        }
        for pause in pauses
    ]
