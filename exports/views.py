"""The exports page of a project: past exports with their manifests, and a form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.http import AuthenticatedHttpRequest
from exports.filters import ExportInvalid
from exports.forms import ExportForm
from exports.selectors import EXPORTERS
from exports.services import export_create, export_enqueue, export_preview
from labelling.models import Project, Response
from labelling.selectors import project_get_for_member


def _form(project: Project, data: QueryDict | None = None) -> ExportForm:
    models = (
        Response.objects.filter(prompt__project=project)
        .order_by("model_name")
        .values_list("model_name", flat=True)
        .distinct()
    )
    versions = list(project.guidelines.order_by("version").values_list("version", flat=True))
    return ExportForm(data, versions=versions, models=list(models))


def _form_field(form: ExportForm, field: str) -> str | None:
    """The form field an error of the service is about ("filters.until" is "until",
    "margin.scale" is "margin_scale"), or None for the form as a whole."""
    name = field.removeprefix("filters.").replace(".", "_")
    return name if name in form.fields else None


@login_required
def exports_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_member(user=request.user, project_id=project_id, roles=EXPORTERS)
    form = _form(project)
    status = 200
    preview = None
    if request.method == "POST" and "preview" in request.POST:
        form = _form(project, request.POST)
        if form.is_valid():
            try:
                preview = export_preview(
                    project=project, format=form.cleaned_data["format"], filters=form.filters()
                )
            except ExportInvalid as invalid:
                for field, message in invalid.errors:
                    form.add_error(_form_field(form, field), message)
        status = 200 if preview is not None else 400
    elif request.method == "POST":
        form = _form(project, request.POST)
        if form.is_valid():
            try:
                export = export_create(
                    project=project,
                    user=request.user,
                    format=form.cleaned_data["format"],
                    file_format=form.cleaned_data["file_format"],
                    filters=form.filters(),
                    test_fraction=form.cleaned_data["test_fraction"],
                    now=timezone.now(),
                    **form.options(),
                )
            except ExportInvalid as invalid:
                for field, message in invalid.errors:
                    form.add_error(_form_field(form, field), message)
            except DomainError as refused:
                form.add_error(
                    refused.field if refused.field in form.fields else None, refused.message
                )
            else:
                export_enqueue(export)
                messages.success(
                    request,
                    _("Export %(id)s is queued; this page shows its progress.") % {"id": export.pk},
                )
                return redirect("exports", project_id=project.pk)
        status = 400
    page = Paginator(
        project.exports.select_related("created_by").order_by("-created_at", "-id"), 20
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "exports/exports.html",
        {"project": project, "form": form, "page": page, "preview": preview},
        status=status,
    )
