"""Drafts (issue 17, point 6): a rater's labels are kept as they type, so that logging
out, a session that ends, a lease that runs out, a crash or a closed tab lose nothing.

The labelling page sends what is typed a moment after each change, and once more when
the tab is hidden or closed (static/js/draft.js); it also keeps a copy in the browser for
changes that could not be sent (a session that ended, no network), and sends it when the
page opens again. A draft is the form's values by letter (labelling.forms.form_values),
never checked: it is not a submission, only what was typed.

A draft counts while it is newer than the item's saved annotation: saving labels makes
every earlier draft of the item old, with nothing to delete. An item that can no longer
change (labelling.submission.assignment_locked) takes no draft.

A lease that ran out keeps its draft. The next time the rater asks for work in the
project (before anything new, the guideline gate included), the item is leased to them
again with a fresh expiry and reopens with it, if it can still be saved: its slot still
free, its prompt not retired, the guidelines unchanged since it was leased. Otherwise
the rater is told, once, that this draft could not be kept and why, and it is dropped.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.contrib import messages
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from core.errors import DomainError
from labelling.models import Annotation, Assignment, Draft, Project
from labelling.queue import slot_claim
from labelling.submission import assignment_locked

MAX_DRAFT_BYTES = 256 * 1024


def draft_save(
    *, assignment: Assignment, annotator: User, values: dict, based_on: int, now: datetime
) -> Draft:
    """Keep what the rater typed for this item of theirs, over the version of its saved
    labels their form showed (`based_on`, 0 for none)."""
    if assignment.annotator_id != annotator.pk:
        raise DomainError(_("This item is not yours."), field="assignment")
    current = assignment.annotations.filter(is_current=True).first()
    locked = assignment_locked(assignment=assignment, current=current)
    if locked is not None:
        raise DomainError(locked.message, field="assignment")
    if len(orjson.dumps(values)) > MAX_DRAFT_BYTES:
        raise DomainError(
            _("This draft is too long to keep (over %(n)d KB).") % {"n": MAX_DRAFT_BYTES // 1024},
            field="draft",
        )
    defaults = {"values": values, "based_on": based_on, "saved_at": now}
    try:
        with transaction.atomic():
            draft, _created = Draft.objects.update_or_create(
                assignment=assignment, defaults=defaults
            )
    except IntegrityError:  # two sends at once (a beacon and a fetch) both creating it
        Draft.objects.filter(assignment=assignment).update(**defaults)
        draft = Draft.objects.get(assignment=assignment)
    return draft


@dataclass(frozen=True)
class DraftFound:
    draft: Draft
    # Typed over a version other than the one saved now (a save from another tab came
    # between): shown as a conflict, not silently restored over that save.
    conflict: bool


def draft_for(*, assignment: Assignment, current: Annotation | None) -> DraftFound | None:
    """The item's draft, if it is newer than its saved labels (the caller checked that
    the item may still change)."""
    draft = Draft.objects.filter(assignment=assignment).first()
    if draft is None or (current is not None and draft.saved_at <= current.created_at):
        return None
    return DraftFound(draft=draft, conflict=draft.based_on != (current.version if current else 0))


@dataclass(frozen=True)
class Unfinished:
    """A lease that ran out with a draft: leased again to the rater (`resumed`), or, with
    `lost` saying why, dropped because it can no longer be saved."""

    assignment: Assignment
    resumed: bool
    lost: str = ""


def draft_unfinished(*, project: Project, annotator: User, now: datetime) -> Unfinished | None:
    """The rater's oldest item in the project whose lease ran out with a draft newer than
    anything they saved for it, leased to them again if it can still be saved; a draft
    that cannot is dropped (the caller says so, once). None while the rater holds
    another item (that one comes first) or has no such draft."""
    ran_out = Q(assignment__status=Assignment.Status.EXPIRED) | Q(
        assignment__status=Assignment.Status.LEASED, assignment__expires_at__lte=now
    )
    draft = (
        Draft.objects.filter(ran_out, assignment__project=project, assignment__annotator=annotator)
        .select_related("assignment__prompt")
        .order_by("saved_at")
        .first()
    )
    if draft is None:
        return None
    assignment = draft.assignment
    lost = _why_lost(assignment, project)
    if not lost:
        try:
            resumed = _lease_again(assignment, project, now)
        except IntegrityError:  # they hold another item: it comes first
            return None
        if resumed:
            assignment.refresh_from_db()
            return Unfinished(assignment=assignment, resumed=True)
        lost = str(_("others completed its prompt meanwhile"))
    draft.delete()
    return Unfinished(assignment=assignment, resumed=False, lost=lost)


def _why_lost(assignment: Assignment, project: Project) -> str:
    if assignment.prompt.retired:
        return str(_("its prompt was retired"))
    if assignment.guideline_version != project.guideline_version:
        return str(_("the guidelines have changed since"))
    return ""


@transaction.atomic
def _lease_again(assignment: Assignment, project: Project, now: datetime) -> bool:
    """The item leased to its rater afresh: its slot claimed again if the lease was
    reclaimed meanwhile (False if others took it). The lease's start stays as it was.
    Another request of theirs (a double click, a second tab) leasing it again first
    counts as leased: the item is theirs all the same."""
    expires = now + timedelta(minutes=project.lease_minutes)
    mine = Assignment.objects.filter(pk=assignment.pk)
    if mine.filter(status=Assignment.Status.LEASED).update(expires_at=expires):
        return True
    claimed = slot_claim(prompt_id=assignment.prompt_id, gold=assignment.prompt.gold is not None)
    if claimed and mine.filter(status=Assignment.Status.EXPIRED).update(
        status=Assignment.Status.LEASED, expires_at=expires, finished_at=None
    ):
        return True
    held = mine.filter(status=Assignment.Status.LEASED, expires_at__gt=now).exists()
    if claimed:
        transaction.set_rollback(True)  # a slot claimed for nothing goes back
    return held


def said_logged_out(
    sender: object, request: HttpRequest | None, user: User | None = None, **kwargs: object
) -> None:
    """The login page that follows a logout says so (the message outlives the session
    in the messages cookie), and a rater that what they typed is kept."""
    if request is None:
        return
    rates = (
        user is not None
        and Draft.objects.filter(
            assignment__annotator=user,
            assignment__status__in=[Assignment.Status.LEASED, Assignment.Status.EXPIRED],
        ).exists()
    )
    text = (
        _("You are logged out. What you typed and had not saved is kept.")
        if rates
        else _("You are logged out.")
    )
    # Silent where there are no messages (the test client's logout, a bare request).
    messages.info(request, text, fail_silently=True)
