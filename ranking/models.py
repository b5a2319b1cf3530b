"""Pairwise preferences derived from annotations (design §3).

Stored, one row per response pair of each current annotation, so exports and statistics
are queries rather than loops over JSON rankings.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PairwisePreference(models.Model):
    annotation = models.ForeignKey(
        "labelling.Annotation",
        on_delete=models.CASCADE,
        related_name="preferences",
        verbose_name=_("annotation"),
    )
    project = models.ForeignKey(
        "labelling.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    prompt = models.ForeignKey(
        "labelling.Prompt", on_delete=models.CASCADE, related_name="preferences"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # For a tie, `chosen` is the response with the lower id: the pair is unordered.
    chosen = models.ForeignKey("labelling.Response", on_delete=models.CASCADE, related_name="+")
    rejected = models.ForeignKey("labelling.Response", on_delete=models.CASCADE, related_name="+")
    margin = models.PositiveSmallIntegerField(
        _("margin"), help_text=_("How many rank groups apart the two responses were; 0 for a tie.")
    )
    is_tie = models.BooleanField(_("tie"))
    guideline_version = models.PositiveIntegerField(_("guideline version"))
    created_at = models.DateTimeField(_("created at"))
    # Copied from the annotation, so exports filter without a join: a reviewer rejected
    # it, or it flagged one of the two responses.
    annotation_rejected = models.BooleanField(
        _("annotation rejected"), default=False, db_default=False
    )
    flagged = models.BooleanField(_("flagged"), default=False, db_default=False)

    class Meta:
        verbose_name = _("pairwise preference")
        verbose_name_plural = _("pairwise preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "chosen", "rejected"], name="ranking_preference_one_per_pair"
            ),
            models.CheckConstraint(
                condition=~Q(chosen=F("rejected")), name="ranking_preference_two_responses"
            ),
            models.CheckConstraint(
                condition=Q(is_tie=True, margin=0) | Q(is_tie=False, margin__gte=1),
                name="ranking_preference_margin_matches_tie",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "guideline_version"], name="ranking_pref_project_version"
            ),
        ]

    def __str__(self) -> str:
        relation = "=" if self.is_tie else ">"
        return f"{self.chosen_id} {relation} {self.rejected_id} (margin {self.margin})"


class ProjectFigures(models.Model):
    """The dashboard's figures of a project, computed by a django-q2 job and cached here,
    so the page answers fast however big the project is."""

    class Status(models.TextChoices):
        IDLE = "idle", _("Up to date or never asked")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        FAILED = "failed", _("Failed")

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


class ResponseScore(models.Model):
    """A reward model's score of one response (issue 7): shown to reviewers and admins,
    never to annotators."""

    # No index of its own: the unique index below leads with the response and serves
    # the foreign key (one index fewer to write for every score).
    response = models.ForeignKey(
        "labelling.Response", on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    reward_model = models.CharField(_("reward model"), max_length=300)
    score = models.FloatField(_("score"))
    created_at = models.DateTimeField(_("scored at"))

    class Meta:
        verbose_name = _("response score")
        verbose_name_plural = _("response scores")
        constraints = [
            models.UniqueConstraint(
                fields=["response", "reward_model"], name="ranking_score_one_per_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.response_id}: {self.score:.3f} ({self.reward_model})"


class ScoringJob(models.Model):
    """One run of a project's reward model over its unscored responses."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    project = models.ForeignKey(
        "labelling.Project", on_delete=models.CASCADE, related_name="scoring_jobs"
    )
    reward_model = models.CharField(_("reward model"), max_length=300)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    progress_done = models.PositiveIntegerField(_("responses scored"), default=0)
    progress_total = models.PositiveIntegerField(_("responses to score"), default=0)
    # What the project's admins are told, and what only staff see (a loading error can
    # say whether a path exists on the server).
    error = models.TextField(_("error"), blank=True)
    error_detail = models.TextField(_("error, for staff"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scoring job")
        verbose_name_plural = _("scoring jobs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="ranking_scoring_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.reward_model} · {self.status}"


class RegisteredRewardModel(models.Model):
    """A reward model staff allow projects to use (issue 15): project admins pick one of
    these by name, and only its `source`, which staff wrote, ever reaches the loader."""

    name = models.CharField(
        _("name"), max_length=300, unique=True, help_text=_("What project admins choose.")
    )
    source = models.CharField(
        _("source"),
        max_length=500,
        help_text=_("An absolute local folder, or a Hugging Face model id."),
    )
    downloads_allowed = models.BooleanField(
        _("may be downloaded"),
        default=False,
        help_text=_(
            "For a model id: fetch it from the Hub. Needs REWARD_MODEL_DOWNLOADS=true on the "
            "server too; otherwise only files already on this machine are used."
        ),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)

    class Meta:
        verbose_name = _("registered reward model")
        verbose_name_plural = _("registered reward models")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.source.startswith("/")
