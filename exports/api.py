"""Export endpoints of the REST API (design §6): adapters over exports.services."""

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import ERROR, error_response
from core.http import AuthenticatedRequest
from exports.filters import ExportInvalid
from exports.models import Export
from exports.selectors import EXPORTERS, export_get_for_member
from exports.services import export_create, export_enqueue, export_path
from labelling.selectors import project_get_for_member

CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Export.Format.choices)
    file_format = serializers.ChoiceField(
        choices=Export.FileFormat.choices, default=Export.FileFormat.JSONL
    )
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "guideline_versions [int], min_guideline_version int, since and until (ISO "
            "date or date-time), min_agreement 0..1, include_ties, include_rejected, "
            "include_flagged, include_gold (booleans, default false), models [str], "
            "annotators and exclude_annotators [pseudonyms], exclude_flagged_annotators "
            "(boolean)."
        ),
    )
    test_fraction = serializers.FloatField(
        min_value=0,
        max_value=1,
        default=0.0,
        help_text=(
            "Share of prompts (by a stable hash of their id) in the test split. Above 0 the "
            "export is a Hugging Face dataset folder, downloaded as a zip: "
            "load_dataset(folder) gives train and test."
        ),
    )
    flavour = serializers.CharField(
        required=False,
        help_text=(
            "trl (default), openrlhf or llamafactory: the trainer the rows are shaped for "
            "(pairwise and consensus)."
        ),
    )
    conversational = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Prompts as message lists, responses as one assistant message. Unset: "
            "conversational when the project has chat prompts (always for openrlhf and "
            "llamafactory)."
        ),
    )
    margin = serializers.DictField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            'A `margin` column for TRL and OpenRLHF, only on request: {"source": "rank_gap" '
            '(pairwise, hh) or "vote_margin" (consensus), "scale": number}.'
        ),
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Allow-listed: an unknown field is a mistake worth hearing about.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({key: [_("Unknown field.")] for key in unknown})
        return super().to_internal_value(data)


class JobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class ExportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id", "project", "format", "file_format", "filters", "options", "test_fraction",
            "status",
            "progress", "row_count", "sha256", "manifest", "error", "created_by", "created_at",
            "started_at", "finished_at", "download",
        ]  # fmt: skip

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, export: Export) -> dict[str, int]:
        return {"done": export.progress_done, "total": export.progress_total}

    def get_created_by(self, export: Export) -> str | None:
        return export.created_by.get_username() if export.created_by else None

    def get_download(self, export: Export) -> str | None:
        if export.status != Export.Status.DONE:
            return None
        return reverse("api-export-download", args=[export.pk])


class ProjectExportsView(ListAPIView):
    serializer_class = ExportSerializer
    request: AuthenticatedRequest  # past IsAuthenticated, as every API view

    def get_queryset(self) -> QuerySet[Export]:
        project = project_get_for_member(
            user=self.request.user, project_id=self.kwargs["project_id"], roles=EXPORTERS
        )
        return project.exports.select_related("created_by").order_by("-created_at", "-id")

    @extend_schema(summary="The project's exports, newest first (admins, engineers)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ExportRequestSerializer,
        responses={
            202: OpenApiResponse(
                ExportSerializer, description="Queued; watch GET /api/exports/{id}/"
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        summary="Start an export (admins, engineers)",
        examples=[
            OpenApiExample(
                "Pairwise Parquet with a test split",
                value={
                    "format": "pairwise",
                    "file_format": "parquet",
                    "filters": {"include_flagged": False},
                    "test_fraction": 0.1,
                },
                request_only=True,
            ),
            OpenApiExample(
                "DPO, conversational, for TRL",
                value={"format": "pairwise", "flavour": "trl", "conversational": True},
                request_only=True,
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id, roles=EXPORTERS)
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            export = export_create(
                project=project, user=request.user, now=timezone.now(), **data.validated_data
            )
        except ExportInvalid as invalid:
            raise ValidationError({field: [message] for field, message in invalid.errors}) from None
        export_enqueue(export)
        body = ExportSerializer(export).data
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api-export", args=[export.pk])},
        )


class ExportView(APIView):
    @extend_schema(
        responses={200: ExportSerializer, 403: ERROR, 404: ERROR},
        summary="An export's status, progress, row count, sha256 and manifest",
    )
    def get(self, request: AuthenticatedRequest, export_id: int) -> Response:
        return Response(
            ExportSerializer(export_get_for_member(user=request.user, export_id=export_id)).data
        )


def _not_ready(export: Export) -> Response:
    return error_response(
        _("The export is %(status)s; its file is not ready.") % {"status": export.status},
        status.HTTP_409_CONFLICT,
    )


class ExportDownloadView(APIView):
    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.BINARY), 403: ERROR, 404: ERROR, 409: ERROR},
        summary="The export's file, streamed",
    )
    def get(self, request: AuthenticatedRequest, export_id: int) -> Response | FileResponse:
        export = export_get_for_member(user=request.user, export_id=export_id)
        if export.status != Export.Status.DONE:
            return _not_ready(export)
        path = export_path(export)
        if not path.is_file():
            return error_response(
                _("The file of this export is no longer on the server."), status.HTTP_410_GONE
            )
        response = FileResponse(
            open(path, "rb"),  # noqa: SIM115 - FileResponse closes it when streamed
            as_attachment=True,
            filename=export.download_name,
            content_type=CONTENT_TYPES["zip" if export.is_folder else export.file_format],
        )
        response["X-Content-SHA256"] = export.sha256
        return response


class ExportManifestView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR, 409: ERROR},
        summary="The export's manifest, as a file",
    )
    def get(self, request: AuthenticatedRequest, export_id: int) -> Response | JsonResponse:
        export = export_get_for_member(user=request.user, export_id=export_id)
        if export.status != Export.Status.DONE:
            return _not_ready(export)
        response = JsonResponse(export.manifest, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = (
            f'attachment; filename="{export.download_name}.manifest.json"'
        )
        return response
