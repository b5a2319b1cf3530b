from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from labelling.criteria import criteria_errors
from labelling.models import MAX_RESPONSES, MIN_RESPONSES, GuidelineVersion, Membership, Project


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class UserCreateSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
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
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        errors = criteria_errors(value)
        if errors:
            raise serializers.ValidationError([f"{field}: {message}" for field, message in errors])
        return value


class ProgressSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    complete = serializers.IntegerField()
    annotations = serializers.IntegerField()


class ProjectSerializer(serializers.ModelSerializer):
    criteria = CriteriaField(required=False)
    responses_per_prompt = serializers.IntegerField(
        min_value=MIN_RESPONSES, max_value=MAX_RESPONSES, required=False
    )
    annotations_per_prompt = serializers.IntegerField(min_value=1, max_value=50, required=False)
    gold_rate = serializers.FloatField(min_value=0, max_value=1, required=False)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
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
            "created_at",
            "guideline",
            "role",
            "progress",
        ]
        read_only_fields = ["id", "created_at"]

    def get_role(self, project) -> str | None:
        return self.context.get("roles", {}).get(project.pk)

    def get_progress(self, project) -> ProgressSerializer:
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


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A JSONL file, one prompt a line (README).")
