from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from core.errors import DomainError
from labelling.models import (
    Annotation,
    Assignment,
    GuidelineVersion,
    Membership,
    PairwisePreference,
    Project,
    Prompt,
    RegisteredRewardModel,
    Response,
    ScoringJob,
)
from labelling.prompts import prompts_retire
from labelling.services import project_changes_check, project_initialise, project_update


class MembershipInline(admin.TabularInline):
    """Shown, not changed: members are managed on the project's page, through the
    services that audit every change and keep the project an admin."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["user", "role", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProjectAdminForm(forms.ModelForm):
    """Changes to an existing project are checked by the domain's rule, as the API's and
    the pages' are (project_changes_check), and shown on the field they are about."""

    class Meta:
        model = Project
        fields = ["name", "description", *Project.SETTINGS_FIELDS, "reward_model", "queue_order"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        self.changes: dict[str, Any] = {}
        if self.instance.pk is not None:
            stored = Project.objects.get(pk=self.instance.pk)
            self.changes = {
                f: data[f] for f in self.changed_data if f in data and data[f] != getattr(stored, f)
            }
            try:
                project_changes_check(project=stored, changes=self.changes)
            except DomainError as refused:
                self.add_error(refused.field or None, refused.message)
        return data


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = [
        "name",
        "responses_per_prompt",
        "annotations_per_prompt",
        "allow_ties",
        "gold_rate",
        "created_at",
    ]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "created_by"]
    inlines = [MembershipInline]

    def save_model(
        self, request: HttpRequest, obj: Project, form: ProjectAdminForm, change: bool
    ) -> None:
        user = cast(User, request.user)  # signed in: the admin site lets only staff in
        if change:
            # Through the service, as every other door: checked again under the row's
            # lock, prompts' targets moved with k, and the change audited.
            if form.changes:
                project_update(project=obj, actor=user, now=timezone.now(), **form.changes)
            return
        # A new project gets guideline v1, its audit event and its creator as admin,
        # the same as one made through the API.
        obj.created_by = user
        obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)
        project_initialise(project=obj, created_by=user, now=obj.created_at)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Shown, not changed: members are managed on the project's page (audited, and a
    project always keeps an admin)."""

    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]
    list_select_related = ["user", "project"]


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    """Published versions are immutable: shown here, never edited or deleted."""

    list_display = ["project", "version", "change_summary", "published_at", "published_by"]
    list_filter = ["project"]
    list_select_related = ["project", "published_by"]
    search_fields = ["body", "change_summary"]

    def has_change_permission(
        self, request: HttpRequest, obj: GuidelineVersion | None = None
    ) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: GuidelineVersion | None = None
    ) -> bool:
        return False


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["position", "external_id", "model_name", "text", "metadata"]
    readonly_fields = cast(list[str], fields)  # the same names, all plain ones
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Prompt | None = None) -> bool:
        return False


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    """Prompts arrive by import; their content is evidence for the labels, so it is read-only."""

    list_display = ["external_id", "project", "kind", "is_gold", "retired", "created_at"]
    list_filter = ["project", "kind", "retired"]
    search_fields = ["external_id"]
    list_select_related = ["project"]
    readonly_fields = [
        "project",
        "external_id",
        "kind",
        "content",
        "metadata",
        "gold",
        "content_hash",
        "created_at",
    ]
    fields = [*readonly_fields[:3], "retired", *readonly_fields[3:]]
    inlines = [ResponseInline]
    show_full_result_count = False

    @admin.display(boolean=True, description=_("gold"))
    def is_gold(self, obj: Prompt) -> bool:
        return obj.gold is not None

    def save_model(self, request: HttpRequest, obj: Prompt, form: Any, change: bool) -> None:
        """Only `retired` may change here, through the service the prompt browser uses
        (audited)."""
        if "retired" in form.changed_data:
            prompts_retire(
                project=obj.project,
                prompt_ids=[obj.pk],
                retired=obj.retired,
                actor=cast(User, request.user),
                now=timezone.now(),
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["external_id", "prompt", "model_name", "position"]
    list_filter = ["model_name", "prompt__project"]
    search_fields = ["external_id", "prompt__external_id", "model_name"]
    list_select_related = ["prompt"]
    readonly_fields = ["prompt", "external_id", "model_name", "text", "metadata", "position"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Response | None = None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "prompt", "annotator", "status", "guideline_version", "leased_at"]
    list_filter = ["status", "project", "guideline_version"]
    search_fields = ["prompt__external_id", "annotator__username"]
    list_select_related = ["prompt", "annotator"]
    date_hierarchy = "leased_at"
    show_full_result_count = False


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "prompt",
        "annotator",
        "version",
        "is_current",
        "guideline_version",
        "seconds_spent",
        "created_at",
    ]
    list_filter = ["project", "guideline_version", "is_current"]
    search_fields = ["prompt__external_id", "annotator__username"]
    list_select_related = ["prompt", "annotator"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(PairwisePreference)
class PairwisePreferenceAdmin(ReadOnlyAdmin):
    """Derived from annotations: read-only here."""

    list_display = [
        "annotation",
        "prompt",
        "chosen",
        "rejected",
        "margin",
        "is_tie",
        "guideline_version",
    ]
    list_filter = ["is_tie", "guideline_version"]
    search_fields = ["prompt__external_id"]
    list_select_related = ["annotation", "prompt", "chosen", "rejected"]
    show_full_result_count = False


@admin.register(RegisteredRewardModel)
class RegisteredRewardModelAdmin(admin.ModelAdmin):
    """Staff decide which reward models projects may use, and where each comes from."""

    list_display = ["name", "source", "downloads_allowed", "created_at"]
    search_fields = ["name", "source"]


@admin.register(ScoringJob)
class ScoringJobAdmin(ReadOnlyAdmin):
    """Scoring runs, with what went wrong in full (project admins see a short message)."""

    list_display = ["project", "reward_model", "status", "progress_done", "progress_total"]
    list_filter = ["status"]
