"""Every API error as JSON `{"detail": ..., "errors": [...]}` with a 4xx status, or 503
while the database is away for a moment (pages answer 503 then too).

`errors` lists `{"field", "message"}` for validation problems (and `{"line", ...}` for
import problems), so a script can point at what to fix.
"""

import json
import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import SERVER_ERROR, DomainError, error_body

# The envelope's schema, named in every view's documented error answers.
ERROR = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


def _flatten(detail: object, prefix: str = "") -> list[dict]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.extend(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix, "message": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            out.extend(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return [{"field": prefix, "message": str(detail)}]


def error_response(
    detail: object,
    code: int,
    errors: list[dict] | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A DRF answer with the error envelope and status `code`."""
    return Response(error_body(detail, errors, **extra), status=code, headers=headers)


logger = logging.getLogger("django.request")

UNAVAILABLE = _("The database is unavailable for a moment; try again.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away for a moment (a restart, a failover): what the request
        # wrote was rolled back with its transaction, and every write is safe to repeat
        # (a submission sent again returns the stored one), so the answer is "try again",
        # not a server error. The connection is replaced at the end of the request.
        set_rollback()
        return error_response(
            UNAVAILABLE, status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"}
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, DomainError):
        exc = exceptions.ValidationError({exc.field or "non_field_errors": [exc.message]})
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            error_body("The request has errors.", _flatten(exc.detail)),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # A failure of ours: logged with its traceback, answered with the envelope and
        # nothing of the failure (with DEBUG on too, where Django's page would show the
        # settings and the environment).
        request = context.get("request")
        logger.error("Internal Server Error: %s", getattr(request, "path", "?"), exc_info=exc)
        set_rollback()
        return Response(json.loads(SERVER_ERROR), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    response.data = error_body(detail)
    return response


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for a URL no view answers. Under /api/ it is the JSON envelope every other
    API error uses (a script should never have to parse an HTML page); elsewhere, the
    site's own page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("Not found."), status=404)
    return page_not_found(request, exception)


def api_server_error(request: HttpRequest) -> HttpResponse:
    from django.http import JsonResponse
    from django.template.loader import render_to_string
    from django.views.defaults import server_error

    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # Outside a DRF view (a page, a middleware): the same "try again" as the API's.
        # The page is rendered without the request, so it asks nothing of the database.
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse(error_body(UNAVAILABLE), status=503)
        else:
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "1"
        return response
    if request.path.startswith("/api/"):
        return HttpResponse(SERVER_ERROR, status=500, content_type="application/json")
    return server_error(request)


PUBLIC = {("/api/auth/token/", "post"), ("/api/schema/", "get")}


def schema_error_responses(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing: document the error answers every operation can
    give in the one envelope: 400 (labelling.inputs refuses any request's query string),
    401 (no or bad token), 403 (a member without the role), 404 (not a member, no such
    object, or a list page past its end)."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    reasons = {
        "400": (
            "The request has errors: a field's value, or a query parameter the strict input "
            "layer refuses (NUL, control characters, direction overrides)."
        ),
        "401": "Not authenticated.",
        "403": "A member without the role this needs.",
        "404": "No such object (or not a member of its project), or no such page.",
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if (path, method) in PUBLIC:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in reasons.items():
                responses.setdefault(code, {**error, "description": description})
    return result
