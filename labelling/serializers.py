from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.criteria import criteria_errors
from labelling.guidelines import MAX_BODY
from labelling.models import (
    SETTING_BOUNDS,
    Annotation,
    GuidelineVersion,
    Membership,
    Project,
)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="What the token is for."
    )
    expires_in_days = serializers.IntegerField(
        required=False, min_value=1, max_value=365, help_text="Default: API_TOKEN_DAYS (90)."
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown this once: the server keeps only a digest.")
    name = serializers.CharField()
    expiry = serializers.DateTimeField()


class UserCreateSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = get_user_model()(username=attrs["username"], email=attrs["email"])
        try:
            validate_password(attrs["password"], user=user)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()


class CriteriaField(serializers.JSONField):
    def to_internal_value(
        self, data: dict[str, Any] | list[dict[str, Any]]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        value = super().to_internal_value(data)
        errors = criteria_errors(value)
        if errors:
            raise serializers.ValidationError([f"{field}: {message}" for field, message in errors])
        return value


class ProgressSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    complete = serializers.IntegerField()
    annotations = serializers.IntegerField()


def _bounded(
    kind: type[serializers.IntegerField] | type[serializers.FloatField], name: str
) -> serializers.Field:
    """A numeric setting, within its bounds (the model's, which the pages use too)."""
    low, high = SETTING_BOUNDS[name]
    return kind(min_value=low, max_value=high, required=False)


class ProjectSerializer(serializers.ModelSerializer):
    criteria = CriteriaField(required=False)
    responses_per_prompt = _bounded(serializers.IntegerField, "responses_per_prompt")
    annotations_per_prompt = _bounded(serializers.IntegerField, "annotations_per_prompt")
    max_annotations_per_prompt = _bounded(serializers.IntegerField, "max_annotations_per_prompt")
    agreement_lead = _bounded(serializers.IntegerField, "agreement_lead")
    gold_rate = _bounded(serializers.FloatField, "gold_rate")
    lease_minutes = _bounded(serializers.IntegerField, "lease_minutes")
    gold_threshold = _bounded(serializers.FloatField, "gold_threshold")
    min_median_seconds = _bounded(serializers.IntegerField, "min_median_seconds")
    consensus_threshold = _bounded(serializers.FloatField, "consensus_threshold")
    pause_window = _bounded(serializers.IntegerField, "pause_window")
    review_below = _bounded(serializers.FloatField, "review_below")
    reward_model = serializers.CharField(max_length=300, allow_blank=True, required=False)
    queue_order = serializers.ChoiceField(choices=Project.QueueOrder.choices, required=False)
    guideline = serializers.CharField(
        write_only=True,
        required=False,
        help_text="Markdown body of guideline version 1 (on create only).",
    )
    role = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            *Project.SETTINGS_FIELDS,
            "reward_model",
            "queue_order",
            "created_at",
            "guideline",
            "role",
            "progress",
        ]
        read_only_fields = ["id", "created_at"]

    def get_role(self, project: Project) -> str | None:
        return self.context.get("roles", {}).get(project.pk)

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, project: Project) -> dict | None:
        return self.context.get("progress", {}).get(project.pk)


class ProjectUpdateSerializer(ProjectSerializer):
    class Meta(ProjectSerializer.Meta):
        fields = [f for f in ProjectSerializer.Meta.fields if f != "guideline"]
        extra_kwargs = {"name": {"required": False}}


class MemberRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class GuidelineVersionSerializer(serializers.ModelSerializer):
    published_by = serializers.CharField(source="published_by.username", default=None)

    class Meta:
        model = GuidelineVersion
        fields = ["version", "body", "change_summary", "published_at", "published_by"]


class ImportWarningSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    field = serializers.CharField()
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    warnings = ImportWarningSerializer(
        many=True,
        help_text="What the import let through but reports: a prompt repeated in the file, "
        "responses of one prompt with the same text (the first 100).",
    )
    warnings_total = serializers.IntegerField()
    near_duplicates = serializers.CharField(
        allow_null=True,
        help_text="Where the near-duplicate prompts will be listed once the background "
        "check that this import started has run (null when no prompt was added).",
    )


class NearDuplicatePairSerializer(serializers.Serializer):
    a = serializers.CharField(help_text="A prompt's external id.")
    b = serializers.CharField()
    similarity = serializers.FloatField(
        help_text="Jaccard similarity of the two prompts' adjacent word pairs, case aside."
    )


class NearDuplicatesSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["idle", "queued", "running", "failed"])
    computed_at = serializers.DateTimeField(allow_null=True)
    prompts = serializers.IntegerField(help_text="Prompts compared.")
    pairs_total = serializers.IntegerField()
    pairs = NearDuplicatePairSerializer(many=True, help_text="Most alike first; at most 500.")
    error = serializers.CharField(allow_blank=True)


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A JSONL file, one prompt a line (README).")


class PromptShownSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="For annotators, the assignment's id.")
    external_id = serializers.CharField(
        help_text="For annotators, the item's name in this assignment (item-<assignment id>)."
    )
    prompt = serializers.JSONField(help_text="A string, or a chat: a list of {role, content}.")


class ResponseShownSerializer(serializers.Serializer):
    id = serializers.CharField(
        help_text=(
            "The response's letter in this assignment (A, B, C... in its display order): "
            "what a submission names it by."
        )
    )
    # The stub sees this field replacing Field.label (a serializer's own label); DRF's
    # metaclass takes declared fields off the class, so it does not.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="A, B, C... in this assignment's display order."
    )
    text = serializers.CharField()


class AssignmentSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    prompt = PromptShownSerializer()
    responses = ResponseShownSerializer(many=True)
    guideline_version = serializers.IntegerField()
    criteria = serializers.JSONField()
    allow_ties = serializers.BooleanField()
    required_critiques = serializers.CharField()
    expires_at = serializers.DateTimeField()


class SubmitRequestSerializer(serializers.Serializer):
    """Documentation of the body; labelling.submission checks it."""

    active_seconds = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text=(
            "The seconds the item was on screen and in use, as the client measured them "
            "(the labelling page counts visible time with input in the last 60 s). Stored "
            "beside the server's lease-to-submit time, never above it."
        ),
    )

    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=(
            "Groups of responses by the letters of the assignment (its responses' `id`), "
            "best first; a group of several is a tie."
        ),
    )
    ratings = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        required=False,
        help_text="Per response letter: {criterion: value}.",
    )
    critiques = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Per response letter."
    )
    comment = serializers.CharField(required=False, allow_blank=True)
    flags = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=(
            'Per response letter: unsafe, factual_error, broken; under "all": none_acceptable.'
        ),
    )


class AnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment_id = serializers.IntegerField()
    prompt_id = serializers.IntegerField()
    version = serializers.IntegerField()
    ranking = serializers.JSONField()
    ratings = serializers.JSONField()
    critiques = serializers.JSONField()
    comment = serializers.CharField()
    flags = serializers.JSONField()
    guideline_version = serializers.IntegerField()
    seconds_spent = serializers.IntegerField()
    active_seconds = serializers.IntegerField(allow_null=True, required=False)
    created_at = serializers.DateTimeField()
    ratings_against_ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        required=False,
        help_text=(
            "On a submission only: the pairs [ranked above, ranked below] whose mean ratings "
            "(each scale mapped onto 0-1) are the other way round. The labelling page asks "
            "the rater to confirm these before saving; the API saves and reports them."
        ),
    )


class PauseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField(help_text="A username (admins, reviewers) or a pseudonym.")
    reason = serializers.ChoiceField(choices=["low_gold", "low_consensus"])
    figure = serializers.FloatField(help_text="The gold accuracy or agreement that paused them.")
    threshold = serializers.FloatField()
    items = serializers.IntegerField(help_text="The items the figure rests on.")
    paused_at = serializers.DateTimeField()
    resumed_at = serializers.DateTimeField(allow_null=True)
    resumed_by = serializers.CharField(allow_null=True)
    note = serializers.CharField(allow_blank=True)


class PauseResumeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="Why the rater may go on.")


class SkipRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class GuidelinePublishSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=MAX_BODY)
    change_summary = serializers.CharField(max_length=2000)
    qualification_set = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="A draft qualification set every rater must pass before their next item, "
        "told the change summary as the reason.",
    )


class AcknowledgementSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    acknowledged_at = serializers.DateTimeField()


class RelabelRequestSerializer(serializers.Serializer):
    annotations_wanted = serializers.IntegerField(min_value=1, max_value=50, required=False)
    versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=False
    )
    metadata = serializers.DictField(required=False)
    prompt_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_empty=False, max_length=100_000
    )
    max_agreement = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="Only prompts whose pairwise agreement is this or less.",
    )
    repeat_allowed = serializers.BooleanField(required=False, default=False)
    dry_run = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Say what the request would do (prompts, their annotations, fresh ones "
        "asked for) and change nothing.",
    )


class RelabelPreviewSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=True)
    prompts = serializers.IntegerField(help_text="Prompts whose target would rise.")
    annotations = serializers.IntegerField(help_text="Their current annotations so far.")
    fresh = serializers.IntegerField(help_text="Fresh annotations asked for in all.")
    waiting = serializers.IntegerField(
        help_text="Of those prompts, how many still wait for annotations asked for before."
    )


class RelabelResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    guideline_version = serializers.IntegerField()
    annotations_wanted = serializers.IntegerField()
    prompts_raised = serializers.IntegerField()
    repeat_allowed = serializers.BooleanField()
    filters = serializers.JSONField()


