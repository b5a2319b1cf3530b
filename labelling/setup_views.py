"""Setting a project up in the pages (issue 17, point 1): staff create projects (as in
the API), a project's admins edit its settings; both with the criteria builder."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Field
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.http import AuthenticatedHttpRequest
from labelling import selectors
from labelling.inputs import ascii_int
from labelling.models import Annotation, Project
from labelling.roles import ADMINS
from labelling.services import project_create, project_update
from labelling.setup_forms import (
    BaseCriteriaFormSet,
    CriterionForm,
    ProjectForm,
    criteria_formset,
)

ADD_ROW = "add-criterion"  # the builder's "add a criterion" without script: one more row


def _more_rows(request: AuthenticatedHttpRequest, criteria: BaseCriteriaFormSet) -> dict:
    """The posted rows with a blank one more (the builder's add button, without script)."""
    data = request.POST.copy()
    key = f"{criteria.prefix}-TOTAL_FORMS"
    rows = ascii_int(data.get(key) or "") or 0
    data[key] = str(rows + 1)
    # The new row as the builder shows a blank one (its fields' initial values), so it
    # counts as untouched: no "required" marks on a row just asked for.
    for name, field in CriterionForm.base_fields.items():
        if field.initial is not None:
            data[f"{criteria.prefix}-{rows}-{name}"] = str(field.initial)
    return data


def _as_typed(request: AuthenticatedHttpRequest, project: Project | None = None) -> ProjectForm:
    """The settings as typed, not yet checked: adding a criterion row is not a submit,
    so the page comes back without error marks on fields left to fill."""
    typed = ProjectForm(project=project).initial if project is not None else {}
    fields = ProjectForm.base_fields
    posted: dict[str, object] = {k: v for k, v in request.POST.items() if k in fields}
    posted["allow_ties"] = "allow_ties" in request.POST  # an unticked box is not sent
    return ProjectForm(project=project, initial={**typed, **posted})


def _default(name: str) -> object:
    field = Project._meta.get_field(name)
    assert isinstance(field, Field)
    return field.get_default()


def _refusal(form: ProjectForm, refused: DomainError) -> None:
    field = refused.field if refused.field in form.fields else None
    form.add_error(field, refused.message)


def _page(
    request: AuthenticatedHttpRequest,
    form: ProjectForm,
    criteria: BaseCriteriaFormSet,
    *,
    project: Project | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "criteria": criteria,
        "project": project,
        "has_errors": bool(form.errors or criteria.total_error_count()),
    }
    return render(request, "labelling/project_form.html", context, status=status)


@login_required
def project_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied(_("Only staff create projects."))
    if request.method != "POST":
        defaults = {f: _default(f) for f in ProjectForm.SETTINGS}
        return _page(request, ProjectForm(initial=defaults), criteria_formset())
    form = ProjectForm(request.POST)
    criteria = criteria_formset(request.POST)
    if ADD_ROW in request.POST:
        more = criteria_formset(_more_rows(request, criteria))
        return _page(request, _as_typed(request), more)
    if not (form.is_valid() and criteria.is_valid()):
        return _page(request, form, criteria, status=400)
    data = dict(form.cleaned_data)
    guideline = data.pop("guideline", "")
    try:
        project = project_create(
            name=data.pop("name"),
            created_by=request.user,
            now=timezone.now(),
            guideline_body=guideline,
            criteria=criteria.criteria(),
            **data,
        )
    except DomainError as refused:
        _refusal(form, refused)
        return _page(request, form, criteria, status=400)
    messages.success(request, _("Project created. Import its prompts below, then add its people."))
    return redirect("project", project_id=project.pk)


@login_required
def project_settings(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    frozen = Annotation.objects.filter(project=project).exists()
    if request.method != "POST":
        form = ProjectForm(project=project)
        return _page(
            request,
            form,
            criteria_formset(criteria=project.criteria, frozen=frozen),
            project=project,
        )
    form = ProjectForm(request.POST, project=project)
    criteria = criteria_formset(request.POST, criteria=project.criteria, frozen=frozen)
    if ADD_ROW in request.POST and not frozen:
        more = criteria_formset(_more_rows(request, criteria), criteria=project.criteria)
        return _page(request, _as_typed(request, project), more, project=project)
    if not (form.is_valid() and criteria.is_valid()):
        return _page(request, form, criteria, project=project, status=400)
    wanted = {"name": form.cleaned_data["name"], **{f: form.cleaned_data[f] for f in form.SETTINGS}}
    wanted["criteria"] = criteria.criteria()
    changes = {f: v for f, v in wanted.items() if v != getattr(project, f)}
    if not changes:
        messages.info(request, _("Nothing was changed."))
        return redirect("project", project_id=project.pk)
    try:
        project_update(project=project, actor=request.user, now=timezone.now(), **changes)
    except DomainError as refused:
        _refusal(form, refused)
        return _page(request, form, criteria, project=project, status=400)
    except ValidationError as invalid:  # the model's own checks (a name taken, say)
        for field, problems in invalid.message_dict.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        return _page(request, form, criteria, project=project, status=400)
    messages.success(request, _("Settings saved."))
    return redirect("project", project_id=project.pk)
