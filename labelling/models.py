"""The domain core: projects, members, guidelines, prompts, responses, audit events.

Invariants about one row are database constraints with names, so they hold whoever
writes (a service, the admin, a shell) and a violation is a clear IntegrityError.
"""

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken

from core.jobs import CachedStatus
from labelling.criteria import criteria_validate
from labelling.rendering import plain_text

MIN_RESPONSES, MAX_RESPONSES = 2, 9
# The bounds of the numeric settings, for every door that takes them (API, pages).
SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "responses_per_prompt": (MIN_RESPONSES, MAX_RESPONSES),
    "annotations_per_prompt": (1, 50),
    "max_annotations_per_prompt": (0, 50),
    "agreement_lead": (1, 10),
    "gold_rate": (0, 1),
    "lease_minutes": (1, 24 * 60),
    "gold_threshold": (0, 1),
    "min_median_seconds": (0, 3600),
    "consensus_threshold": (0, 1),
    "review_below": (0, 1),
    "pause_window": (0, 200),
}


MIN_PAUSE_WINDOW = 3  # as the dashboard's flags: one or two bad items say little


def _new_pseudonym_key() -> str:
    return secrets.token_hex(32)


class Project(models.Model):
    # The viewer's role in the project, where a read asked for it with the project
    # (labelling.selectors.project_get_for_member); absent otherwise.
    member_role: str | None
    # The settings that decide how a project is labelled: shown, audited and edited together.
    SETTINGS_FIELDS = (
        "responses_per_prompt",
        "annotations_per_prompt",
        "max_annotations_per_prompt",
        "agreement_lead",
        "allow_ties",
        "criteria",
        "required_critiques",
        "gold_rate",
        "lease_minutes",
        "gold_threshold",
        "min_median_seconds",
        "consensus_threshold",
        "pause_window",
        "review_below",
    )

    class CritiqueRule(models.TextChoices):
        NONE = "none", _("Critiques are optional")
        ALL = "all", _("Every response needs a critique")
        WORST = "worst", _("The lowest-ranked responses need a critique")

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    responses_per_prompt = models.PositiveSmallIntegerField(_("responses per prompt"), default=4)
    annotations_per_prompt = models.PositiveSmallIntegerField(
        _("annotations per prompt"),
        default=3,
        help_text=_("Overlap k: how many annotators label each prompt."),
    )
    # Adaptive overlap (issue 18, point 7; labelling.overlap): with a maximum above k,
    # a prompt whose annotations have not settled at k asks for one more, up to the
    # maximum; unsettled there, it goes to review. 0: every prompt gets k, no more.
    max_annotations_per_prompt = models.PositiveSmallIntegerField(
        _("most annotations per prompt"),
        default=0,
        help_text=_("0: fixed overlap. Above k: more annotations where they disagree."),
    )
    agreement_lead = models.PositiveSmallIntegerField(
        _("agreement lead"),
        default=2,
        help_text=_(
            "Settled when, on every pair of responses, the verdict given most leads the next "
            "by this many annotations."
        ),
    )
    allow_ties = models.BooleanField(_("allow ties"), default=True)
    criteria = models.JSONField(
        _("rating criteria"),
        default=list,
        blank=True,
        validators=[criteria_validate],
        help_text=_('A list of {"key", "label", "scale": [low, high], "help"}.'),
    )
    required_critiques = models.CharField(
        _("required critiques"),
        max_length=10,
        choices=CritiqueRule.choices,
        default=CritiqueRule.NONE,
    )
    gold_rate = models.FloatField(
        _("gold rate"), default=0.0, help_text=_("Share of served items that are gold prompts.")
    )
    # The newest published guideline version, kept here so that every lease need not
    # look it up; written in the same transaction as the version it names.
    guideline_version = models.PositiveIntegerField(
        _("current guideline version"), default=1, editable=False
    )
    lease_minutes = models.PositiveSmallIntegerField(
        _("lease minutes"),
        default=30,
        help_text=_("How long an annotator holds an item before it returns to the pool."),
    )
    # Quality control (issue 5): when an annotator is flagged, and which prompts a
    # reviewer should look at.
    gold_threshold = models.FloatField(
        _("gold accuracy threshold"),
        default=0.7,
        help_text=_("Annotators whose accuracy on gold prompts is below this are flagged."),
    )
    min_median_seconds = models.PositiveIntegerField(
        _("plausible median seconds"),
        default=15,
        help_text=_("Annotators whose median time per item is below this are flagged."),
    )
    # Issue 18, point 4: flagged without gold when even the best the evidence allows
    # (the one-sided 95% upper bound) is under this (ranking.quality).
    consensus_threshold = models.FloatField(
        _("consensus agreement threshold"),
        default=0.6,
        help_text=_(
            "Annotators whose agreement with the others' consensus is surely below this "
            "are flagged."
        ),
    )
    # Issue 18, point 5 (labelling.pauses): over a rater's last this many gold items,
    # or items others labelled too, accuracy under gold_threshold or agreement under
    # consensus_threshold pauses them in the project. 0: never paused.
    pause_window = models.PositiveSmallIntegerField(
        _("pause window"),
        default=0,
        help_text=_(
            "Pause a rater whose last this many gold items, or items shared with others, "
            "fall below the thresholds. 0: never."
        ),
    )
    review_below = models.FloatField(
        _("review agreement threshold"),
        default=0.5,
        help_text=_("Prompts whose pairwise agreement is below this go to the review queue."),
    )

    class QueueOrder(models.TextChoices):
        COMPLETION = "completion", _("Nearest to completion first")
        UNCERTAINTY = "uncertainty", _("Where the reward model is least sure first")

    # Reward-model assistance (issue 7): a local folder or a Hugging Face model id.
    reward_model = models.CharField(
        _("reward model"),
        max_length=300,
        blank=True,
        help_text=_("A local folder or a Hugging Face model id with a one-output head."),
    )
    queue_order = models.CharField(
        _("queue order"),
        max_length=12,
        choices=QueueOrder.choices,
        default=QueueOrder.COMPLETION,
    )
    # Secret per project: exports name annotators by a keyed hash of their id, stable
    # within the project, unguessable from outside it, different across projects.
    pseudonym_key = models.CharField(
        _("pseudonym key"), max_length=64, default=_new_pseudonym_key, editable=False
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(responses_per_prompt__gte=MIN_RESPONSES)
                & Q(responses_per_prompt__lte=MAX_RESPONSES),
                name="labelling_project_responses_per_prompt_2_to_9",
            ),
            models.CheckConstraint(
                condition=Q(annotations_per_prompt__gte=1),
                name="labelling_project_annotations_per_prompt_positive",
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1),
                name="labelling_project_gold_rate_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1), name="labelling_project_lease_positive"
            ),
            models.CheckConstraint(
                condition=Q(queue_order__in=["completion", "uncertainty"]),
                name="labelling_project_queue_order_known",
            ),
            models.CheckConstraint(
                condition=Q(gold_threshold__gte=0) & Q(gold_threshold__lte=1),
                name="labelling_project_gold_threshold_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(max_annotations_per_prompt=0)
                | Q(max_annotations_per_prompt__gte=F("annotations_per_prompt")),
                name="labelling_project_max_annotations_at_least_k",
            ),
            models.CheckConstraint(
                condition=Q(consensus_threshold__gte=0) & Q(consensus_threshold__lte=1),
                name="labelling_project_consensus_threshold_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(review_below__gte=0) & Q(review_below__lte=1),
                name="labelling_project_review_below_0_to_1",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Every problem at once, each on its field: a field named here is left out of the
        # constraints' own check, whose message names the constraint, not the field.
        errors = {}
        if 0 < self.pause_window < MIN_PAUSE_WINDOW:
            errors["pause_window"] = _("Must be 0 (never) or at least %(n)d items.") % {
                "n": MIN_PAUSE_WINDOW
            }
        most = self.max_annotations_per_prompt
        if most and most < self.annotations_per_prompt:
            errors["max_annotations_per_prompt"] = _(
                "Must be 0 (fixed overlap) or at least the annotations per prompt (%(k)s)."
            ) % {"k": self.annotations_per_prompt}
        if errors:
            raise ValidationError(errors)

    @property
    def adaptive(self) -> bool:
        """Whether prompts may ask for more than k annotations (labelling.overlap)."""
        return self.max_annotations_per_prompt > self.annotations_per_prompt

    @property
    def extra_allowed(self) -> int:
        """How many annotations beyond its target a prompt may ask for."""
        return max(0, self.max_annotations_per_prompt - self.annotations_per_prompt)


class Membership(models.Model):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", _("Annotator")
        REVIEWER = "reviewer", _("Reviewer")
        ADMIN = "admin", _("Admin")
        ENGINEER = "engineer", _("Engineer")

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("project")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], name="labelling_membership_one_per_user"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["annotator", "reviewer", "admin", "engineer"]),
                name="labelling_membership_role_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.project}"


