"""The strict input layer (issue 15 point 3): one set of rules for every value that comes
in through a door (API bodies, query strings, form fields, import lines), applied before
any view or service sees it, so that a hostile value is a 400 naming its field and never
a 500 on either database.

- Text may not hold U+0000 (PostgreSQL cannot store it), other C0 and C1 control
  characters but tab, line feed and carriage return, or a lone surrogate (no UTF-8
  encoding exists for one). Typed fields (not imported model output) may not hold the
  bidirectional overrides and isolates either (U+202A-U+202E, U+2066-U+2069), which
  make text display in another order than it is stored.
- Numbers are whole and within a 64-bit integer; ids and numbers written as text are
  ASCII digits only: Python's int() also reads "١٢", "²" (as an error) and "1_000".
- JSON nests at most MAX_DEPTH deep.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser

from core.errors import error_body

MAX_DEPTH = 32
MAX_INT = 2**63 - 1
ASCII_DIGITS = re.compile(r"[0-9]{1,18}")
# Characters no text we store may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# And typed text besides: the bidirectional overrides and isolates.
_TYPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def ascii_int(value: Any) -> int | None:
    """A whole number from JSON or text: an int (not a bool) within 64 bits, or ASCII
    digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_INT <= value <= MAX_INT else None
    if isinstance(value, str) and ASCII_DIGITS.fullmatch(value):
        return int(value)
    return None


def text_problem(text: str, *, typed: bool = True) -> str | None:
    """Why this text is refused, or None."""
    found = (_TYPED if typed else _CONTROL).search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return _("Text may not contain the NUL character.")
    if "\ud800" <= char <= "\udfff":
        return _("Text may not contain a lone surrogate (U+%(code)04X).") % {"code": ord(char)}
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return _("Text may not contain direction overrides (U+%(code)04X).") % {"code": ord(char)}
    return _("Text may not contain control characters (U+%(code)04X).") % {"code": ord(char)}


def json_problems(value: Any, *, path: str = "", typed: bool = True) -> Iterator[tuple[str, str]]:
    """Every (field, message) a parsed JSON value breaks: text, numbers and depth."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield where, _("Nested more than %(n)d deep.") % {"n": MAX_DEPTH}
            continue
        if isinstance(item, dict):
            yield from _push_members(item, where, depth, stack, typed=typed)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{where}.{index}" if where else str(index), depth + 1))
        else:
            problem = _scalar_problem(item, typed=typed)
            if problem:
                yield where, problem


def _scalar_problem(item: Any, *, typed: bool) -> str | None:
    """What is wrong with one text or number, if anything."""
    if isinstance(item, str):
        return text_problem(item, typed=typed)
    if isinstance(item, int) and not isinstance(item, bool) and not -MAX_INT <= item <= MAX_INT:
        return _("A number out of range.")
    return None


def _push_members(
    item: dict, where: str, depth: int, stack: list, *, typed: bool
) -> Iterator[tuple[str, str]]:
    """An object's keys are checked here; its values go on the stack to be walked."""
    for key, child in item.items():
        key_problem = text_problem(str(key), typed=typed)
        if key_problem:
            yield (where or "body"), key_problem
            continue
        stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, then the rules above over the whole body."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ValidationError({"body": [_("Nested too deeply.")]}) from None
        problems = sorted(set(json_problems(data)))
        if problems:
            raise ValidationError({field or "body": [message] for field, message in problems})
        return data


def request_problems(request: HttpRequest) -> list[tuple[str, str]]:
    """The query string's and the form's fields (names and values) against the rules."""
    problems = []
    for source in (request.GET, request.POST):
        for key, values in source.lists():
            key_problem = text_problem(key)
            if key_problem:
                problems.append((key.encode("utf-8", "backslashreplace").decode(), key_problem))
                continue
            for value in values:
                problem = text_problem(value)
                if problem:
                    problems.append((key, problem))
                    break
    return problems


class StrictInputMiddleware:
    """Refuses a request whose query string or form breaks the rules, before any view:
    a 400 naming the field (the JSON envelope under /api/, a short page elsewhere)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problems = request_problems(request)
        if not problems:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse(
                error_body(
                    _("The request has errors."),
                    [{"field": f, "message": m} for f, m in problems],
                ),
                status=400,
            )
        return HttpResponseBadRequest(
            render_to_string("400.html", {"problems": problems}, request=request)
        )


def guideline_versions_query(params: QueryDict, *, allowed: set[str]) -> list[int]:
    """Query parameters are allow-listed; `guideline_version` (repeatable) are whole numbers."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError({name: [_("Unknown filter.")] for name in unknown})
    given = params.getlist("guideline_version")
    versions = [v for v in map(ascii_int, given) if v is not None and v >= 1]
    if len(versions) != len(given):
        raise ValidationError({"guideline_version": [_("Whole numbers only.")]})
    return versions
