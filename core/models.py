"""The shared core's one table: the audit trail every app writes to (core.audit)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """Who did what to which object, when. Written by services, never edited."""

    class Verb(models.TextChoices):
        PROJECT_CREATED = "project.created", _("project created")
        PROJECT_UPDATED = "project.updated", _("project updated")
        MEMBER_ADDED = "member.added", _("member added")
        MEMBER_ROLE_CHANGED = "member.role_changed", _("member role changed")
        GUIDELINE_PUBLISHED = "guideline.published", _("guideline published")
        PROMPTS_IMPORTED = "prompts.imported", _("prompts imported")
        USER_CREATED = "user.created", _("user created")
        USER_INVITED = "user.invited", _("user invited")
        INVITE_ACCEPTED = "user.invite_accepted", _("invitation accepted")
        USER_DEACTIVATED = "user.deactivated", _("user deactivated")
        USER_REACTIVATED = "user.reactivated", _("user reactivated")
        MEMBER_REMOVED = "member.removed", _("member removed")
        ANNOTATION_EDITED = "annotation.edited", _("annotation edited")
        ANNOTATION_REJECTED = "annotation.rejected", _("annotation rejected")
        PROMPT_ADJUDICATED = "prompt.adjudicated", _("ranking adjudicated")
        PROMPT_REVIEWED = "prompt.reviewed", _("prompt reviewed")
        RELABEL_REQUESTED = "relabel.requested", _("re-labelling requested")
        RELABEL_CANCELLED = "relabel.cancelled", _("re-labelling cancelled")
        PROMPT_RETIRED = "prompt.retired", _("prompt retired")
        PROMPT_RESTORED = "prompt.restored", _("prompt restored")
        EXPORT_MADE = "export.made", _("export made")
        TOKEN_CREATED = "token.created", _("API token created")
        TOKEN_REVOKED = "token.revoked", _("API token revoked")
        RATER_PAUSED = "rater.paused", _("rater paused")
        RATER_RESUMED = "rater.resumed", _("rater resumed")
        QUALIFICATION_CREATED = "qualification.created", _("qualification set created")
        QUALIFICATION_REQUIRED = "qualification.required", _("qualification required")
        QUALIFICATION_WITHDRAWN = "qualification.withdrawn", _("qualification withdrawn")
        QUALIFICATION_FINISHED = "qualification.finished", _("qualification attempt finished")
        QUALIFICATION_GRANTED = "qualification.granted", _("qualification attempt granted")

    project = models.ForeignKey(
        "labelling.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name=_("project"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    verb = models.CharField(_("what"), max_length=40, choices=Verb.choices)
    object_type = models.CharField(_("object type"), max_length=40)
    object_id = models.CharField(_("object id"), max_length=200)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        # The table keeps the name it had when the model lived in labelling.
        db_table = "labelling_auditevent"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="labelling_audit_project_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.verb} {self.object_type}"
