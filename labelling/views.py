"""Server-rendered pages of the labelling app: adapters over selectors and services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from labelling import selectors
from labelling.forms import ImportForm, MemberForm
from labelling.importing import ImportRejected, prompts_import
from labelling.models import Membership
from labelling.services import membership_set


@login_required
def home(request):
    projects = list(selectors.projects_for_user(user=request.user).order_by("name"))
    ids = [p.pk for p in projects]
    roles = selectors.roles_for_user(user=request.user, project_ids=ids)
    progress = selectors.project_progress(project_ids=ids)
    labels = dict(Membership.Role.choices)
    rows = [
        {"project": p, "role": labels.get(roles.get(p.pk)), "progress": progress.get(p.pk)}
        for p in projects
    ]
    return render(request, "labelling/home.html", {"rows": rows})


def _project_context(request, project, *, import_form=None, import_errors=None, member_form=None):
    role = selectors.role_for(user=request.user, project=project)
    is_admin = role == Membership.Role.ADMIN
    return {
        "project": project,
        "role": role,
        "role_label": dict(Membership.Role.choices).get(role, ""),
        "is_admin": is_admin,
        "progress": selectors.project_progress(project_ids=[project.pk])[project.pk],
        "guideline": project.guidelines.order_by("-version").first(),
        "members": (
            project.memberships.select_related("user").order_by("role", "user__username")
            if is_admin
            else None
        ),
        "recent_prompts": project.prompts.order_by("-id")[:10],
        "import_form": import_form or (ImportForm() if is_admin else None),
        "import_errors": import_errors,
        "member_form": member_form or (MemberForm() if is_admin else None),
    }


@login_required
def project_detail(request, project_id: int):
    project = selectors.project_get_for_member(user=request.user, project_id=project_id)
    return render(request, "labelling/project.html", _project_context(request, project))


@login_required
@require_POST
def project_import(request, project_id: int):
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=[Membership.Role.ADMIN]
    )
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _project_context(request, project, import_form=form)
        return render(request, "labelling/project.html", context, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = prompts_import(
            project=project,
            stream=upload.file,
            actor=request.user,
            now=timezone.now(),
            source=f"upload:{upload.name}",
        )
    except ImportRejected as rejected:
        context = _project_context(request, project, import_form=form, import_errors=rejected)
        return render(request, "labelling/project.html", context, status=400)
    messages.success(
        request,
        ngettext(
            "Imported %(created)d new prompt (%(unchanged)d already here, unchanged).",
            "Imported %(created)d new prompts (%(unchanged)d already here, unchanged).",
            result.created,
        )
        % {"created": result.created, "unchanged": result.unchanged},
    )
    return redirect("project", project_id=project.pk)


@login_required
@require_POST
def project_member_add(request, project_id: int):
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=[Membership.Role.ADMIN]
    )
    form = MemberForm(request.POST)
    if not form.is_valid():
        context = _project_context(request, project, member_form=form)
        return render(request, "labelling/project.html", context, status=400)
    change = membership_set(
        project=project,
        user=form.cleaned_data["user"],
        role=form.cleaned_data["role"],
        actor=request.user,
        now=timezone.now(),
    )
    name = form.cleaned_data["username"]
    role = change.membership.get_role_display()
    if change.created:
        text = _("%(name)s joined as %(role)s.") % {"name": name, "role": role}
    else:
        text = _("%(name)s is now %(role)s.") % {"name": name, "role": role}
    messages.success(request, text)
    return redirect("project", project_id=project.pk)
