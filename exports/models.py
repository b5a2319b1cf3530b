"""Export jobs (design §3, §5 and §6): an immutable snapshot of a project's
labels in one training format, built by a django-q2 task."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _


class Export(models.Model):
    class Format(models.TextChoices):
        PAIRWISE = "pairwise", _("Pairwise (one row per annotator and pair)")
        CONSENSUS = "consensus", _("Consensus (one row per pair of a prompt)")
        HH = "hh", _("HH-RLHF transcripts")
        ANNOTATIONS = "annotations", _("Annotations as recorded")

    class FileFormat(models.TextChoices):
        JSONL = "jsonl", _("JSON lines")
        PARQUET = "parquet", _("Parquet")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    project = models.ForeignKey(
        "labelling.Project", on_delete=models.CASCADE, related_name="exports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    format = models.CharField(_("format"), max_length=12, choices=Format.choices)
    file_format = models.CharField(_("file format"), max_length=8, choices=FileFormat.choices)
    # Normalised filters (exports.filters.ExportFilters.as_dict), and the test share.
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    test_fraction = models.FloatField(_("test fraction"), default=0.0)
    # How the rows are shaped for a trainer (exports.options.ExportOptions.as_dict):
    # flavour, and where asked for, conversational and margin.
    options = models.JSONField(_("options"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    progress_done = models.PositiveBigIntegerField(_("rows written"), default=0)
    progress_total = models.PositiveBigIntegerField(_("rows expected"), default=0)
    row_count = models.PositiveBigIntegerField(_("rows"), null=True, blank=True)
    sha256 = models.CharField(_("sha256"), max_length=64, blank=True)
    manifest = models.JSONField(_("manifest"), null=True, blank=True)
    # The finished file, relative to settings.EXPORTS_DIR, or absolute for a file the
    # export command wrote where it was told to.
    file = models.CharField(_("file"), max_length=500, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="exports_export_status_known",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["pairwise", "consensus", "hh", "annotations"]),
                name="exports_export_format_known",
            ),
            models.CheckConstraint(
                condition=Q(file_format__in=["jsonl", "parquet"]),
                name="exports_export_file_format_known",
            ),
            models.CheckConstraint(
                condition=Q(test_fraction__gte=0) & Q(test_fraction__lte=1),
                name="exports_export_test_fraction_0_to_1",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | (Q(row_count__isnull=False) & ~Q(sha256="")),
                name="exports_export_done_has_file_facts",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="exports_project_time")]

    def __str__(self) -> str:
        return f"{self.project} · {self.format}.{self.file_format} · {self.status}"

    @property
    def is_folder(self) -> bool:
        """A Hugging Face dataset folder (packed as a zip) rather than one file: when it
        has a test split, or a trainer needs a config file beside the rows."""
        return self.test_fraction > 0 or self.options.get("flavour") == "llamafactory"

    @property
    def filename(self) -> str:
        extension = "zip" if self.is_folder else self.file_format
        return f"{self.project_id}-{self.format}-{self.pk}.{extension}"

    @property
    def download_name(self) -> str:
        """What the file is called when downloaded: what it holds, in its name."""
        flavour = self.options.get("flavour", "trl")
        parts = [slugify(self.project.name)[:60] or "project", self.format]
        if flavour != "trl":
            parts.append(flavour)
        if self.is_folder:
            parts.append(f"{self.file_format}-dataset")
        parts.append(f"export-{self.pk}")
        return "-".join(parts) + ("." + ("zip" if self.is_folder else self.file_format))
