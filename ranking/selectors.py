"""Reads that statistics (issue 5) and exports (issue 6) build on.

Every one can be restricted to guideline versions, so figures and files can be made per
version or for "version N and later" after a revision.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from labelling.models import Annotation, Project
from ranking.models import PairwisePreference


def _window(
    queryset,
    *,
    versions: Iterable[int] | None,
    min_version: int | None,
    since: datetime | None,
    until: datetime | None,
):
    """Labels made under these guideline versions, and submitted in [since, until)."""
    if versions is not None:
        queryset = queryset.filter(guideline_version__in=list(versions))
    if min_version is not None:
        queryset = queryset.filter(guideline_version__gte=min_version)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def annotations_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_rejected: bool = False,
) -> QuerySet[Annotation]:
    """Current annotations (edits superseded, history excluded; rejected ones only if
    asked for), oldest first."""
    annotations = Annotation.objects.filter(project=project, is_current=True)
    if not include_rejected:
        annotations = annotations.filter(rejected=False)
    annotations = _window(
        annotations, versions=versions, min_version=min_version, since=since, until=until
    )
    return annotations.order_by("id")


def preferences_for(
    *,
    project: Project,
    versions: Iterable[int] | None = None,
    min_version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_ties: bool = True,
    include_rejected: bool = False,
    include_flagged: bool = True,
    models: Iterable[str] | None = None,
) -> QuerySet[PairwisePreference]:
    """Stored pairwise preferences of current annotations, in a stable order; those of
    rejected annotations only if asked for; with `models`, only pairs of two responses
    from those models."""
    preferences = PairwisePreference.objects.filter(project=project)
    if not include_rejected:
        preferences = preferences.filter(annotation_rejected=False)
    if not include_flagged:
        preferences = preferences.filter(flagged=False)
    if not include_ties:
        preferences = preferences.filter(is_tie=False)
    if models is not None:
        models = list(models)
        preferences = preferences.filter(
            chosen__model_name__in=models, rejected__model_name__in=models
        )
    preferences = _window(
        preferences, versions=versions, min_version=min_version, since=since, until=until
    )
    return preferences.order_by("prompt_id", "chosen_id", "rejected_id", "annotation_id")


def counts_by_version(*, project: Project) -> list[dict]:
    """Per guideline version: annotations, preference pairs and ties, oldest version first."""
    annotations = dict(
        Annotation.objects.filter(project=project, is_current=True, rejected=False)
        .values_list("guideline_version")
        .annotate(n=Count("id"))
        .values_list("guideline_version", "n")
    )
    pairs = {
        row["guideline_version"]: row
        for row in PairwisePreference.objects.filter(project=project, annotation_rejected=False)
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
