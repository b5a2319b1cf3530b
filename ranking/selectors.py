"""Reads that statistics (issue 5) and exports (issue 6) build on.

Every one can be restricted to guideline versions, so figures and files can be made per
version or for "version N and later" after a revision.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet

from labelling.models import Annotation, Project
from ranking.models import PairwisePreference


def _versions(queryset, *, versions: Iterable[int] | None, min_version: int | None):
    if versions is not None:
        queryset = queryset.filter(guideline_version__in=list(versions))
    if min_version is not None:
        queryset = queryset.filter(guideline_version__gte=min_version)
    return queryset


def annotations_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Annotation]:
    """Current annotations (edits superseded, history excluded), oldest first."""
    annotations = Annotation.objects.filter(project=project, is_current=True)
    annotations = _versions(annotations, versions=versions, min_version=min_version)
    if since is not None:
        annotations = annotations.filter(created_at__gte=since)
    if until is not None:
        annotations = annotations.filter(created_at__lt=until)
    return annotations.order_by("id")


def preferences_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    include_ties: bool = True,
) -> QuerySet[PairwisePreference]:
    """Stored pairwise preferences of current annotations, in a stable order."""
    preferences = PairwisePreference.objects.filter(project=project)
    preferences = _versions(preferences, versions=versions, min_version=min_version)
    if not include_ties:
        preferences = preferences.filter(is_tie=False)
    return preferences.order_by("prompt_id", "chosen_id", "rejected_id", "annotation_id")


def counts_by_version(*, project: Project) -> list[dict]:
    """Per guideline version: annotations, preference pairs and ties, oldest version first."""
    annotations = dict(
        Annotation.objects.filter(project=project, is_current=True)
        .values_list("guideline_version")
        .annotate(n=Count("id"))
        .values_list("guideline_version", "n")
    )
    pairs = {
        row["guideline_version"]: row
        for row in PairwisePreference.objects.filter(project=project)
        .values("guideline_version")
        .annotate(pairs=Count("id"), ties=Count("id", filter=Q(is_tie=True)))
    }
    return [
        {
            "version": version,
            "annotations": annotations.get(version, 0),
            "pairs": pairs.get(version, {}).get("pairs", 0),
            "ties": pairs.get(version, {}).get("ties", 0),
        }
        for version in sorted(set(annotations) | set(pairs))
    ]


def model_leaderboard(*, project: Project, versions: Iterable[int] | None = None, resamples=200):
    """The project's models ranked by Bradley-Terry over the stored preferences.

    Pairs of responses from one model (a prompt answered twice by it) say nothing about
    models and are left out. Rows are streamed; only four integer arrays are kept.
    """
    import numpy as np

    from ranking.statistics import leaderboard

    rows = (
        preferences_for(project=project, versions=versions)
        .exclude(chosen__model_name=F("rejected__model_name"))
        .values_list("prompt_id", "chosen__model_name", "rejected__model_name", "is_tie")
    )
    models: dict[str, int] = {}
    prompts: dict[int, int] = {}
    columns: list[list] = [[], [], [], []]
    for prompt_id, chosen, rejected, tie in rows.iterator(chunk_size=20_000):
        columns[0].append(prompts.setdefault(prompt_id, len(prompts)))
        columns[1].append(models.setdefault(chosen, len(models)))
        columns[2].append(models.setdefault(rejected, len(models)))
        columns[3].append(tie)
    if not models:
        return []
    board = leaderboard(*(np.array(c) for c in columns), n_models=len(models), resamples=resamples)
    names = list(models)
    order = np.argsort(-board.ratings)
    return [
        {
            "model": names[i],
            "rating": round(float(board.ratings[i]), 1),
            "lower": round(float(board.lower[i]), 1),
            "upper": round(float(board.upper[i]), 1),
            "wins": int(board.wins[i]),
            "losses": int(board.losses[i]),
            "ties": int(board.ties[i]),
            "win_rate": {
                names[j]: (
                    None
                    if np.isnan(board.win_rate[i, j])
                    else round(float(board.win_rate[i, j]), 4)
                )
                for j in order
                if j != i
            },
        }
        for i in order
    ]
