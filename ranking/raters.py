"""Which raters a report or an export counts (issue 14 point 9): the same three filters for
exports, the agreement report and the leaderboard, so a bad rater removed from training
data is removed from the figures that justified removing them, and the other way round.

Raters are named by their pseudonym (labelling.visibility), the one name every role
that can filter (admins, reviewers, engineers) sees in the agreement report and exports.

- `annotators`: only these raters;
- `exclude_annotators`: not these raters;
- `exclude_flagged_annotators`: not the raters the project's quality figures flag
  (ranking.quality), as they stand when the report or export is made.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _

from labelling.models import Project
from labelling.visibility import pseudonym_owners
from ranking.agreement import Labels, labels_load, quality_flags

KEYS = ("annotators", "exclude_annotators", "exclude_flagged_annotators")
MAX_NAMED = 10_000


@dataclass(frozen=True)
class RaterFilters:
    annotators: tuple[str, ...] | None = None
    exclude_annotators: tuple[str, ...] = ()
    exclude_flagged_annotators: bool = False

    @property
    def is_everyone(self) -> bool:
        return (
            self.annotators is None
            and not self.exclude_annotators
            and not self.exclude_flagged_annotators
        )

    def as_dict(self) -> dict:
        """Set filters only, as stored in an export's filters and manifest."""
        result: dict = {}
        if self.annotators is not None:
            result["annotators"] = list(self.annotators)
        if self.exclude_annotators:
            result["exclude_annotators"] = list(self.exclude_annotators)
        if self.exclude_flagged_annotators:
            result["exclude_flagged_annotators"] = True
        return result


@dataclass(frozen=True)
class RaterSelection:
    """The user ids a report or export keeps (None: everyone), and the pseudonyms that
    `exclude_flagged_annotators` left out, for the manifest."""

    kept: frozenset[int] | None
    flagged_left_out: tuple[str, ...] = ()


def rater_filters_parse(
    data: Mapping, *, prefix: str = ""
) -> tuple[RaterFilters, list[tuple[str, str]]]:
    """The three filters from a JSON object (exports) or query parameters already split
    into lists (the agreement report and the leaderboard): their shape only; whether a
    pseudonym names anyone is rater_filters_check's question."""
    errors: list[tuple[str, str]] = []
    values: dict = {}
    for key in ("annotators", "exclude_annotators"):
        names = data.get(key)
        if names is None:
            continue
        if (
            not isinstance(names, list)
            or not names
            or len(names) > MAX_NAMED
            or not all(isinstance(n, str) and 0 < len(n) <= 100 for n in names)
        ):
            errors.append((f"{prefix}{key}", _("A list of annotator pseudonyms (ann-…).")))
        else:
            values[key] = tuple(sorted(set(names)))
    flagged = data.get("exclude_flagged_annotators")
    if flagged is not None:
        if not isinstance(flagged, bool):
            errors.append((f"{prefix}exclude_flagged_annotators", _("true or false.")))
        else:
            values["exclude_flagged_annotators"] = flagged
    return RaterFilters(**values), errors


def rater_filters_check(
    *, project: Project, filters: RaterFilters, prefix: str = ""
) -> list[tuple[str, str]]:
    """A pseudonym that names nobody in the project is an error, not an empty result: it
    is a typo or a pseudonym from another project (each project has its own)."""
    if filters.annotators is None and not filters.exclude_annotators:
        return []
    owners = pseudonym_owners(project=project)
    errors = []
    for key in ("annotators", "exclude_annotators"):
        unknown = [name for name in getattr(filters, key) or () if name not in owners]
        if unknown:
            errors.append(
                (
                    f"{prefix}{key}",
                    _("Names nobody in this project: %(names)s.") % {"names": ", ".join(unknown)},
                )
            )
    return errors


def raters_select(
    *, project: Project, filters: RaterFilters, labels: Labels | None = None
) -> RaterSelection:
    """The raters `filters` keep. The flags need the project's labels: pass them if they
    are loaded already."""
    if filters.is_everyone:
        return RaterSelection(kept=None)
    owners = pseudonym_owners(project=project)
    kept = (
        set(owners.values())
        if filters.annotators is None
        else {owners[n] for n in filters.annotators if n in owners}
    )
    kept -= {owners[n] for n in filters.exclude_annotators if n in owners}
    left_out: list[str] = []
    if filters.exclude_flagged_annotators:
        labels = labels_load(project=project) if labels is None else labels
        flagged = {user for user, flags in quality_flags(labels, project=project).items() if flags}
        by_user = {user: name for name, user in owners.items()}
        left_out = sorted(by_user[user] for user in flagged & kept if user in by_user)
        kept -= flagged
    return RaterSelection(kept=frozenset(kept), flagged_left_out=tuple(left_out))


def labels_of_raters(labels: Labels, selection: RaterSelection) -> Labels:
    """The labels of the kept raters only (all of them when everyone is kept)."""
    if selection.kept is None:
        return labels
    return labels.subset(np.isin(labels.annotator, sorted(selection.kept)))
