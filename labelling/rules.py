"""The rules a submission meets (issue 3), the one set behind every door: the ranking is
an ordered partition of exactly this prompt's responses, ties only where the project
allows them, every response rated on every criterion with a whole number in its scale,
the critiques the project requires, and flags from the known set.

Pure: no database. `labelling.submission.annotation_submit` applies them before it
stores anything; a reviewer's adjudication applies the ranking rule alone.
"""

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import orjson
from django.utils.translation import gettext as _

from core import statistics as st
from core.errors import DomainError
from labelling.inputs import ascii_int
from labelling.models import FLAGS, Project

MAX_TEXT = 20_000
# What a check finds wrong: (field, message) pairs, every one reported.
Errors = list[tuple[str, str]]
RESPONSE_FLAGS = tuple(flag for flag in FLAGS if flag != "none_acceptable")
WHOLE_PROMPT = "all"  # the flags key for "none of these is acceptable"
Name = TypeVar("Name", int, str)


@dataclass(frozen=True)
class Submission:
    ranking: list[list[int]]
    ratings: dict[int, dict[str, int]]
    critiques: dict[int, str]
    comment: str
    flags: dict[str, list[str]]

    def digest(self) -> str:
        return hashlib.sha256(
            orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        ).hexdigest()


class SubmissionInvalid(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


class Names:
    """How a door names the responses of an item: by database id (the services, the
    reviewer's forms), or, for the annotator, by the letters they were shown (A is the
    first of the assignment's display order; labelling.visibility). Ids and letters
    are parsed the same way and errors say what the client sent."""

    def __init__(self, response_ids: list[int], *, letters: bool = False) -> None:
        self.letters = letters
        self.by_letter = {chr(ord("A") + i): rid for i, rid in enumerate(response_ids)}
        self.letter_of = {rid: letter for letter, rid in self.by_letter.items()}

    def parse(self, value: Any) -> int | None:
        if self.letters:
            return self.by_letter.get(value) if isinstance(value, str) else None
        return ascii_int(value)

    def show(self, rid: int) -> str:
        return self.letter_of[rid] if self.letters else str(rid)


def submission_check(
    *, project: Project, response_ids: list[int], data: Any, by_letter: bool = False
) -> Submission:
    """A clean Submission (by response id), or SubmissionInvalid listing every (field,
    message). With `by_letter`, the data names the responses by the letters the
    annotator saw (A = response_ids[0]), and so do the errors."""
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise SubmissionInvalid([("", _("Send a JSON object."))])
    names = Names(response_ids, letters=by_letter)
    known = set(response_ids)
    allowed = {"ranking", "ratings", "critiques", "comment", "flags"}
    for extra in sorted(set(data) - allowed):
        errors.append((extra, _("Unknown field.")))

    ranking = _check_ranking(data.get("ranking"), known, project.allow_ties, errors, names)
    ratings = _check_ratings(data.get("ratings", {}), known, project.criteria, errors, names)
    critiques = _check_critiques(data.get("critiques", {}), known, errors, names)
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        errors.append(("comment", _("Must be text.")))
        comment = ""
    elif len(comment) > MAX_TEXT:
        errors.append(("comment", _("At most %(n)d characters.") % {"n": MAX_TEXT}))
    flags = _check_flags(data.get("flags", {}), known, errors, names)
    if ranking is not None:
        _check_required_critiques(project, ranking, critiques, errors, names)
    if errors:
        raise SubmissionInvalid(errors)
    assert ranking is not None  # a ranking that broke a rule left an error
    return Submission(
        ranking=ranking,
        ratings=ratings,
        critiques=critiques,
        comment=comment.strip(),
        flags=flags,
    )


def ranking_check(
    value: Any, *, known: set[int], allow_ties: bool, shown: list[int] | None = None
) -> list[list[int]]:
    """The ranking rule alone (a reviewer's adjudication, a qualification answer): an
    ordered partition of exactly `known`, ties only if allowed; by response id, or with
    `shown` (the display order) by the letters the rater saw."""
    errors: list[tuple[str, str]] = []
    names = Names(shown, letters=True) if shown else Names(sorted(known))
    groups = _check_ranking(value, known, allow_ties, errors, names)
    if groups is None:
        raise DomainError(" ".join(message for _field, message in errors), field="ranking")
    return groups


def _check_ranking(
    value: Any, known: set[int], allow_ties: bool, errors: Errors, names: Names
) -> list[list[int]] | None:
    if not isinstance(value, list) or not value:
        errors.append(("ranking", _("Rank the responses: a list of groups, best first.")))
        return None
    groups: list[list[int]] = []
    seen: set[int] = set()
    ok = True
    for index, group in enumerate(value):
        if not isinstance(group, list) or not group:
            errors.append((f"ranking.{index}", _("Each group must be a non-empty list of ids.")))
            ok = False
            continue
        clean = []
        for item in group:
            rid = names.parse(item)
            if rid is None or rid not in known:
                errors.append(
                    (
                        f"ranking.{index}",
                        _("%(id)s is not a response of this prompt.") % {"id": item},
                    )
                )
                ok = False
            elif rid in seen:
                errors.append(
                    (
                        f"ranking.{index}",
                        _("Response %(id)s is ranked twice.") % {"id": names.show(rid)},
                    )
                )
                ok = False
            else:
                seen.add(rid)
                clean.append(rid)
        if len(group) > 1 and not allow_ties:
            errors.append((f"ranking.{index}", _("This project does not allow ties.")))
            ok = False
        groups.append(sorted(clean))
    missing = sorted(known - seen)
    if ok and missing:
        errors.append(
            (
                "ranking",
                _("Every response must be ranked; missing: %(ids)s.")
                % {"ids": ", ".join(names.show(rid) for rid in missing)},
            )
        )
        ok = False
    return groups if ok else None


def _check_ratings(
    value: Any, known: set[int], criteria: list[dict], errors: Errors, names: Names
) -> dict[int, dict[str, int]]:
    if not isinstance(value, dict):
        errors.append(("ratings", _("Must be an object: response id -> {criterion: value}.")))
        return {}
    ratings: dict[int, dict[str, int]] = {}
    keys = {c["key"]: c for c in criteria}
    for raw_id, scores in value.items():
        rid = names.parse(raw_id)
        if rid not in known:
            errors.append((f"ratings.{raw_id}", _("Not a response of this prompt.")))
            continue
        shown = names.show(rid)
        if not isinstance(scores, dict):
            errors.append((f"ratings.{shown}", _("Must be an object: criterion -> value.")))
            continue
        for key in sorted(set(scores) - set(keys)):
            errors.append((f"ratings.{shown}.{key}", _("Unknown criterion.")))
        ratings[rid] = {}
        for key, criterion in keys.items():
            if key in scores:
                score = _check_score(
                    scores[key], criterion["scale"], f"ratings.{shown}.{key}", errors
                )
                if score is not None:
                    ratings[rid][key] = score
    reported = {field for field, _message in errors}
    for rid in sorted(known):
        for key, criterion in keys.items():
            field = f"ratings.{names.show(rid)}.{key}"
            if key not in ratings.get(rid, {}) and field not in reported:
                errors.append((field, _("Rate %(label)s.") % {"label": criterion["label"]}))
    return ratings


def _check_score(score: Any, scale: list[int], field: str, errors: Errors) -> int | None:
    """One rating: a whole number (or its digits as text) within the criterion's scale."""
    low, high = scale
    if isinstance(score, str) and ascii_int(score.removeprefix("-")) is not None:
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int):
        errors.append((field, _("Must be a whole number.")))
        return None
    if not low <= score <= high:
        errors.append((field, _("Must be from %(low)d to %(high)d.") % {"low": low, "high": high}))
        return None
    return score


