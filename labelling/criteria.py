"""Rating criteria of a project: their shape and its validation.

A criterion is {"key": "helpfulness", "label": "Helpfulness", "scale": [1, 7], "help": "..."}.
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ALLOWED_FIELDS = {"key", "label", "scale", "help"}
SCALE_LIMIT = 1000  # a scale's ends lie within ±this: ratings are stored as small integers


def criteria_errors(value: Any) -> list[tuple[str, str]]:
    """Every problem with a criteria list, as (field path, message) pairs."""
    if not isinstance(value, list):
        return [("criteria", _("must be a list of criteria"))]
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, criterion in enumerate(value):
        where = f"criteria.{i}"
        if not isinstance(criterion, dict):
            errors.append((where, _("must be an object with key, label and scale")))
            continue
        for extra in sorted(set(criterion) - ALLOWED_FIELDS):
            errors.append((f"{where}.{extra}", _("unknown field")))
        key = criterion.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            errors.append(
                (
                    f"{where}.key",
                    _("must be lower-case letters, digits and underscores, starting with a letter"),
                )
            )
        elif key in seen:
            errors.append((f"{where}.key", _("duplicate key %(key)s") % {"key": key}))
        else:
            seen.add(key)
        label = criterion.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 100:
            errors.append(
                (f"{where}.label", _("must be a non-empty text of at most 100 characters"))
            )
        scale = criterion.get("scale")
        if not (
            isinstance(scale, list)
            and len(scale) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in scale)
            and scale[0] < scale[1]
            and scale[1] - scale[0] <= 100
        ):
            errors.append(
                (f"{where}.scale", _("must be [low, high]: two whole numbers with low < high"))
            )
        elif not all(-SCALE_LIMIT <= n <= SCALE_LIMIT for n in scale):
            errors.append(
                (
                    f"{where}.scale",
                    _("must lie between %(low)d and %(high)d")
                    % {"low": -SCALE_LIMIT, "high": SCALE_LIMIT},
                )
            )
        if not isinstance(criterion.get("help", ""), str):
            errors.append((f"{where}.help", _("must be text")))
    return errors


def criteria_validate(value: Any) -> None:
    """A model-field validator, so the admin and the API reject the same things."""
    errors = criteria_errors(value)
    if errors:
        raise ValidationError([f"{field}: {message}" for field, message in errors])
