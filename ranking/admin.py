from django.contrib import admin

from labelling.admin import ReadOnlyAdmin
from ranking.models import PairwisePreference


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
