"""The prompt browser's pages (issue 17, point 3): search and filter a project's prompts,
open one with its annotations, retire and restore them. Annotators label blind and never
browse prompts (labelling.visibility); the rest of the project's members do, with raters
named as their role sees them; admins retire and restore."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.http import AuthenticatedHttpRequest
from labelling import selectors
from labelling.annotation_table import annotation_columns, response_letters
from labelling.forms import PromptFilterForm
from labelling.inputs import ascii_int
from labelling.models import Annotation, Membership, Project, Prompt, Response
from labelling.near_duplicates import near_duplicates_request, near_duplicates_shown
from labelling.prompts import (
    PromptFilters,
    Status,
    prompt_browsed,
    prompts_browse,
    prompts_retire,
    statuses,
)
from labelling.rendering import render_folded
from labelling.roles import ADMINS, REVIEWERS, WATCHERS
from labelling.views import response_whole
from labelling.visibility import annotator_names, sees_usernames

PAGE_SIZE = 50
STATUS_LABELS = dict(Status.choices)


def _watched_project(request: AuthenticatedHttpRequest, project_id: int) -> Project:
    return selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=WATCHERS
    )


def _statuses(prompt: Prompt) -> list[tuple[str, str]]:
    return [(s, str(STATUS_LABELS[s])) for s in statuses(prompt)]


@login_required
def prompts_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = _watched_project(request, project_id)
    role = selectors.role_for(user=request.user, project=project)
    form = PromptFilterForm(request.GET or None, versions=project.guideline_version)
    filters = form.filters() if form.is_bound else PromptFilters()
    page = Paginator(prompts_browse(project=project, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "labelling/prompts.html",
        {
            "project": project,
            "form": form,
            "page": page,
            "rows": [{"prompt": p, "statuses": _statuses(p)} for p in page.object_list],
            "query": query.urlencode(),
            "filtered": form.is_bound and any(v for k, v in request.GET.items() if k != "page"),
            "is_admin": request.user.is_staff or role == Membership.Role.ADMIN,
            "near": _near_duplicates(project),
        },
    )


def _near_duplicates(project: Project, shown: int = 50) -> dict:
    """The near-duplicate pairs the page lists (the first `shown`), each with the ids of
    its prompts' pages."""
    near = near_duplicates_shown(project=project)
    pairs = near["pairs"][:shown]
    ids = dict(
        Prompt.objects.filter(
            project=project, external_id__in={e for pair in pairs for e in (pair["a"], pair["b"])}
        ).values_list("external_id", "id")
    )
    near["shown"] = [
        {**pair, "a_id": ids.get(pair["a"]), "b_id": ids.get(pair["b"])} for pair in pairs
    ]
    return near


@login_required
@require_POST
def near_duplicates_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """Look for near-duplicate prompts again (admins)."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    near_duplicates_request(project=project, now=timezone.now())
    messages.info(request, _("Looking for near-duplicate prompts: this page shows them when done."))
    return redirect(reverse("prompts", args=[project.pk]) + "#near-duplicates")


def _back(project: Project, query: str) -> HttpResponseRedirect:
    """The browser as it was (its filters re-encoded, never a URL taken as given)."""
    kept = QueryDict(query).urlencode()
    return redirect(reverse("prompts", args=[project.pk]) + (f"?{kept}" if kept else ""))


@login_required
@require_POST
def prompts_retire_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    retire = request.POST.get("action") != "restore"
    ids = [pk for raw in request.POST.getlist("prompt") if (pk := ascii_int(raw)) is not None]
    back = request.POST.get("back", "")
    if not ids:
        messages.error(request, _("Tick the prompts to retire or restore first."))
        return _back(project, back)
    changed = prompts_retire(
        project=project, prompt_ids=ids, retired=retire, actor=request.user, now=timezone.now()
    )
    if retire:
        text = ngettext(
            "Retired %(n)d prompt: it leaves the queue and the exports, and is kept.",
            "Retired %(n)d prompts: they leave the queue and the exports, and are kept.",
            changed,
        )
    else:
        text = ngettext(
            "Restored %(n)d prompt to the queue and the exports.",
            "Restored %(n)d prompts to the queue and the exports.",
            changed,
        )
    messages.success(request, text % {"n": changed})
    if request.POST.get("from") == "prompt" and len(ids) == 1:
        return redirect("prompt", project_id=project.pk, prompt_id=ids[0])
    return _back(project, back)


def _prompt_of(project: Project, prompt_id: object) -> Prompt:
    pk = ascii_int(prompt_id)
    prompt = prompt_browsed(project=project, prompt_id=pk) if pk is not None else None
    if prompt is None:
        raise Http404
    return prompt


@login_required
def prompt_page(request: AuthenticatedHttpRequest, project_id: int, prompt_id: int) -> HttpResponse:
    project = _watched_project(request, project_id)
    role = selectors.role_for(user=request.user, project=project)
    prompt = _prompt_of(project, prompt_id)
    responses = list(Response.objects.filter(prompt=prompt).order_by("position"))
    letters = response_letters(responses)
    annotations = list(
        Annotation.objects.filter(prompt=prompt, is_current=True)
        .select_related("rejected_by")
        .order_by("created_at", "id")
    )
    names = annotator_names(
        project=project,
        viewer=request.user,
        role=role,
        user_ids=[a.annotator_id for a in annotations],
    )
    return render(
        request,
        "labelling/prompt.html",
        {
            "project": project,
            "prompt": prompt,
            "statuses": _statuses(prompt),
            "responses": [
                {"response": r, "letter": letters[r.pk], "html_left_out": render_folded(r.text)}
                for r in responses
            ],
            "columns": annotation_columns(
                project=project, annotations=annotations, letters=letters, names=names
            ),
            "sees_names": sees_usernames(viewer=request.user, role=role),
            "any_rejected": any(a.rejected for a in annotations),
            "is_admin": request.user.is_staff or role == Membership.Role.ADMIN,
            "can_review": request.user.is_staff or role in REVIEWERS,
        },
    )


@login_required
def prompt_response_page(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int, response_id: int
) -> HttpResponse:
    """One response of a browsed prompt, whole (the page folds long ones)."""
    project = _watched_project(request, project_id)
    prompt = _prompt_of(project, prompt_id)
    response = Response.objects.filter(prompt=prompt, pk=ascii_int(response_id) or 0).first()
    if response is None:
        raise Http404
    return response_whole(
        request,
        text=response.text,
        title=f"{prompt.external_id} · {response.external_id}",
        back=reverse("prompt", args=[project.pk, prompt.pk]),
    )
