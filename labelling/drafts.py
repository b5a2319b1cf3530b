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
project, the item reopens with it if its slot is still free (saving it then claims the
slot again, as any late save does); if others completed the prompt meanwhile, the rater
is told that this draft could not be kept, once, and it is dropped.
"""

from dataclasses import dataclass
from datetime import datetime

import orjson
from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from core.errors import DomainError
from labelling.models import Annotation, Assignment, Draft, Project
from labelling.submission import assignment_locked

MAX_DRAFT_BYTES = 256 * 1024


def draft_save(*, assignment: Assignment, annotator: User, values: dict, now: datetime) -> Draft:
    """Keep what the rater typed for this item of theirs."""
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
    draft, _created = Draft.objects.update_or_create(
        assignment=assignment, defaults={"values": values, "saved_at": now}
    )
    return draft


def draft_for(*, assignment: Assignment, current: Annotation | None) -> Draft | None:
    """The item's draft, if it is newer than its saved labels and the item may change."""
    if assignment_locked(assignment=assignment, current=current) is not None:
        return None
    draft = Draft.objects.filter(assignment=assignment).first()
    if draft is None or (current is not None and draft.saved_at <= current.created_at):
        return None
    return draft


@dataclass(frozen=True)
class Unfinished:
    """A lease that ran out with a draft: `resumable` if its slot is still free."""

    assignment: Assignment
    draft: Draft
    resumable: bool


def draft_unfinished(*, project: Project, annotator: User, now: datetime) -> Unfinished | None:
    """The rater's oldest item in the project whose lease ran out with a draft newer than
    anything they saved for it; drafts of items that can no longer be saved are dropped
    as they are found (the caller says so once)."""
    ran_out = Q(assignment__status=Assignment.Status.EXPIRED) | Q(
        assignment__status=Assignment.Status.LEASED, assignment__expires_at__lte=now
    )
    draft = (
        Draft.objects.filter(
            ran_out,
            assignment__project=project,
            assignment__annotator=annotator,
        )
        .select_related("assignment__prompt")
        .order_by("saved_at")
        .first()
    )
    if draft is None:
        return None
    assignment = draft.assignment
    prompt = assignment.prompt
    held = assignment.status == Assignment.Status.LEASED  # not yet reclaimed: still its slot
    free = held or prompt.gold is not None or prompt.live_count < prompt.target
    if not free:
        draft.delete()
    return Unfinished(assignment=assignment, draft=draft, resumable=free)


def said_logged_out(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """The login page that follows a logout says so (the message outlives the session
    in the messages cookie), and that nothing typed was lost."""
    if request is not None:
        # Silent where there are no messages (the test client's logout, a bare request).
        messages.info(
            request,
            _("You are logged out. What you typed and had not saved is kept."),
            fail_silently=True,
        )
