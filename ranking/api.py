"""Ranking endpoints of the REST API: the models' leaderboard and the agreement report
(design §7), with the rater filters that exports take."""

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import ERROR
from core.http import AuthenticatedRequest
from labelling.inputs import guideline_versions_query
from labelling.models import Project
from labelling.roles import WATCHERS
from labelling.selectors import project_get_for_member
from labelling.visibility import annotator_names
from ranking.agreement import (
    agreement_report,
    agreement_shown,
    labels_load,
    model_leaderboard,
    quality_flags,
)
from ranking.raters import KEYS as RATER_KEYS
from ranking.raters import (
    RaterFilters,
    labels_of_raters,
    rater_filters_check,
    rater_filters_parse,
    raters_select,
)
from ranking.report import period_parse, rater_report_shown
from ranking.serializers import LeaderboardSerializer

RATER_PARAMETERS = [
    OpenApiParameter(
        "annotators", str, many=True, description="only these raters (pseudonyms, ann-…)"
    ),
    OpenApiParameter("exclude_annotators", str, many=True, description="not these raters"),
    OpenApiParameter(
        "exclude_flagged_annotators", bool, description="not the raters the quality figures flag"
    ),
]


def _rater_filters(project: Project, params: QueryDict) -> RaterFilters:
    """The rater filters of a query string (repeated or comma-separated pseudonyms), with
    the same checks as an export's (ranking.raters)."""
    data: dict = {}
    for key in ("annotators", "exclude_annotators"):
        names = [name for value in params.getlist(key) for name in value.split(",") if name]
        if key in params:
            data[key] = names
    if "exclude_flagged_annotators" in params:
        value = params.get("exclude_flagged_annotators", "").lower()
        flags = {"true": True, "1": True, "false": False, "0": False}
        data["exclude_flagged_annotators"] = flags.get(value, value)
    filters, errors = rater_filters_parse(data)
    errors = errors or rater_filters_check(project=project, filters=filters)
    if errors:
        raise ValidationError({field: [message] for field, message in errors})
    return filters


class LeaderboardView(APIView):
    FILTERS = {"guideline_version", *RATER_KEYS}

    @extend_schema(
        parameters=[OpenApiParameter("guideline_version", int, many=True), *RATER_PARAMETERS],
        responses={200: LeaderboardSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Bradley-Terry leaderboard of the project's models, best first",
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id, roles=WATCHERS)
        versions = guideline_versions_query(request.query_params, allowed=self.FILTERS)
        filters = _rater_filters(project, request.query_params)
        labels = labels_load(project=project)
        selection = raters_select(project=project, filters=filters, labels=labels)
        models = model_leaderboard(
            project=project, versions=versions or None, labels=labels_of_raters(labels, selection)
        )
        return Response({"models": models})


class AgreementView(APIView):
    FILTERS = set(RATER_KEYS)

    @extend_schema(
        parameters=RATER_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Agreement figures: overall, per guideline version, per annotator",
        description=(
            "F = {pairwise_agreement, alpha_rank, alpha_criteria, n_prompts, n_annotations} "
            "with 95% bootstrap intervals over prompts; annotators rows = {annotator, "
            "pseudonym, n, agreement_with_consensus (+ _interval, _upper: its one-sided 95% "
            "bound), gold_accuracy, median_seconds, position_bias (+ _interval, "
            "position_chance, position_p_value), straight_lining, ratings_contradict_ranking, "
            "flags} with flags among low_gold, too_fast, low_consensus, position_bias, "
            "straight_lining, contradicts_ranking (README, 'The dashboard'). Admins and "
            "reviewers see usernames in `annotator`, engineers the pseudonym that exports "
            "use. The rater filters are those of "
            "exports; with any of them, `raters` says which were applied."
        ),
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id, roles=WATCHERS)
        guideline_versions_query(request.query_params, allowed=self.FILTERS)
        filters = _rater_filters(project, request.query_params)
        labels = labels_load(project=project)
        selection = raters_select(project=project, filters=filters, labels=labels)
        report = agreement_report(project=project, labels=labels_of_raters(labels, selection))
        if not filters.is_everyone:
            # The flags the filter judged by: low_consensus compares a rater with every
            # other rater, not only with those kept.
            flags = quality_flags(labels, project=project)
            for row in report["annotators"]:
                row["flags"] = flags.get(row["annotator_id"], [])
        names = annotator_names(
            project=project,
            viewer=request.user,
            role=project.member_role,
            user_ids=[row["annotator_id"] for row in report["annotators"]],
        )
        shown = agreement_shown(report, names=names)
        if not filters.is_everyone:
            shown["raters"] = {
                **filters.as_dict(),
                "flagged_left_out": list(selection.flagged_left_out),
            }
        return Response(shown)


class RaterReportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATE, description="first day (UTC), included"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="last day (UTC), included"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="The rater report: items, active hours, items an hour, gold accuracy, agreement",
        description=(
            "{period: {since, until}, raters: [{rater, items, active_hours, held_hours, "
            "items_per_active_hour, items_timed, gold_items, gold_accuracy, "
            "agreement_with_consensus, flags}]}. Items are first submissions made in the "
            "period; active hours are the labelling page's count of time visible and in "
            "use (items_timed say how many items carried one), held hours the server's "
            "lease-to-submit time. Admins and reviewers see usernames in `rater`, engineers "
            "pseudonyms. The page /projects/{id}/raters/ shows the same, and downloads it "
            "as CSV."
        ),
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id, roles=WATCHERS)
        unknown = sorted(set(request.query_params) - {"since", "until", "format"})
        period, errors = period_parse(request.query_params)
        errors += [(key, "Unknown filter.") for key in unknown]
        if errors:
            raise ValidationError({field: [message] for field, message in errors})
        rows = rater_report_shown(project=project, period=period, viewer=request.user)
        return Response({"period": period.as_dict(), "raters": rows})
