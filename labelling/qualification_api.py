"""The API of qualification (labelling.qualification): admins make and require sets,
admins and reviewers give extra attempts, watchers read the results (engineers by
pseudonym), and annotators take the test by the same rules as the page."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import ERROR, error_response
from core.errors import DomainError
from core.http import AuthenticatedRequest
from labelling import selectors
from labelling import serializers as s
from labelling.models import QualificationAnswer, QualificationSet
from labelling.qualification import (
    AnsweredAlready,
    ItemSpec,
    answer_feedback,
    answer_submit,
    attempt_start,
    qualification_due,
    qualification_grant,
    qualification_require,
    qualification_set_create,
    qualification_withdraw,
    rater_state,
    results_shown,
    sets_shown,
)
from labelling.roles import ADMINS, ANNOTATORS, REVIEWERS, WATCHERS


def _invalid(refused: DomainError) -> ValidationError:
    return ValidationError({refused.field or "non_field_errors": [refused.message]})


def _set_row(qset: QualificationSet) -> dict:
    (row,) = sets_shown(project=qset.project, only=qset.pk)
    return row


class QualificationSetsView(APIView):
    @extend_schema(
        responses={200: s.QualificationSetSerializer(many=True), 403: ERROR, 404: ERROR},
        summary="The project's qualification sets, newest first (admins and reviewers)",
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=REVIEWERS
        )
        return Response(s.QualificationSetSerializer(sets_shown(project=project), many=True).data)

    @extend_schema(
        request=s.QualificationSetCreateSerializer,
        responses={201: s.QualificationSetSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Make a draft qualification set of gold prompts (project admins)",
        description=(
            "A draft asks nothing of raters until it is required (`require`, or "
            "`qualification_set` when publishing a guideline version). Its prompts are for "
            "qualification only from now on: the queue no longer serves them as gold items."
        ),
        examples=[
            OpenApiExample(
                "Two items",
                value={
                    "name": "Basics",
                    "threshold": 0.8,
                    "attempts": 2,
                    "items": [
                        {
                            "prompt": "maths-000",
                            "explanation": "The best answer is right and shows its steps; "
                            "the two wrong ones tie last, however confident.",
                        },
                        {
                            "prompt": "maths-004",
                            "explanation": "A right answer without steps still beats a "
                            "wrong one with them.",
                        },
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        body = s.QualificationSetCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            qset = qualification_set_create(
                project=project,
                name=data["name"],
                threshold=data["threshold"],
                attempts=data["attempts"],
                items=[ItemSpec(**item) for item in data["items"]],
                actor=request.user,
                now=timezone.now(),
            )
        except DomainError as refused:
            raise _invalid(refused) from None
        return Response(
            s.QualificationSetSerializer(_set_row(qset)).data, status=status.HTTP_201_CREATED
        )


class QualificationRequireView(APIView):
    @extend_schema(
        request=s.QualificationRequireSerializer,
        responses={200: s.QualificationSetSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Require a draft set from the current guideline version on (project admins)",
        description="Every annotator who has not passed it takes it before their next item.",
    )
    def post(self, request: AuthenticatedRequest, project_id: int, set_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        qset = get_object_or_404(QualificationSet, project=project, pk=set_id)
        body = s.QualificationRequireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            qset = qualification_require(
                qset=qset,
                actor=request.user,
                now=timezone.now(),
                reason=body.validated_data.get("reason", ""),
            )
        except DomainError as refused:
            raise _invalid(refused) from None
        return Response(s.QualificationSetSerializer(_set_row(qset)).data)


class QualificationWithdrawView(APIView):
    @extend_schema(
        request=None,
        responses={200: s.QualificationSetSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Stop requiring a set (project admins); the one required before applies again",
    )
    def post(self, request: AuthenticatedRequest, project_id: int, set_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ADMINS
        )
        qset = get_object_or_404(QualificationSet, project=project, pk=set_id)
        try:
            qset = qualification_withdraw(qset=qset, actor=request.user, now=timezone.now())
        except DomainError as refused:
            raise _invalid(refused) from None
        return Response(s.QualificationSetSerializer(_set_row(qset)).data)


class QualificationResultsView(APIView):
    @extend_schema(
        responses={200: s.QualificationResultSerializer(many=True), 403: ERROR, 404: ERROR},
        summary="Qualification results per rater and required set (guideline version)",
        description="Admins and reviewers see usernames in `annotator`, engineers pseudonyms.",
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=WATCHERS
        )
        rows = results_shown(project=project, viewer=request.user, role=project.member_role)
        return Response(s.QualificationResultSerializer(rows, many=True).data)


class QualificationGrantView(APIView):
    @extend_schema(
        request=s.QualificationGrantSerializer,
        responses={201: s.QualificationResultSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="One more attempt for a rater who used theirs, with a note (audited)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int, set_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=REVIEWERS
        )
        qset = get_object_or_404(QualificationSet, project=project, pk=set_id)
        body = s.QualificationGrantSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Whether they are an annotator of the project is the service's to say.
        member = (
            get_user_model()
            .objects.filter(username=body.validated_data["annotator"])
            .values_list("pk", flat=True)
            .first()
        ) or 0
        try:
            qualification_grant(
                qset=qset,
                annotator_id=member,
                actor=request.user,
                note=body.validated_data["note"],
                now=timezone.now(),
            )
        except DomainError as refused:
            raise _invalid(refused) from None
        rows = results_shown(project=project, viewer=request.user, role=project.member_role)
        (row,) = [r for r in rows if r["set"] == qset.pk and r["annotator_id"] == member]
        return Response(s.QualificationResultSerializer(row).data, status=status.HTTP_201_CREATED)


class MyQualificationView(APIView):
    @extend_schema(
        responses={200: s.QualificationStateSerializer, 403: ERROR, 404: ERROR},
        summary="Where I stand with the project's qualification, and the item it asks now",
        description=(
            "While `next` answers 409 with `qualification`, an annotator starts an attempt "
            "(`attempts`), answers each item (`answers`) and reads the feedback; once "
            "passed, `next` gives ordinary items."
        ),
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ANNOTATORS
        )
        state = rater_state(project=project, annotator=request.user)
        return Response(s.QualificationStateSerializer(state).data)


class QualificationAttemptView(APIView):
    @extend_schema(
        request=None,
        responses={201: s.QualificationStateSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Start an attempt at the required set (or get back the one open)",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ANNOTATORS
        )
        try:
            attempt_start(project=project, annotator=request.user, now=timezone.now())
        except DomainError as refused:
            raise _invalid(refused) from None
        state = rater_state(project=project, annotator=request.user)
        return Response(s.QualificationStateSerializer(state).data, status=status.HTTP_201_CREATED)


class QualificationAnswerView(APIView):
    @extend_schema(
        request=s.QualificationAnswerSerializer,
        responses={
            201: s.QualificationFeedbackSerializer,
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
        summary="Answer the current item: the feedback names the expert's ranking and why",
        description="409 when `item` is not the one the attempt asks now (answered already).",
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = selectors.project_get_for_member(
            user=request.user, project_id=project_id, roles=ANNOTATORS
        )
        body = s.QualificationAnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        due = qualification_due(project=project, annotator=request.user)
        if due is None or due.open is None:
            raise ValidationError(
                {"qualification": ["Start an attempt first: you have none open."]}
            )
        try:
            answer = answer_submit(
                attempt=due.open,
                number=body.validated_data["item"],
                ranking=body.validated_data["ranking"],
                now=timezone.now(),
            )
        except AnsweredAlready as refused:
            return error_response(
                refused.message,
                status.HTTP_409_CONFLICT,
                [{"field": "item", "message": refused.message}],
            )
        except DomainError as refused:
            raise _invalid(refused) from None
        answer = QualificationAnswer.objects.select_related("attempt__set", "item__prompt").get(
            pk=answer.pk
        )
        return Response(
            s.QualificationFeedbackSerializer(answer_feedback(answer)).data,
            status=status.HTTP_201_CREATED,
        )
