"""What an export may be restricted to (design §5, issues 6 and 14), checked
against an allow-list: an unknown filter is an error, never a database lookup."""

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

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


def filters_parse(data: object, *, format: str) -> ExportFilters:
    """Filters from a request body or form: every field checked, unknown fields refused."""
    if data in (None, ""):
        data = {}
    if not isinstance(data, dict):
        raise ExportInvalid([("filters", _("Give the filters as an object."))])
    errors: list[tuple[str, str]] = []
    for key in sorted(set(data) - KNOWN):
        errors.append(
            (
                f"filters.{key}",
                _("Unknown filter. Known: %(known)s.") % {"known": ", ".join(sorted(KNOWN))},
            )
        )
    values: dict = {}

    versions = data.get("guideline_versions")
    if versions is not None:
        if (
            not isinstance(versions, list)
            or not versions
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in versions)
        ):
            errors.append(("filters.guideline_versions", _("A list of version numbers.")))
        else:
            values["guideline_versions"] = sorted(set(versions))
    minimum = data.get("min_guideline_version")
    if minimum is not None:
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
            errors.append(("filters.min_guideline_version", _("A version number.")))
        else:
            values["min_guideline_version"] = minimum
    for key, end_of_day in (("since", False), ("until", True)):
        if data.get(key) not in (None, ""):
            moment = _moment(data[key], end_of_day=end_of_day)
            if moment is None:
                errors.append((f"filters.{key}", _("A date (2026-11-21) or an ISO date and time.")))
            else:
                values[key] = moment
    agreement = data.get("min_agreement")
    if agreement is not None:
        if (
            isinstance(agreement, bool)
            or not isinstance(agreement, int | float)
            or not 0 <= agreement <= 1
        ):
            errors.append(("filters.min_agreement", _("A number from 0 to 1.")))
        else:
            values["min_agreement"] = float(agreement)
    for key in ("include_ties", "include_rejected", "include_flagged", "include_gold"):
        if key in data:
            if not isinstance(data[key], bool):
                errors.append((f"filters.{key}", _("true or false.")))
            else:
                values[key] = data[key]
    models = data.get("models")
    if models is not None:
        if format == "annotations":
            errors.append(("filters.models", _("Applies to the pair formats only.")))
        elif (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and 0 < len(m) <= 200 for m in models)
        ):
            errors.append(("filters.models", _("A list of model names.")))
        else:
            values["models"] = sorted(set(models))
    raters, rater_errors = rater_filters_parse(data, prefix="filters.")
    errors.extend(rater_errors)
    values.update(
        {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in raters.as_dict().items()
        }
    )
    if values.get("since") and values.get("until") and values["since"] >= values["until"]:
        errors.append(("filters.until", _("Must be after since.")))
    if errors:
        raise ExportInvalid(errors)
    return ExportFilters(**values)


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
        moment = datetime.combine(day, time.min) + (
            timedelta(days=1) if end_of_day else timedelta()
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment
