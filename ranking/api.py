"""Ranking endpoints of the REST API: reward-model scoring (design §6)."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api import ERROR
from labelling.roles import ADMINS
from labelling.selectors import project_get_for_member
from ranking.scoring import scoring_request, scoring_status


class ScoreView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR},
        summary="Reward-model scoring: status and progress (project admins)",
        description='{"status": idle, queued, running, done or failed, "progress": {"done", '
        '"total"}, "reward_model", "error", "scored", "responses", "available"}',
    )
    def get(self, request, project_id: int):
        project = project_get_for_member(user=request.user, project_id=project_id, roles=ADMINS)
        return Response(scoring_status(project=project, viewer=request.user))

    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Start scoring the project's unscored responses (project admins)",
    )
    def post(self, request, project_id: int):
        project = project_get_for_member(user=request.user, project_id=project_id, roles=ADMINS)
        scoring_request(project=project, user=request.user, now=timezone.now())
        return Response(
            scoring_status(project=project, viewer=request.user), status=status.HTTP_202_ACCEPTED
        )