class AnnotationListedSerializer(AnnotationSerializer):
    prompt_external_id = serializers.CharField(source="prompt.external_id")
    is_current = serializers.BooleanField()
    annotator = serializers.SerializerMethodField(
        help_text="A username for admins and reviewers, the pseudonym of exports for engineers."
    )

    def get_annotator(self, annotation: Annotation) -> str:
        return self.context["annotator_names"][annotation.annotator_id]


# --- qualification (labelling.qualification) ------------------------------------------------


class QualificationItemSpecSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=200, help_text="A gold prompt's external id.")
    explanation = serializers.CharField(
        max_length=5000, help_text="What the rater reads after answering it (markdown)."
    )


class QualificationSetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    threshold = serializers.FloatField(
        min_value=0,
        max_value=1,
        default=0.8,
        help_text="Pass mark: the share of response pairs ordered as the expert did.",
    )
    attempts = serializers.IntegerField(min_value=1, max_value=20, default=2)
    items = QualificationItemSpecSerializer(many=True, allow_empty=False)


class QualificationSetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    threshold = serializers.FloatField()
    attempts = serializers.IntegerField()
    required_from = serializers.IntegerField(
        allow_null=True, help_text="The guideline version it is required from; null: a draft."
    )
    reason = serializers.CharField(allow_blank=True, help_text="What raters are told.")
    status = serializers.ChoiceField(choices=["draft", "required", "superseded", "withdrawn"])
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    n_items = serializers.IntegerField()
    raters_passed = serializers.IntegerField()
    raters_tried = serializers.IntegerField()
    items = QualificationItemSpecSerializer(many=True)


class QualificationRequireSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, help_text="What raters are told."
    )


class QualificationResultSerializer(serializers.Serializer):
    set = serializers.IntegerField()
    set_name = serializers.CharField()
    guideline_version = serializers.IntegerField()
    annotator = serializers.CharField(help_text="A username (admins, reviewers) or a pseudonym.")
    attempts_used = serializers.IntegerField()
    attempts_allowed = serializers.IntegerField()
    best_score = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["passed", "in_progress", "failed", "retrying", "not_started"]
    )
    last_at = serializers.DateTimeField(allow_null=True)


class QualificationGrantSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="The rater's username.")
    note = serializers.CharField(max_length=2000, help_text="Why they may try again.")


class QualificationItemShownSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1-based, in this attempt's order.")
    count = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["text", "chat"])
    prompt = serializers.JSONField()
    responses = ResponseShownSerializer(many=True)


class QualificationMineSerializer(serializers.Serializer):
    set_name = serializers.CharField()
    guideline_version = serializers.IntegerField(allow_null=True)
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    passed = serializers.BooleanField()
    threshold = serializers.FloatField()


class QualificationStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["none", "passed", "due", "in_progress", "attempts_used"],
        help_text="none: the project requires no qualification; due: start an attempt.",
    )
    set_name = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text="Why the rater is asked.")
    threshold = serializers.FloatField(allow_null=True)
    items = serializers.IntegerField(allow_null=True)
    attempts_used = serializers.IntegerField(allow_null=True)
    attempts_allowed = serializers.IntegerField(allow_null=True)
    item = QualificationItemShownSerializer(allow_null=True)
    history = QualificationMineSerializer(many=True)


class QualificationAnswerSerializer(serializers.Serializer):
    item = serializers.IntegerField(
        min_value=1, help_text="The item's `number`, as `qualification` showed it."
    )
    ranking = serializers.JSONField(
        help_text="Groups of letters, best first, as in a submission: [['B'], ['A', 'C']]."
    )


class QualificationDifferSerializer(serializers.Serializer):
    pair = serializers.ListField(
        child=serializers.CharField(), help_text="Two letters: how each put the first."
    )
    yours = serializers.CharField(help_text="above, below or tied.")
    expert = serializers.CharField(help_text="above, below or tied.")


class QualificationResponseSerializer(serializers.Serializer):
    letter = serializers.CharField()
    text = serializers.CharField()
    your_rank = serializers.IntegerField(help_text="1 = best; tied responses share a rank.")
    expert_rank = serializers.IntegerField()


class QualificationFeedbackSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    count = serializers.IntegerField()
    yours = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    expert = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    differ = QualificationDifferSerializer(many=True)
    hits = serializers.IntegerField(help_text="Pairs ordered as the expert did.")
    pairs = serializers.IntegerField()
    explanation = serializers.CharField()
    responses = QualificationResponseSerializer(many=True)
    finished = serializers.BooleanField(help_text="Whether this was the attempt's last item.")
    score = serializers.FloatField(allow_null=True)
    passed = serializers.BooleanField(allow_null=True)
    threshold = serializers.FloatField()