class GuidelineVersion(models.Model):
    """One published version of a project's guidelines: immutable once written."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="guidelines", verbose_name=_("project")
    )
    version = models.PositiveIntegerField(_("version"))
    body = models.TextField(_("body (markdown)"))
    change_summary = models.TextField(_("change summary"))
    published_at = models.DateTimeField(_("published at"))
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        verbose_name = _("guideline version")
        verbose_name_plural = _("guideline versions")
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="labelling_guideline_unique_version"
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="labelling_guideline_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.version}"


class GuidelineAcknowledgement(models.Model):
    """An annotator's record that they read a guideline version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guideline_acks"
    )
    version = models.PositiveIntegerField(_("version"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"))

    class Meta:
        verbose_name = _("guideline acknowledgement")
        verbose_name_plural = _("guideline acknowledgements")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user", "version"], name="labelling_ack_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} read v{self.version} of {self.project}"


class RelabelRequest(models.Model):
    """An admin's request for fresh annotations under the current guideline version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="relabels")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    guideline_version = models.PositiveIntegerField(_("for guideline version"))
    annotations_wanted = models.PositiveSmallIntegerField(_("fresh annotations per prompt"))
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    repeat_allowed = models.BooleanField(_("earlier annotators may label again"))
    prompts_raised = models.PositiveIntegerField(_("prompts raised"))
    # The prompts it raised, so that it can be cancelled (null: made before that was kept).
    prompt_ids = models.JSONField(_("prompts raised (ids)"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"))
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("re-labelling request")
        verbose_name_plural = _("re-labelling requests")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.project} v{self.guideline_version}: {self.prompts_raised} prompts"


class Prompt(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        CHAT = "chat", _("Chat")

    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="prompts",
        verbose_name=_("project"),
        # The unique (project, external_id) index starts with project_id and serves it.
        db_index=False,
    )
    external_id = models.CharField(_("external id"), max_length=200)
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices)
    # A string for a text prompt, a list of {"role", "content"} for a chat.
    content = models.JSONField(_("prompt"))
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    gold = models.JSONField(
        _("gold ranking"),
        null=True,
        blank=True,
        help_text=_("Groups of response external ids, best first."),
    )
    # sha256 over the canonical JSON of the whole imported item (prompt, responses,
    # metadata, gold): a re-import compares one value to tell "unchanged" from "changed".
    content_hash = models.CharField(_("content hash"), max_length=64)
    # The prompt's words alone (a chat's messages joined), for the prompt browser's
    # search: searching the JSON would match its keys and quotes.
    search_text = models.TextField(_("text searched"), blank=True, default="", db_default="")
    # A digest of those words, case and runs of white space aside (Prompt.words_key_of):
    # an import finds a prompt repeating one imported before by one indexed lookup.
    words_key = models.CharField(
        _("words digest"), max_length=32, blank=True, default="", db_default=""
    )
    retired = models.BooleanField(_("retired"), default=False)
    # Submitted annotations plus leases that still hold a slot. Claimed by a conditional
    # UPDATE (see services.assignment_lease_next), so it never passes the target.
    live_count = models.PositiveIntegerField(_("live annotations"), default=0, db_default=0)
    # How many live annotations the prompt wants: the project's k, raised by re-labelling
    # requests under newer guidelines (which may also open a new round in which earlier
    # annotators may label it again). Kept on the row so that the queue's index can hold
    # exactly the prompts that still want work.
    target = models.PositiveIntegerField(_("annotations wanted"), default=3)
    # Adaptive overlap (labelling.overlap): how many of the target's annotations were
    # asked for because the earlier ones disagreed, and whether the prompt reached the
    # project's maximum still unsettled (which sends it to review).
    extra_asked = models.PositiveSmallIntegerField(
        _("extra annotations asked for"), default=0, db_default=0
    )
    unsettled = models.BooleanField(_("unsettled at the maximum"), default=False, db_default=False)
    round = models.PositiveSmallIntegerField(_("labelling round"), default=0, db_default=0)
    repeat_allowed = models.BooleanField(
        _("earlier annotators may label it again"), default=False, db_default=False
    )
    # Review state, refreshed whenever one of its annotations is submitted, edited or
    # rejected (labelling.review.prompt_review_refresh): pairwise agreement of its current
    # annotations (None below two), whether any of them flags a response, and when a
    # reviewer last closed it (a later annotation reopens it).
    agreement = models.FloatField(_("pairwise agreement"), null=True, blank=True)
    # The reward model's score of the best response minus the second best: small means
    # the model cannot tell them apart (the uncertainty-first queue serves those first).
    score_gap = models.FloatField(_("reward-model score gap"), null=True, blank=True)
    flagged = models.BooleanField(_("flagged"), default=False, db_default=False)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("prompt")
        verbose_name_plural = _("prompts")
        ordering = ["project_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="labelling_prompt_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["text", "chat"]), name="labelling_prompt_kind_known"
            ),
        ]
        indexes = [
            # The queue's scan: prompts of a project that still want work, nearest to
            # completion first. Full prompts drop out of the index, so the scan never
            # walks past them however many there are.
            models.Index(
                "project",
                F("live_count").desc(),
                "id",
                condition=Q(retired=False, gold__isnull=True, live_count__lt=F("target")),
                name="labelling_prompt_queue",
            ),
            # The uncertainty-first queue: the same prompts, closest scores first.
            models.Index(
                "project",
                "score_gap",
                "id",
                condition=Q(retired=False, gold__isnull=True, live_count__lt=F("target")),
                name="labelling_prompt_uncertain",
            ),
            # An import's "the same prompt as one imported before" (labelling.importing).
            models.Index("project", "words_key", name="labelling_prompt_words"),
            # The review queue: open prompts of a project, least agreement first.
            models.Index(
                "project",
                "agreement",
                condition=Q(reviewed_at__isnull=True)
                & (Q(agreement__isnull=False) | Q(flagged=True) | Q(unsettled=True)),
                name="labelling_prompt_review",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_gold(self) -> bool:
        return self.gold is not None

    @staticmethod
    def words_of(content: object) -> str:
        """What `search_text` holds for this content: the text, or every message's."""
        if isinstance(content, list):
            return "\n".join(str(m.get("content", "")) for m in content if isinstance(m, dict))
        return str(content or "")

    @staticmethod
    def words_key_of(words: str) -> str:
        """What `words_key` holds for these words: sha256 of them with case and runs of
        white space aside, cut to 32 hex digits."""
        return hashlib.sha256(" ".join(words.casefold().split()).encode()).hexdigest()[:32]

    def preview(self, length: int = 80) -> str:
        if self.kind == self.Kind.CHAT:
            text = next(
                (m["content"] for m in reversed(self.content) if m.get("role") == "user"),
                self.content[-1]["content"] if self.content else "",
            )
        else:
            text = self.content
        return plain_text(text, length)


class Response(models.Model):
    prompt = models.ForeignKey(
        Prompt,
        on_delete=models.CASCADE,
        related_name="responses",
        verbose_name=_("prompt"),
        db_index=False,  # served by labelling_response_unique_external_id
    )
    external_id = models.CharField(_("external id"), max_length=200)
    model_name = models.CharField(_("model"), max_length=200)
    text = models.TextField(_("text"))
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    position = models.PositiveSmallIntegerField(_("position in the imported file"))

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["prompt_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "external_id"], name="labelling_response_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt.external_id}/{self.external_id}"


FLAGS = ("unsafe", "factual_error", "broken", "none_acceptable")


class Assignment(models.Model):
    """One annotator's lease on one prompt, with the display order fixed for them."""

    # Set by the queue on the lease it hands out (response id -> text), so the page need
    # not read the texts again; absent on an assignment read from the database.
    response_texts: dict[int, str]

    class Status(models.TextChoices):
        LEASED = "leased", _("Leased")
        SUBMITTED = "submitted", _("Submitted")
        SKIPPED = "skipped", _("Skipped")
        EXPIRED = "expired", _("Expired")
        # A reviewer rejected its annotation: the slot went back to the pool.
        REJECTED = "rejected", _("Rejected")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    # Response ids in the order this annotator sees them (A, B, C...): position bias is
    # real, so each assignment shuffles, and the order is kept for the statistics.
    display_order = models.JSONField(_("display order"))
    guideline_version = models.PositiveIntegerField(_("guideline version at lease"))
    leased_at = models.DateTimeField(_("leased at"))
    expires_at = models.DateTimeField(_("expires at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    skip_reason = models.TextField(_("skip reason"), blank=True)
    round = models.PositiveSmallIntegerField(_("labelling round"), default=0)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "annotator", "round"],
                name="labelling_assignment_one_per_annotator",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["leased", "submitted", "skipped", "expired", "rejected"]),
                name="labelling_assignment_status_known",
            ),
            # One item at a time: two `next` calls at once from one annotator (two tabs,
            # a retried request) can never both hold a lease in the project.
            models.UniqueConstraint(
                fields=["project", "annotator"],
                condition=Q(status="leased"),
                name="labelling_assignment_one_lease_per_annotator",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(status="leased"),
                name="labelling_assignment_leases",
            ),
            models.Index(
                fields=["annotator", "project", "status"], name="labelling_assignment_mine"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} · {self.prompt} · {self.status}"


