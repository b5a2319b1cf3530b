"""A rater's own record (issue 17, point 9): every item they labelled, in every project
they label in, with where it stands and what a reviewer said of it. Items are named as
the rater knows them (item-<assignment id>), never by the prompt's ids."""

from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from core.http import AuthenticatedHttpRequest
from labelling.models import Annotation, Membership, Project, Prompt
from labelling.submission import complete_prompts

PAGE_SIZE = 50

EDITABLE, COMPLETE, REJECTED = "editable", "complete", "rejected"
STATUS_LABELS = {
    EDITABLE: _("You may still edit it"),
    COMPLETE: _("Complete"),
    REJECTED: _("Rejected"),
}


class MineFilterForm(forms.Form):
    project = forms.TypedChoiceField(
        label=_("Project"), required=False, coerce=int, empty_value=None
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *STATUS_LABELS.items()],
    )

    def __init__(self, *args: Any, projects: list[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.TypedChoiceField, self.fields["project"])
        field.choices = [("", _("Every project")), *((p.pk, p.name) for p in projects)]


def annotations_of(*, user: User, projects: list[Project]) -> QuerySet[Any]:
    """The rater's current annotations in these projects, newest first, each with
    `complete` (its prompt has every annotation it wants). Any: the stubs cannot follow
    the annotation the filters use."""
    done = complete_prompts(Prompt.objects.filter(pk=OuterRef("prompt_id")))
    return (
        Annotation.objects.filter(annotator=user, is_current=True, project__in=projects)
        .annotate(complete=Exists(done))
        .select_related("project")
        .order_by("-created_at", "-id")
    )


def rejections_of(*, user: User, projects: list[Project], limit: int) -> list[Annotation]:
    """The rater's latest rejected annotations in these projects, newest first."""
    return list(
        Annotation.objects.filter(
            annotator=user, is_current=True, rejected=True, project__in=projects
        )
        .select_related("project")
        .order_by("-created_at", "-id")[:limit]
    )


def _with_status(annotations: QuerySet[Any], status: str) -> QuerySet[Any]:
    if status == REJECTED:
        return annotations.filter(rejected=True)
    if status == COMPLETE:
        return annotations.filter(rejected=False, complete=True)
    if status == EDITABLE:
        return annotations.filter(rejected=False, complete=False)
    return annotations


def status_of(annotation: Annotation) -> str:
    if annotation.rejected:
        return REJECTED
    return COMPLETE if annotation.complete else EDITABLE  # type: ignore[attr-defined]


def rated_projects(user: User) -> list[Project]:
    """The projects the user labels in."""
    return list(
        Project.objects.filter(
            memberships__user=user, memberships__role=Membership.Role.ANNOTATOR
        ).order_by("name")
    )


@login_required
def my_annotations_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    projects = rated_projects(request.user)
    form = MineFilterForm(request.GET or None, projects=projects)
    data = form.cleaned_data if form.is_valid() else {}
    chosen = [p for p in projects if p.pk == data.get("project")] or projects
    annotations = _with_status(
        annotations_of(user=request.user, projects=chosen), data.get("status") or ""
    )
    page = Paginator(annotations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    rows = [
        {"annotation": a, "status": status_of(a), "label": STATUS_LABELS[status_of(a)]}
        for a in page.object_list
    ]
    return render(
        request,
        "labelling/my_annotations.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "filtered": bool(data.get("project") or data.get("status")),
            "projects": projects,
        },
    )
