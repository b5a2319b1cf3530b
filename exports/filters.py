"""What an export may be restricted to (design §5, issues 6 and 14), checked
against an allow-list: an unknown filter is an error, never a database lookup."""

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ranking.raters import KEYS as RATER_KEYS
from ranking.raters import RaterFilters, rater_filters_parse

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ExportInvalid(Exception):
    """What is wrong with an export request, as (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


@dataclass(frozen=True)
class ExportFilters:
    guideline_versions: list[int] | None = None  # only labels made under these versions
    min_guideline_version: int | None = None  # only labels made under this version or later
    since: datetime | None = None  # labels submitted at or after
    until: datetime | None = None  # labels submitted before (a date: to its end)
    # Pair formats: the pair's own agreement for `consensus`, the prompt's pairwise
    # agreement for the others (a prompt labelled once has none and is left out).
    min_agreement: float | None = None
    include_ties: bool = False
    include_rejected: bool = False
    include_flagged: bool = False
    models: list[str] | None = None  # both responses of a pair from these models
    # Gold prompts measure raters; they are left out of exports unless asked for.
    include_gold: bool = False
    # Raters (ranking.raters): only these pseudonyms, not these, not the flagged ones.
    annotators: list[str] | None = None
    exclude_annotators: list[str] | None = None
    exclude_flagged_annotators: bool = False

    @property
    def raters(self) -> RaterFilters:
        return RaterFilters(
            annotators=tuple(self.annotators) if self.annotators is not None else None,
            exclude_annotators=tuple(self.exclude_annotators or ()),
            exclude_flagged_annotators=self.exclude_flagged_annotators,
        )

    def as_dict(self) -> dict:
        """The filters as stored in the export's row and manifest: JSON, set keys only."""
        result = {}
        for key, value in asdict(self).items():
            if isinstance(value, datetime):
                value = value.isoformat()
            if value is not None and value is not False:
                result[key] = value
        return result


KNOWN = set(ExportFilters.__dataclass_fields__)

VersionNumber = Annotated[int, Field(ge=1)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Shape(BaseModel):
    """The filters a request may give, as JSON types: strict (no "1" for 1, no 1 for
    true) and closed (an unknown key is an error). Dates are text here and read by
    _moment; the three rater filters are ranking.raters' to check, the same way for
    exports, the agreement report and the leaderboard."""

    model_config = ConfigDict(extra="forbid", strict=True)

    guideline_versions: Annotated[list[VersionNumber], Field(min_length=1)] | None = None
    min_guideline_version: VersionNumber | None = None
    since: str | None = None
    until: str | None = None
    min_agreement: Annotated[float, Field(ge=0, le=1)] | None = None
    include_ties: bool = False
    include_rejected: bool = False
    include_flagged: bool = False
    include_gold: bool = False
    models: Annotated[list[ModelName], Field(min_length=1)] | None = None
    annotators: Any = None
    exclude_annotators: Any = None
    exclude_flagged_annotators: Any = None


# What a wrong value of each filter is told, whatever pydantic found wrong with it.
_EXPECTED = {
    "guideline_versions": gettext_lazy("A list of version numbers."),
    "min_guideline_version": gettext_lazy("A version number."),
    "since": gettext_lazy("A date (2026-11-21) or an ISO date and time."),
    "until": gettext_lazy("A date (2026-11-21) or an ISO date and time."),
    "min_agreement": gettext_lazy("A number from 0 to 1."),
    "include_ties": gettext_lazy("true or false."),
    "include_rejected": gettext_lazy("true or false."),
    "include_flagged": gettext_lazy("true or false."),
    "include_gold": gettext_lazy("true or false."),
    "models": gettext_lazy("A list of model names."),
}


def filters_parse(data: object, *, format: str) -> ExportFilters:
    """Filters from a request body or form: every field checked, unknown fields refused."""
    if data in (None, ""):
        data = {}
    if not isinstance(data, dict):
        raise ExportInvalid([("filters", _("Give the filters as an object."))])
    # An empty date is no date (a form sends the field it left blank).
    data = {k: v for k, v in data.items() if not (k in ("since", "until") and v == "")}
    try:
        shape = _Shape.model_validate(data)
    except ValidationError as invalid:
        raise ExportInvalid(_shape_errors(invalid, data, format=format)) from None
    errors = []
    values = shape.model_dump(exclude_unset=True, exclude={*RATER_KEYS, "since", "until"})
    values = {k: v for k, v in values.items() if v is not None}
    for key in ("guideline_versions", "models"):
        if key in values:
            values[key] = sorted(set(values[key]))
    if "models" in values and format == "annotations":
        errors.append(("filters.models", _("Applies to the pair formats only.")))
    for key, end_of_day in (("since", False), ("until", True)):
        text = getattr(shape, key)
        if text is not None:
            values[key] = _moment(text, end_of_day=end_of_day)
            if values[key] is None:
                errors.append((f"filters.{key}", str(_EXPECTED[key])))
    raters, rater_errors = rater_filters_parse(data, prefix="filters.")
    errors.extend(rater_errors)
    values.update(raters.as_dict())
    if values.get("since") and values.get("until") and values["since"] >= values["until"]:
        errors.append(_until_before_since())
    if errors:
        raise ExportInvalid(_in_field_order(errors))
    return ExportFilters(**values)


def _until_before_since() -> tuple[str, str]:
    return ("filters.until", _("Must be after since."))


def _shape_errors(invalid: ValidationError, data: dict, *, format: str) -> list[tuple[str, str]]:
    """pydantic's findings as one message per filter; the other filters are checked too,
    so that one answer names everything to fix."""
    unknown = _("Unknown filter. Known: %(known)s.") % {"known": ", ".join(sorted(KNOWN))}
    errors = {}
    for error in invalid.errors():
        key = str(error["loc"][0])
        if error["type"] == "extra_forbidden":
            errors[key] = unknown
        elif key == "models" and format == "annotations":
            errors[key] = _("Applies to the pair formats only.")
        else:
            errors[key] = str(_EXPECTED[key])
    found = [(f"filters.{key}", message) for key, message in errors.items()]
    try:  # what else is wrong, beyond the shape
        filters_parse({k: v for k, v in data.items() if k not in errors}, format=format)
    except ExportInvalid as more:
        found += more.errors
    return _in_field_order(found)


def _in_field_order(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Unknown filters first (by name), then the known ones in their declared order,
    then what is wrong between two of them."""
    order = {f"filters.{key}": i for i, key in enumerate(_Shape.model_fields)}
    between = _until_before_since()
    unique = list(dict.fromkeys(errors))
    return sorted(unique, key=lambda e: (e == between, e[0] in order, order.get(e[0], 0), e[0]))


def _moment(value: object, *, end_of_day: bool) -> datetime | None:
    """An ISO date (the whole day: its start for `since`, the next day's for `until`) or
    an ISO date and time (UTC when no zone is given).

    A plain date is recognised before anything else: Django's parse_datetime reads
    "2026-11-21" as that day's midnight, which made `until` leave out the day it names."""
    if not isinstance(value, str):
        return None
    try:
        day = parse_date(value) if DATE_ONLY.match(value) else None
        moment = None if day else parse_datetime(value)
    except ValueError:
        return None
    if moment is None and day is None:
        return None
    if moment is None:
        assert day is not None  # one of the two was read
        moment = datetime.combine(day, time.min) + (
            timedelta(days=1) if end_of_day else timedelta()
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment
