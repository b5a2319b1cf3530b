"""The ranking app's own table: the dashboard's figures, cached (design §7)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.jobs import CachedStatus


class ProjectFigures(models.Model):
    """The dashboard's figures of a project, computed by a django-q2 job and cached here,
    so the page answers fast however big the project is."""

    Status = CachedStatus

    project = models.OneToOneField(
        "labelling.Project", on_delete=models.CASCADE, related_name="figures"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="idle")
    data = models.JSONField(_("figures"), null=True, blank=True)
    # The newest annotation id the figures include: a newer one means they are stale.
    newest_annotation = models.BigIntegerField(_("newest annotation included"), default=0)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    requested_at = models.DateTimeField(_("requested at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("project figures")
        verbose_name_plural = _("project figures")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["idle", "queued", "running", "failed"]),
                name="ranking_figures_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} figures ({self.status})"
