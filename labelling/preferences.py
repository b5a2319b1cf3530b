"""Pairwise preferences derived from an annotation as it is stored (design §3)."""

from itertools import combinations

from django.db import connection

from labelling.models import Annotation, PairwisePreference


def preference_pairs(ranking: list[list[int]]) -> list[tuple[int, int, int, bool]]:
    """(chosen, rejected, margin, is_tie) for every pair of responses in a ranking.

    `ranking` holds groups of response ids, best first. Two responses in different groups
    give the better one as chosen, with margin = how many groups apart they are (1 for
    neighbours); two in one group are a tie, margin 0, the lower id named first.
    """
    group_of = {rid: index for index, group in enumerate(ranking) for rid in group}
    pairs = []
    for a, b in combinations(sorted(group_of), 2):
        ga, gb = group_of[a], group_of[b]
        if ga == gb:
            pairs.append((a, b, 0, True))
        elif ga < gb:
            pairs.append((a, b, gb - ga, False))
        else:
            pairs.append((b, a, ga - gb, False))
    return pairs


_COLUMNS = (
    "annotation_id, project_id, prompt_id, annotator_id, chosen_id, rejected_id, margin,"
    " is_tie, guideline_version, created_at, annotation_rejected, flagged"
)


def preferences_record(*, annotation: Annotation, replace: bool) -> int:
    """Store the pairs of a current annotation; `replace` drops those of the version it
    supersedes (derived data: the old annotation itself stays in the history). Returns
    how many pairs were stored.

    One multi-row INSERT: every submission pays for this, and building model objects for
    bulk_create cost more than the database's work."""
    if replace:
        PairwisePreference.objects.filter(
            annotation__assignment_id=annotation.assignment_id
        ).delete()
    flagged = {key for key, items in annotation.flags.items() if items}
    whole_prompt = "all" in flagged
    created_at = connection.ops.adapt_datetimefield_value(annotation.created_at)
    rows = [
        (
            annotation.pk, annotation.project_id, annotation.prompt_id,
            annotation.annotator_id, chosen, rejected, margin, tie,
            annotation.guideline_version, created_at, annotation.rejected,
            # A pair is flagged when the annotator flagged either response, or found
            # none of the prompt's responses acceptable.
            whole_prompt or str(chosen) in flagged or str(rejected) in flagged,
        )
        for chosen, rejected, margin, tie in preference_pairs(annotation.ranking)
    ]  # fmt: skip
    if not rows:
        return 0
    values = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PairwisePreference._meta.db_table} ({_COLUMNS}) VALUES {values}",  # noqa: S608
            [value for row in rows for value in row],
        )
    return len(rows)
