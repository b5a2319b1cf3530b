"""REST API of the labelling app (design §6). Adapters: check, call a service, render."""

from collections.abc import Iterable, Mapping
from typing import IO, Any, cast

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core.api_errors import ERROR, error_response
from core.errors import DomainError
from core.http import AuthenticatedRequest
from labelling import selectors
from labelling import serializers as s
from labelling.authentication import TokenAuthentication
from labelling.guidelines import (
    RelabelFilters,
    guideline_acknowledge,
    guideline_publish,
    relabel_preview,
    relabel_request,
)
from labelling.importing import ImportRejected, prompts_import
from labelling.inputs import StrictJSONParser, guideline_versions_query
from labelling.models import (
    Annotation,
    ApiToken,
    GuidelineVersion,
    Membership,
    Project,
    RaterPause,
)
from labelling.near_duplicates import near_duplicates_request, near_duplicates_shown
from labelling.pauses import pause_message, pause_resume, pauses_shown
from labelling.queue import assignment_next, assignment_skip
from labelling.roles import ADMINS, ANNOTATORS, REVIEWERS, WATCHERS
from labelling.rules import SubmissionInvalid, ratings_against_ranking
from labelling.scoring import scoring_request, scoring_status
from labelling.services import membership_set, project_create, project_update, user_create
from labelling.submission import annotation_submit
from labelling.tokens import token_create, tokens_revoke
from labelling.visibility import (
    annotation_for_annotator,
    annotator_names,
    item_for_annotator,
    project_fields_for,
)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Form fields too, so `curl -d username=... -d password=...` works as the README says.
    parser_classes = [StrictJSONParser, FormParser]

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={200: s.TokenSerializer, 400: ERROR},
        summary="Exchange a username and password for a new API token (shown once)",
        examples=[
            OpenApiExample(
                "A token for a script, for 30 days",
                value={
                    "username": "alice",
                    "password": "your password",
                    "name": "laptop",
                    "expires_in_days": 30,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return error_response(
                _("Too many failed attempts for this username from this address; try again later."),
                status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            # 400 as DRF's own token view answers: the request, not a session, is wrong.
            raise ValidationError({"password": [_("Unknown username or wrong password.")]})
        token, key = token_create(
            user=user,
            name=data.validated_data.get("name", ""),
            days=data.validated_data.get("expires_in_days"),
            now=timezone.now(),
        )
        # The only time the token is shown: the database keeps its digest.
        return Response({"token": key, "name": token.name, "expiry": token.expiry})

    @extend_schema(
        request=None,
        responses={204: None, 401: ERROR},
        summary="Revoke the token this request is made with",
    )
    def delete(self, request: Request) -> Response:
        # Authentication is off on this view for the POST; a DELETE must name its token.
        try:
            found = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            found = None  # an unknown or revoked token
        if found is None:
            return error_response(
                _("Send the token to revoke in the Authorization header."),
                status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        user, token = found
        tokens_revoke(ApiToken.objects.filter(pk=token.pk), actor=user, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsersView(APIView):
    @extend_schema(
        request=s.UserCreateSerializer,
        responses={201: s.UserSerializer, 400: ERROR, 403: ERROR},
        summary="Create a user (staff only)",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        if not request.user.is_staff:
            raise PermissionDenied(_("Only staff create users."))
        data = s.UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(**data.validated_data, actor=request.user, now=timezone.now())
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


def _project_payload(
    projects: Project | Iterable[Project], *, user: User, many: bool
) -> dict[str, Any] | list[dict[str, Any]]:
    items = cast(Iterable[Project], projects) if many else [cast(Project, projects)]
    ids = [p.pk for p in items]
    roles = selectors.roles_for_user(user=user, project_ids=ids)
    context = {"roles": roles, "progress": selectors.project_progress(project_ids=ids)}
    data = s.ProjectSerializer(projects, many=many, context=context).data
    # Annotators are not shown the settings that tell gold items apart (visibility).
    shown = [
        project_fields_for(role=roles.get(item["id"]), viewer=user, data=item)
        for item in (data if many else [data])
    ]
    return shown if many else shown[0]


class ProjectsView(ListAPIView):
    request: AuthenticatedRequest
    serializer_class = s.ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.projects_for_user(user=self.request.user).order_by("name", "pk")

    @extend_schema(summary="The projects I am a member of (all of them for staff)")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # every list is paginated (PAGE_SIZE)
        user = cast(User, request.user)  # signed in: IsAuthenticated
        return self.get_paginated_response(_project_payload(page, user=user, many=True))

    @extend_schema(
        responses={201: s.ProjectSerializer, 400: ERROR, 403: ERROR},
        summary="Create a project (staff); its creator becomes its admin",
        examples=[
            OpenApiExample(
                "Four responses, two criteria",
                value={
                    "name": "Summaries, round 1",
                    "responses_per_prompt": 4,
                    "annotations_per_prompt": 3,
                    "criteria": [
                        {"key": "faithfulness", "label": "Faithfulness", "scale": [1, 5]},
                        {"key": "brevity", "label": "Brevity", "scale": [1, 5]},
                    ],
                    "required_critiques": "worst",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        if not request.user.is_staff:
            raise PermissionDenied(_("Only staff create projects."))
        data = s.ProjectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = project_create(
            created_by=request.user,
            now=timezone.now(),
            guideline_body=fields.pop("guideline", ""),
            **fields,
        )
        return Response(
            _project_payload(project, user=request.user, many=False),
            status=status.HTTP_201_CREATED,
        )


class ProjectView(APIView):
    @extend_schema(responses={200: s.ProjectSerializer, 404: ERROR}, summary="One project")
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(user=request.user, project_id=project_id)
        return Response(_project_payload(project, user=request.user, many=False))

    @extend_schema(
        request=s.ProjectUpdateSerializer,
        responses={200: s.ProjectSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Change a project's settings (project admins)",
        examples=[
            OpenApiExample(
                "Longer leases, more gold",
                value={"lease_minutes": 45, "gold_rate": 0.1},
                request_only=True,
            )
        ],
    )
    def patch(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        data = s.ProjectUpdateSerializer(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(
            project=project, actor=request.user, now=timezone.now(), **data.validated_data
        )
        return Response(_project_payload(project, user=request.user, many=False))


class MembersView(ListAPIView):
    """GET lists the members (paginated, like every list); POST adds or changes one."""

    request: AuthenticatedRequest
    serializer_class = s.MembershipSerializer

    def get_queryset(self) -> QuerySet[Membership]:
        project = selectors.project_get_for_member(
            user=self.request.user, project_id=self.kwargs["project_id"], roles=ADMINS
        )
        return project.memberships.select_related("user").order_by("user__username")

    @extend_schema(
        request=s.MemberRequestSerializer,
        responses={
            201: s.MembershipSerializer,
            200: s.MembershipSerializer,
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        summary="Add a member, or change a member's role (project admins)",
        examples=[
            OpenApiExample(
                "Make someone a reviewer",
                value={"username": "rita", "role": "reviewer"},
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        data = s.MemberRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise ValidationError({"username": [_("No user has this username.")]})
        change = membership_set(
            project=project,
            user=user,
            role=data.validated_data["role"],
            actor=request.user,
            now=timezone.now(),
        )
        return Response(
            s.MembershipSerializer(change.membership).data,
            status=status.HTTP_201_CREATED if change.created else status.HTTP_200_OK,
        )

    @extend_schema(summary="The members (project admins), by username")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class GuidelinesView(ListAPIView):
    """GET lists the versions, newest first (paginated: bodies can be long); POST
    publishes the next one."""

    request: AuthenticatedRequest
    serializer_class = s.GuidelineVersionSerializer

    def get_queryset(self) -> QuerySet[GuidelineVersion]:
        project = selectors.project_get_for_member(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return project.guidelines.select_related("published_by").order_by("-version")

    @extend_schema(summary="Every guideline version of a project, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.GuidelinePublishSerializer,
        responses={201: s.GuidelineVersionSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Publish the next guideline version (project admins)",
        examples=[
            OpenApiExample(
                "A new rule",
                value={
                    "body": "# Guidelines\n\nRank correctness first, then clarity.\n",
                    "change_summary": "Correctness now comes before clarity.",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        data = s.GuidelinePublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = guideline_publish(
            project=project, actor=request.user, now=timezone.now(), **data.validated_data
        )
        return Response(s.GuidelineVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class AcknowledgeView(APIView):
    @extend_schema(
        request=None,
        responses={200: s.AcknowledgementSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Record that I read this guideline version (annotators)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int, version: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ANNOTATORS
        )
        ack = guideline_acknowledge(
            project=project, user=request.user, version=version, now=timezone.now()
        )
        return Response(s.AcknowledgementSerializer(ack).data)


class RelabelView(APIView):
    @extend_schema(
        request=s.RelabelRequestSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="RelabelOutcome",
                serializers=[s.RelabelResultSerializer, s.RelabelPreviewSerializer],
                resource_type_field_name=None,
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        summary="Ask for fresh annotations under the current guideline version (admins)",
        examples=[
            OpenApiExample(
                "What it would do, changing nothing",
                value={"annotations_wanted": 2, "dry_run": True},
                request_only=True,
            ),
            OpenApiExample(
                "Low-agreement prompts only",
                value={"annotations_wanted": 2, "max_agreement": 0.5},
                request_only=True,
            ),
        ],
        description=(
            "Raises the target of prompts whose annotations were all made under older "
            "versions, optionally only those labelled under `versions`, with `metadata` "
            "equal to the given values, among `prompt_ids`, or with pairwise agreement "
            "at most `max_agreement`. Old annotations stay. With `dry_run`, only says "
            "what it would do."
        ),
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        data = s.RelabelRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        wanted = fields.get("annotations_wanted", project.annotations_per_prompt)
        filters = RelabelFilters(
            versions=fields.get("versions"),
            metadata=fields.get("metadata"),
            prompt_ids=fields.get("prompt_ids"),
            max_agreement=fields.get("max_agreement"),
        )
        if fields["dry_run"]:
            preview = relabel_preview(project=project, filters=filters, annotations_wanted=wanted)
            return Response(s.RelabelPreviewSerializer(preview).data)
        result = relabel_request(
            project=project,
            actor=request.user,
            now=timezone.now(),
            annotations_wanted=wanted,
            filters=filters,
            repeat_allowed=fields["repeat_allowed"],
        )
        return Response(s.RelabelResultSerializer(result).data)


class AnnotationsView(ListAPIView):
    """Annotations of a project for admins, reviewers and engineers, filterable by version."""

    request: AuthenticatedRequest
    serializer_class = s.AnnotationListedSerializer
    FILTERS = {"guideline_version", "current"}

    @extend_schema(
        parameters=[
            OpenApiParameter("guideline_version", int, many=True, description="one or more"),
            OpenApiParameter("current", bool, description="only current versions (default)"),
        ],
        summary="Annotations of a project (admins, reviewers, engineers)",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer[Annotation]:
        """Each annotation's annotator as this viewer may see them (labelling.visibility):
        usernames for admins and reviewers, pseudonyms for engineers; worked out for the
        raters of the page being shown only."""
        if not args:  # the schema asks for the serializer's shape, with no project
            return super().get_serializer(*args, **kwargs)
        rows = args[0]
        project = self._project()
        context = kwargs.setdefault("context", self.get_serializer_context())
        context["annotator_names"] = annotator_names(
            project=project,
            viewer=self.request.user,
            role=project.member_role,
            user_ids={annotation.annotator_id for annotation in rows},
        )
        return super().get_serializer(*args, **kwargs)

    def _project(self) -> Project:
        if not hasattr(self, "_scoped"):
            self._scoped = selectors.project_get_for_member(
                user=self.request.user,
                project_id=self.kwargs["project_id"],
                roles=WATCHERS,
            )
        return self._scoped

    def get_queryset(self) -> QuerySet[Annotation]:
        project = self._project()
        params = self.request.query_params
        versions = guideline_versions_query(params, allowed=self.FILTERS | {"page"})
        annotations = project.annotations.select_related("prompt").order_by("id")
        if versions:
            annotations = annotations.filter(guideline_version__in=versions)
        if params.get("current", "true").lower() != "false":
            annotations = annotations.filter(is_current=True)
        return annotations


class JSONLinesParser(BaseParser):
    """Leaves a JSONL body unread: the importer streams it line by line."""

    media_type = "application/x-ndjson"

    # DRF keeps whatever a parser returns as request.data; the stub allows only the
    # mappings that DRF's own parsers return.
    def parse(  # type: ignore[override]
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> IO[Any]:
        return stream


class JSONLParser(JSONLinesParser):
    media_type = "application/jsonl"


class ImportView(APIView):
    parser_classes = [JSONLinesParser, JSONLParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/x-ndjson": OpenApiTypes.STR,
            "application/jsonl": OpenApiTypes.STR,
            "multipart/form-data": OpenApiRequest(s.ImportRequestSerializer),
        },
        responses={
            200: s.ImportResultSerializer,
            400: OpenApiResponse(ERROR, description="Every bad line; nothing was imported."),
            403: ERROR,
            404: ERROR,
        },
        summary="Import prompts from JSONL, all or nothing",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        content_type = request.content_type.split(";")[0].strip()
        if content_type in (JSONLinesParser.media_type, JSONLParser.media_type):
            stream, source = request.stream, "api"
            if stream is None:
                raise ValidationError({"file": [_("The body is empty.")]})
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError(
                    {"file": [_("Send a JSONL body (application/x-ndjson) or upload a file.")]}
                )
            stream, source = upload.file, f"api:{upload.name}"
        try:
            result = prompts_import(
                project=project,
                stream=stream,
                actor=request.user,
                now=timezone.now(),
                source=source,
            )
        except ImportRejected as rejected:
            return error_response(
                _("%(n)d problem(s) in the file; nothing was imported.") % {"n": rejected.total},
                status.HTTP_400_BAD_REQUEST,
                [error.as_dict() for error in rejected.errors],
                total_errors=rejected.total,
            )
        return Response(
            {
                "created": result.created,
                "unchanged": result.unchanged,
                "warnings": [warning.as_dict() for warning in result.warnings],
                "warnings_total": result.warnings_total,
                "near_duplicates": f"/api/projects/{project.pk}/near-duplicates/"
                if result.created
                else None,
            }
        )


# A serializer builds its fields by deep copy each time one is made; these two answer
# every call an annotator makes, so one bound instance of each renders them
# (`to_representation` keeps no state between calls).
ASSIGNMENT_SHOWN = s.AssignmentSerializer()
ANNOTATION_SHOWN = s.AnnotationSerializer()


class NextView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: s.AssignmentSerializer,
            204: OpenApiResponse(description="Nothing is left for you in this project."),
            403: ERROR,
            404: ERROR,
        },
        summary="Lease the next prompt to label (or get back the one you hold)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ANNOTATORS
        )
        given = assignment_next(project=project, annotator=request.user, now=timezone.now())
        if given.paused is not None:
            message = pause_message(pause=given.paused)
            return error_response(
                message,
                status.HTTP_409_CONFLICT,
                [{"field": "paused", "message": message}],
                paused=True,
            )
        if given.guideline_pending is not None:
            return error_response(
                _("Read and acknowledge guideline version %(v)d first.")
                % {"v": given.guideline_pending},
                status.HTTP_409_CONFLICT,
                guideline_version=given.guideline_pending,
            )
        if given.qualifying is not None:
            message = _("Pass the qualification %(name)s first: %(reason)s") % {
                "name": given.qualifying.name,
                "reason": given.qualifying.reason,
            }
            return error_response(
                message,
                status.HTTP_409_CONFLICT,
                [{"field": "qualification", "message": message}],
                qualification=given.qualifying.pk,
            )
        assignment = given.assignment
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = item_for_annotator(assignment=assignment)
        return Response(ASSIGNMENT_SHOWN.to_representation(payload))


def _conflict(refused: DomainError) -> Response:
    """409: the request is well formed, but the state of the item refuses it."""
    return error_response(
        refused.message,
        status.HTTP_409_CONFLICT,
        [{"field": refused.field, "message": str(refused.message)}],
    )


def _submission_errors(errors: Iterable[tuple[str, str]]) -> ValidationError:
    return ValidationError({field or "non_field_errors": [message] for field, message in errors})


class SubmitView(APIView):
    @extend_schema(
        request=s.SubmitRequestSerializer,
        responses={
            201: s.AnnotationSerializer,
            200: OpenApiResponse(s.AnnotationSerializer, description="The same submission again."),
            400: ERROR,
            404: ERROR,
            409: ERROR,
        },
        summary="Submit (or edit) the labels of an assignment",
        examples=[
            OpenApiExample(
                "Four responses, B best, A and D tied last",
                value={
                    "ranking": [["B"], ["C"], ["A", "D"]],
                    "ratings": {
                        letter: {"helpfulness": 5, "harmlessness": 7, "honesty": 6}
                        for letter in "ABCD"
                    },
                    "critiques": {"A": "Misses the question.", "D": "Too vague."},
                    "flags": {"D": ["factual_error"]},
                    "comment": "B and C are close.",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, assignment_id: int) -> Response:
        assignment = selectors.assignment_get_for_annotator(
            user=request.user, assignment_id=assignment_id
        )
        data = request.data
        active = None
        if isinstance(data, dict) and "active_seconds" in data:
            data = {key: value for key, value in data.items() if key != "active_seconds"}
            active = request.data["active_seconds"]
            if type(active) is not int or active < 0:
                raise ValidationError({"active_seconds": ["A whole number of seconds, 0 or more."]})
        try:
            # The annotator names responses by the letters they were shown.
            result = annotation_submit(
                assignment=assignment,
                annotator=request.user,
                data=data,
                now=timezone.now(),
                by_letter=True,
                active_seconds=active,
            )
        except SubmissionInvalid as invalid:
            raise _submission_errors(invalid.errors) from None
        except DomainError as refused:
            return _conflict(refused)
        shown = annotation_for_annotator(annotation=result.annotation, assignment=assignment)
        # Saved as sent (a script has no "are you sure"), with what the page would ask.
        shown["ratings_against_ranking"] = [
            list(pair)
            for pair in ratings_against_ranking(
                shown["ranking"], shown["ratings"], assignment.project.criteria
            )
        ]
        return Response(
            ANNOTATION_SHOWN.to_representation(shown),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SkipView(APIView):
    @extend_schema(
        request=s.SkipRequestSerializer,
        responses={
            200: OpenApiResponse(description="Skipped."),
            400: ERROR,
            404: ERROR,
            409: ERROR,
        },
        summary="Give an assignment back, with a reason",
        examples=[
            OpenApiExample(
                "Outside my field", value={"reason": "Outside my expertise."}, request_only=True
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, assignment_id: int) -> Response:
        assignment = selectors.assignment_get_for_annotator(
            user=request.user, assignment_id=assignment_id
        )
        data = s.SkipRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            assignment_skip(
                assignment=assignment, reason=data.validated_data["reason"], now=timezone.now()
            )
        except DomainError as refused:
            return _conflict(refused)
        return Response({"detail": _("Skipped.")})


class ScoreView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR},
        summary="Reward-model scoring: status and progress (project admins)",
        description='{"status": idle, queued, running, done or failed, "progress": {"done", '
        '"total"}, "reward_model", "error", "scored", "responses", "available"}',
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        return Response(scoring_status(project=project, viewer=request.user))

    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Start scoring the project's unscored responses (project admins)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        scoring_request(project=project, user=request.user, now=timezone.now())
        return Response(
            scoring_status(project=project, viewer=request.user), status=status.HTTP_202_ACCEPTED
        )


class PausesView(APIView):
    @extend_schema(
        responses={200: s.PauseSerializer(many=True), 403: ERROR, 404: ERROR},
        summary="Raters paused by the continuous checks, open ones first",
        description=(
            "With the project's pause_window above 0, a rater whose last pause_window gold "
            "items fall below gold_threshold, or whose agreement with the others over their "
            "last pause_window shared items falls below consensus_threshold, is paused: "
            "`next` answers 409 with `paused` until an admin or reviewer resumes them. "
            "Admins and reviewers see usernames in `annotator`, engineers pseudonyms."
        ),
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=WATCHERS
        )
        rows = pauses_shown(project=project, viewer=request.user, role=project.member_role)
        return Response(s.PauseSerializer(rows, many=True).data)


class PauseResumeView(APIView):
    @extend_schema(
        request=s.PauseResumeSerializer,
        responses={200: s.PauseSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        summary="Resume a paused rater, with a note (audited)",
        examples=[
            OpenApiExample(
                "Resumed after a talk",
                value={"note": "Went through the guidelines again together."},
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, project_id: int, pause_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=REVIEWERS
        )
        pause = get_object_or_404(RaterPause, project=project, pk=pause_id)
        body = s.PauseResumeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pause = pause_resume(
                pause=pause,
                actor=request.user,
                note=body.validated_data["note"],
                now=timezone.now(),
            )
        except DomainError as refused:
            if refused.field == "note":
                raise ValidationError({"note": [refused.message]}) from None
            return _conflict(refused)
        (row,) = pauses_shown(
            project=project, viewer=request.user, role=project.member_role, pauses=[pause]
        )
        return Response(s.PauseSerializer(row).data)


class NearDuplicatesView(APIView):
    @extend_schema(
        responses={200: s.NearDuplicatesSerializer, 403: ERROR, 404: ERROR},
        summary="Near-duplicate prompts of the project (everyone but annotators)",
        description=(
            "Pairs of prompts whose adjacent word pairs are at least 60% the same (Jaccard), "
            "the same words aside (those are the import's warnings). Checked in the "
            "background after every import that adds prompts; `status` says whether a "
            "check is queued or running."
        ),
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=WATCHERS
        )
        return Response(s.NearDuplicatesSerializer(near_duplicates_shown(project=project)).data)

    @extend_schema(
        request=None,
        responses={202: s.NearDuplicatesSerializer, 403: ERROR, 404: ERROR},
        summary="Check the project's prompts for near-duplicates again (project admins)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        near_duplicates_request(project=project, now=timezone.now())
        return Response(
            s.NearDuplicatesSerializer(near_duplicates_shown(project=project)).data,
            status=status.HTTP_202_ACCEPTED,
        )
