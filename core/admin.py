from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from core.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Labels are evidence: the admin shows them and never edits or deletes them."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "verb", "object_type", "object_id", "project"]
    list_filter = ["verb", "project"]
    search_fields = ["object_id", "actor__username"]
    list_select_related = ["actor", "project"]
    date_hierarchy = "created_at"