class Annotation(models.Model):
    """One state of an annotator's labels for an assignment. Never changed in place:
    an edit adds a new version and marks the old one superseded."""

    # RESTRICT, not PROTECT: an assignment with labels cannot be deleted on its own, but
    # deleting its whole project (demo --reset, the admin) takes both.
    assignment = models.ForeignKey(
        Assignment, on_delete=models.RESTRICT, related_name="annotations"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    version = models.PositiveSmallIntegerField(_("edit number"), default=1)
    is_current = models.BooleanField(_("current"), default=True)
    # Groups of response ids, best first; a group of several is a tie.
    ranking = models.JSONField(_("ranking"))
    ratings = models.JSONField(_("ratings"), default=dict, blank=True)
    critiques = models.JSONField(_("critiques"), default=dict, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    flags = models.JSONField(_("flags"), default=dict, blank=True)
    guideline_version = models.PositiveIntegerField(_("guideline version"))
    display_order = models.JSONField(_("display order"))
    seconds_spent = models.PositiveIntegerField(_("seconds spent"))
    # Issue 18, point 9: the seconds the labelling page was visible and in use (input in
    # the last IDLE seconds, static/js/active.js), never more than seconds_spent; None
    # where no page measured it (a script through the API that did not send it).
    active_seconds = models.PositiveIntegerField(_("active seconds"), null=True, blank=True)
    payload_hash = models.CharField(_("payload hash"), max_length=64)
    created_at = models.DateTimeField(_("submitted at"))
    # A reviewer's rejection is a new version with the same labels and these set: the
    # labels stay readable in the history and leave statistics and exports.
    rejected = models.BooleanField(_("rejected"), default=False, db_default=False)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rejected by"),
    )
    rejection_reason = models.TextField(_("reason for rejection"), blank=True, db_default="")

    class Meta:
        verbose_name = _("annotation")
        verbose_name_plural = _("annotations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "version"], name="labelling_annotation_unique_version"
            ),
            models.UniqueConstraint(
                fields=["assignment"],
                condition=Q(is_current=True),
                name="labelling_annotation_one_current",
            ),
            models.CheckConstraint(
                condition=Q(rejected=False) | ~Q(rejection_reason=""),
                name="labelling_annotation_rejection_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "annotator", "created_at"], name="labelling_annotation_mine"
            ),
            # The newest annotation id of a project says whether cached figures are stale.
            models.Index(fields=["project", "id"], name="labelling_annotation_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} · {self.prompt} · v{self.version}"


class Adjudication(models.Model):
    """A reviewer's ranking of a prompt, standing above the annotators' where they
    disagree. A newer adjudication supersedes the older, which stays in the history."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="adjudications")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Groups of response ids, best first, as in an annotation.
    ranking = models.JSONField(_("ranking"))
    note = models.TextField(_("note"), blank=True)
    is_current = models.BooleanField(_("current"), default=True)
    created_at = models.DateTimeField(_("adjudicated at"))

    class Meta:
        verbose_name = _("adjudication")
        verbose_name_plural = _("adjudications")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt"],
                condition=Q(is_current=True),
                name="labelling_adjudication_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt} adjudicated by {self.reviewer}"


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's, with a name and when it was last used): the
    database holds its digest, never the token itself."""

    # knox's base class has no types, so these say theirs.
    name: "models.CharField[str, str]" = models.CharField(_("name"), max_length=100, blank=True)
    last_used_at: "models.DateTimeField[datetime | None, datetime | None]" = models.DateTimeField(
        _("last used"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} · {self.name or self.token_key}"


class PairwisePreference(models.Model):
    """The pairs an annotation's ranking states (design §3), derived as it is stored
    (labelling.preferences): one row per response pair of each current annotation, so
    exports and statistics are queries rather than loops over JSON rankings."""

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
        # Named when the model lived in the ranking app; the table keeps the name.
        db_table = "ranking_pairwisepreference"
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
        # Named when the model lived in the ranking app; the table keeps the name.
        db_table = "ranking_responsescore"
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
        # Named when the model lived in the ranking app; the table keeps the name.
        db_table = "ranking_scoringjob"
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
        # Named when the model lived in the ranking app; the table keeps the name.
        db_table = "ranking_registeredrewardmodel"
        verbose_name = _("registered reward model")
        verbose_name_plural = _("registered reward models")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.source.startswith("/")


class Draft(models.Model):
    """A rater's labels of an item as typed and not yet saved (labelling.drafts): the
    labelling form's values by letter, kept as they work so that nothing typed is lost."""

    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, primary_key=True, related_name="draft"
    )
    values = models.JSONField(_("values as typed"))
    # The version of the saved labels the form showed when this was typed (0: none): a
    # draft over a version saved elsewhere since is a conflict, not a restore.
    based_on = models.PositiveSmallIntegerField(_("typed over version"), default=0, db_default=0)
    saved_at = models.DateTimeField(_("saved at"))

    class Meta:
        verbose_name = _("draft")
        verbose_name_plural = _("drafts")

    def __str__(self) -> str:
        return f"draft of {self.assignment_id}"


class Invite(models.Model):
    """A one-time link for a new user to set their password (labelling.people). Only
    the token's digest is kept: the link is shown once, to the staff member who made it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites"
    )
    digest = models.CharField(_("token digest"), max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite for {self.user_id}"


class RaterPause(models.Model):
    """A rater paused in a project by the continuous checks (labelling.pauses), and
    resumed by an admin or reviewer with a note. Open while `resumed_at` is empty; the
    history stays."""

    class Reason(models.TextChoices):
        LOW_GOLD = "low_gold", _("gold accuracy below the project's threshold")
        LOW_CONSENSUS = "low_consensus", _("agreement with the others surely below the threshold")

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="pauses", verbose_name=_("project")
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("annotator"),
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    # The figure that paused them (for low_consensus, the one-sided 95% upper bound of the
    # agreement), the threshold and the items it rests on.
    figure = models.FloatField(_("figure"))
    threshold = models.FloatField(_("threshold"))
    items = models.PositiveSmallIntegerField(_("items"))
    paused_at = models.DateTimeField(_("paused at"))
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resumed by"),
    )
    note = models.TextField(_("note"), blank=True, default="")

    class Meta:
        verbose_name = _("rater pause")
        verbose_name_plural = _("rater pauses")
        ordering = ["-paused_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator"],
                condition=Q(resumed_at__isnull=True),
                name="labelling_raterpause_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} paused in {self.project_id}: {self.reason}"


class QualificationSet(models.Model):
    """Gold prompts with the expert's explanation of each, which a rater passes before
    ordinary items (labelling.qualification). Required from a guideline version on
    (`required_from`, empty while a draft); the newest set required is the one raters
    must pass, so publishing a version with a new set asks everyone to re-qualify."""

    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="qualification_sets",
        verbose_name=_("project"),
    )
    name = models.CharField(_("name"), max_length=200)
    threshold = models.FloatField(
        _("pass mark"),
        default=0.8,
        help_text=_("Share of response pairs ordered as the expert did, over the whole set."),
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=2)
    required_from = models.PositiveIntegerField(
        _("required from guideline version"), null=True, blank=True
    )
    reason = models.TextField(_("why raters are asked"), blank=True, default="")
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("qualification set")
        verbose_name_plural = _("qualification sets")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="labelling_qualificationset_name"
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1),
                name="labelling_qualificationset_threshold_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(attempts__gte=1), name="labelling_qualificationset_attempts"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QualificationItem(models.Model):
    """One gold prompt of a set, with what the rater reads after answering it."""

    set = models.ForeignKey(
        QualificationSet, on_delete=models.CASCADE, related_name="items", verbose_name=_("set")
    )
    prompt = models.ForeignKey(
        Prompt, on_delete=models.CASCADE, related_name="+", verbose_name=_("prompt")
    )
    explanation = models.TextField(_("explanation"))
    position = models.PositiveSmallIntegerField(_("position"))

    class Meta:
        verbose_name = _("qualification item")
        verbose_name_plural = _("qualification items")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["set", "prompt"], name="labelling_qualificationitem_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.set_id}/{self.prompt_id}"


class QualificationAttempt(models.Model):
    """One pass through a set by one rater, items in an order of its own. Open while
    `finished_at` is empty; `score` is the share of pairs ordered as the expert did."""

    set = models.ForeignKey(
        QualificationSet, on_delete=models.CASCADE, related_name="tries", verbose_name=_("set")
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("annotator"),
    )
    number = models.PositiveSmallIntegerField(_("attempt number"))
    item_order = models.JSONField(_("item order"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    score = models.FloatField(_("score"), null=True, blank=True)
    passed = models.BooleanField(_("passed"), default=False)

    class Meta:
        verbose_name = _("qualification attempt")
        verbose_name_plural = _("qualification attempts")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["set", "annotator", "number"], name="labelling_qualificationattempt_number"
            ),
            models.UniqueConstraint(
                fields=["set", "annotator"],
                condition=Q(finished_at__isnull=True),
                name="labelling_qualificationattempt_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on {self.set_id} #{self.number}"


class QualificationAnswer(models.Model):
    """A rater's ranking of one item in an attempt, by response ids, and the letters
    they saw (`display_order`)."""

    attempt = models.ForeignKey(
        QualificationAttempt,
        on_delete=models.CASCADE,
        related_name="answers",
        verbose_name=_("attempt"),
    )
    item = models.ForeignKey(
        QualificationItem, on_delete=models.CASCADE, related_name="+", verbose_name=_("item")
    )
    display_order = models.JSONField(_("display order"))
    ranking = models.JSONField(_("ranking"))
    hits = models.PositiveSmallIntegerField(_("pairs as the expert"))
    pairs = models.PositiveSmallIntegerField(_("pairs"))
    created_at = models.DateTimeField(_("answered at"))

    class Meta:
        verbose_name = _("qualification answer")
        verbose_name_plural = _("qualification answers")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "item"], name="labelling_qualificationanswer_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attempt_id}/{self.item_id}"


class QualificationGrant(models.Model):
    """One more attempt at a set for a rater who used theirs, given with a note."""

    set = models.ForeignKey(
        QualificationSet, on_delete=models.CASCADE, related_name="grants", verbose_name=_("set")
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("annotator"),
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("granted by"),
    )
    note = models.TextField(_("note"))
    granted_at = models.DateTimeField(_("granted at"))

    class Meta:
        verbose_name = _("extra qualification attempt")
        verbose_name_plural = _("extra qualification attempts")
        ordering = ["-granted_at"]

    def __str__(self) -> str:
        return f"{self.annotator_id} on {self.set_id}"


class NearDuplicateScan(models.Model):
    """The project's near-duplicate prompts (labelling.near_duplicates): found by a
    background job after every import that adds prompts, kept here until the next."""

    Status = CachedStatus

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="near_duplicates"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="idle")
    requested_at = models.DateTimeField(_("requested at"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    prompts = models.PositiveIntegerField(_("prompts compared"), default=0)
    # [{"a": external id, "b": external id, "similarity": Jaccard of word pairs}], most
    # alike first, at most MAX_PAIRS.
    pairs = models.JSONField(_("near-duplicate pairs"), default=list)
    pairs_total = models.PositiveIntegerField(_("pairs found"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Asked for again while a scan ran (an import landed): that scan may have read the
    # prompts before the new ones, so another follows it.
    again = models.BooleanField(_("asked for again"), default=False)

    class Meta:
        verbose_name = _("near-duplicate scan")
        verbose_name_plural = _("near-duplicate scans")

    def __str__(self) -> str:
        return f"{self.project_id} near-duplicates ({self.status})"
