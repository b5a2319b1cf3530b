from django.contrib import admin

from labelling.admin import ReadOnlyAdmin
from ranking.models import PairwisePreference, RegisteredRewardModel, ScoringJob


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
