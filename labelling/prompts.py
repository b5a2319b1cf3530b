"""The prompt browser (issue 17, point 3): which prompts of a project match a search, in
what state each is, and retiring and restoring them.

A prompt's state, as the browser names it:

- **open**: it still wants annotations (fewer current, unrejected ones than its target);
- **complete**: it has as many as it wants;
- **in review**: its annotations disagree (agreement below the project's `review_below`)
  or flag a response, and no reviewer has closed it: the review queue's rule;
- **retired**: an admin took it out of labelling. A retired prompt leaves the queue, the
  review queue and every export, and is kept with its annotations: restoring it puts it
  back as it was. A rater who holds it when it is retired may still submit (their work
  is kept, as every annotation is); it is simply not served again.

Retired prompts are none of the other three.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext_lazy as _

from core.models import AuditEvent
from labelling.models import Annotation, Project, Prompt, Response
from labelling.review import review_wanted


class Status:
    OPEN = "open"
    COMPLETE = "complete"
    IN_REVIEW = "review"
    RETIRED = "retired"

    choices = [
        (OPEN, _("Open")),
        (COMPLETE, _("Complete")),
        (IN_REVIEW, _("In review")),
        (RETIRED, _("Retired")),
    ]


class Order:
    IMPORTED = "imported"
    NEWEST = "newest"
    AGREEMENT = "agreement"

    choices = [
        (IMPORTED, _("Import order")),
        (NEWEST, _("Newest first")),
        (AGREEMENT, _("Least agreement first")),
    ]


@dataclass(frozen=True)
class PromptFilters:
    text: str = ""  # in the prompt's text, its id, or one of its responses' ids
    metadata: tuple[str, str] | None = None  # key, value (compared as text)
    status: str = ""
    guideline_version: int | None = None  # has a current annotation under this version
    agreement_below: float | None = None
    gold: bool | None = None
    order: str = Order.IMPORTED


def _current_count() -> Subquery:
    counted = (
        Annotation.objects.filter(prompt=OuterRef("pk"), is_current=True, rejected=False)
        .order_by()
        .values("prompt")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(counted, output_field=IntegerField())


def _text_matches(text: str) -> Q:
    """The words of the prompt (never its JSON's keys or quotes), its id, or one of its
    responses' ids."""
    responses = Response.objects.filter(external_id__icontains=text).values("prompt_id")
    return Q(search_text__icontains=text) | Q(external_id__icontains=text) | Q(pk__in=responses)


def prompts_browse(*, project: Project, filters: PromptFilters) -> QuerySet[Prompt]:
    """The project's prompts that match, each with `n_annotations` (current, unrejected)."""
    # Any: the stubs cannot follow the annotations the filters below use.
    prompts: QuerySet[Any] = Prompt.objects.filter(project=project).annotate(
        n_annotations=Coalesce(_current_count(), 0),
        in_review=ExpressionWrapper(review_wanted(project), output_field=BooleanField()),
    )
    if filters.text:
        prompts = prompts.filter(_text_matches(filters.text))
    if filters.metadata is not None:
        key, value = filters.metadata
        prompts = prompts.annotate(
            meta_value=Cast(KeyTextTransform(key, "metadata"), TextField())
        ).filter(meta_value=value)
    prompts = _with_status(prompts, filters.status)
    if filters.guideline_version is not None:
        prompts = prompts.filter(
            pk__in=Annotation.objects.filter(
                project=project, is_current=True, guideline_version=filters.guideline_version
            ).values("prompt_id")
        )
    if filters.agreement_below is not None:
        prompts = prompts.filter(agreement__lt=filters.agreement_below)
    if filters.gold is not None:
        prompts = prompts.filter(gold__isnull=not filters.gold)
    return prompts.order_by(*_ORDERS[filters.order])


_ORDERS: dict[str, list[Any]] = {
    Order.IMPORTED: ["id"],
    Order.NEWEST: ["-id"],
    Order.AGREEMENT: [F("agreement").asc(nulls_last=True), "id"],
}


def _with_status(prompts: QuerySet[Any], status: str) -> QuerySet[Any]:
    if status == Status.RETIRED:
        return prompts.filter(retired=True)
    if not status:
        return prompts
    prompts = prompts.filter(retired=False)
    if status == Status.OPEN:
        return prompts.filter(n_annotations__lt=F("target"))
    if status == Status.COMPLETE:
        return prompts.filter(n_annotations__gte=F("target"))
    return prompts.filter(in_review=True)


def statuses(prompt: Prompt) -> list[str]:
    """The states a prompt of `prompts_browse` is in (open or complete, and in review)."""
    if prompt.retired:
        return [Status.RETIRED]
    counts = prompt.n_annotations  # type: ignore[attr-defined]
    found = [Status.COMPLETE if counts >= prompt.target else Status.OPEN]
    if prompt.in_review:  # type: ignore[attr-defined]
        found.append(Status.IN_REVIEW)
    return found


def prompt_browsed(*, project: Project, prompt_id: int) -> Prompt | None:
    """One prompt of the project as `prompts_browse` gives it (its counts and states)."""
    return prompts_browse(project=project, filters=PromptFilters()).filter(pk=prompt_id).first()


@transaction.atomic
def prompts_retire(
    *, project: Project, prompt_ids: Iterable[int], retired: bool, actor: User, now: datetime
) -> int:
    """Retire (or restore) these prompts of the project; those already so are left as
    they are. One audit event each. How many changed."""
    changing = list(
        Prompt.objects.select_for_update()
        .filter(project=project, pk__in=list(prompt_ids))
        .exclude(retired=retired)
        .order_by("id")
        .values_list("pk", "external_id")
    )
    if not changing:
        return 0
    Prompt.objects.filter(pk__in=[pk for pk, _eid in changing]).update(retired=retired)
    verb = AuditEvent.Verb.PROMPT_RETIRED if retired else AuditEvent.Verb.PROMPT_RESTORED
    AuditEvent.objects.bulk_create(
        AuditEvent(
            project=project,
            actor=actor,
            verb=verb,
            object_type="prompt",
            object_id=str(pk),
            data={"external_id": external_id},
            created_at=now,
        )
        for pk, external_id in changing
    )
    return len(changing)
