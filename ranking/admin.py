from django.contrib import admin

from ranking.models import PairwisePreference


@admin.register(PairwisePreference)
class PairwisePreferenceAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