def _check_critiques(value: Any, known: set[int], errors: Errors, names: Names) -> dict[int, str]:
    if not isinstance(value, dict):
        errors.append(("critiques", _("Must be an object: response id -> text.")))
        return {}
    critiques = {}
    for raw_id, text in value.items():
        rid = names.parse(raw_id)
        if rid not in known:
            errors.append((f"critiques.{raw_id}", _("Not a response of this prompt.")))
        elif not isinstance(text, str):
            errors.append((f"critiques.{names.show(rid)}", _("Must be text.")))
        elif len(text) > MAX_TEXT:
            errors.append(
                (f"critiques.{names.show(rid)}", _("At most %(n)d characters.") % {"n": MAX_TEXT})
            )
        elif text.strip():
            critiques[rid] = text.strip()
    return critiques


def _check_required_critiques(
    project: Project,
    ranking: list[list[int]],
    critiques: dict[int, str],
    errors: Errors,
    names: Names,
) -> None:
    rule = project.required_critiques
    if rule == Project.CritiqueRule.ALL:
        needed = [rid for group in ranking for rid in group]
    elif rule == Project.CritiqueRule.WORST and len(ranking) > 1:
        needed = ranking[-1]
    else:
        return
    for rid in needed:
        if rid not in critiques:
            errors.append(
                (f"critiques.{names.show(rid)}", _("A critique is required for this response."))
            )


def _check_flags(value: Any, known: set[int], errors: Errors, names: Names) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        errors.append(("flags", _("Must be an object: response id -> list of flags.")))
        return {}
    flags: dict[str, list[str]] = {}
    allowed: tuple[str, ...]
    for raw_key, items in value.items():
        if raw_key == WHOLE_PROMPT:
            allowed, key = ("none_acceptable",), WHOLE_PROMPT
        else:
            rid = names.parse(raw_key)
            if rid not in known:
                errors.append((f"flags.{raw_key}", _("Not a response of this prompt.")))
                continue
            allowed, key = RESPONSE_FLAGS, str(rid)
        if not isinstance(items, list) or any(item not in allowed for item in items):
            errors.append(
                (
                    f"flags.{raw_key}",
                    _("Flags must be from: %(flags)s.") % {"flags": ", ".join(allowed)},
                )
            )
            continue
        if items:
            flags[key] = sorted(set(items))
    return flags


def ratings_against_ranking(
    ranking: list[list[Name]], ratings: dict[Name, dict[str, int]], criteria: list[dict]
) -> list[tuple[Name, Name]]:
    """The pairs (ranked above, ranked below) whose mean ratings are the other way round:
    the rule of the quality check `contradicts_ranking` (core.statistics), for one
    submission, where the page asks "are you sure" before saving (issue 18, point 6).
    Responses are named as the door names them (ids or letters)."""
    names = [name for group in ranking for name in group]
    if len(names) < 2 or not criteria:
        return []
    ranks = np.array([[g + 1 for g, group in enumerate(ranking) for _ in group]], dtype=float)
    values = {
        c["key"]: np.array(
            [[ratings.get(name, {}).get(c["key"], np.nan) for name in names]], dtype=float
        )
        for c in criteria
    }
    scales = {c["key"]: (c["scale"][0], c["scale"][1]) for c in criteria}
    contradicting, _comparable = st.contradiction_cells(ranks, st.rating_means(values, scales))
    first, second = np.triu_indices(len(names), k=1)
    return [
        (names[a], names[b]) if ranks[0, a] < ranks[0, b] else (names[b], names[a])
        for a, b, hit in zip(first, second, contradicting[0], strict=True)
        if hit
    ]
