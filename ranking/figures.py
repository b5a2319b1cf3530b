"""The project dashboard's figures (issue 5), computed by a django-q2 job and cached.

Reading every annotation of a big project takes seconds, so the dashboard never does it
while a person waits: it shows the cached figures with the time they were computed, and
asks for a recomputation when annotations arrived since. One job per project at a time:
the request is a conditional UPDATE that only one caller wins.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django_q.tasks import async_task

from core.jobs import BUSY, JobLife, job_abandoned_after
from labelling.models import Annotation, Project
from labelling.selectors import project_progress
from ranking.agreement import agreement_by_day, agreement_report, labels_load, leaderboard_rows
from ranking.models import ProjectFigures

# One row per project, asked for again whenever it is stale: a success leaves it idle.
FIGURES_LIFE = JobLife(
    ProjectFigures, claimed_at="requested_at", finished_at=None, done=ProjectFigures.Status.IDLE
)
# The shape of the cached figures: figures of an older shape are neither shown nor kept
# (version 2 names annotators by user id and pseudonym, not by username, so that each
# viewer is shown the name their role may see).
SCHEMA = 3


def newest_annotation(*, project: Project) -> int:
    """The newest annotation id of the project: a submission, an edit and a rejection
    each add a row, so a higher id means the figures are out of date."""
    return Annotation.objects.filter(project=project).aggregate(newest=Max("id"))["newest"] or 0


def figures_get(*, project: Project) -> ProjectFigures:
    return ProjectFigures.objects.get_or_create(project=project)[0]


def figures_data(figures: ProjectFigures) -> dict | None:
    """The cached figures, if there are any of the current shape."""
    data = figures.data
    return data if data is not None and data.get("schema") == SCHEMA else None


def figures_stale(figures: ProjectFigures, *, newest: int) -> bool:
    return figures_data(figures) is None or figures.newest_annotation < newest


def figures_request(
    *, project: Project, now: datetime, force: bool = False, newest: int | None = None
) -> ProjectFigures:
    """Queue a recomputation if the figures are missing or out of date (or `force`),
    unless one is already queued or running. `newest`: the project's newest annotation
    id, if the caller has read it already."""
    figures = figures_get(project=project)
    if newest is None:
        newest = newest_annotation(project=project)
    if not force and not figures_stale(figures, newest=newest):
        return figures
    claimed = (
        ProjectFigures.objects.filter(pk=figures.pk)
        .filter(~Q(status__in=BUSY) | Q(requested_at__lt=now - job_abandoned_after()))
        .update(status=ProjectFigures.Status.QUEUED, requested_at=now, error="")
    )
    if claimed:
        transaction.on_commit(
            lambda: async_task(
                "ranking.tasks.figures_compute_task",
                figures.pk,
                task_name=f"figures-{project.pk}-{now:%Y%m%dT%H%M%S}",
            )
        )
    figures.refresh_from_db()
    return figures


def figures_build(*, project: Project) -> dict:
    """Every figure of the dashboard, from one read of the project's annotations."""
    labels = labels_load(project=project)
    return {
        "schema": SCHEMA,
        "agreement": agreement_report(project=project, labels=labels),
        "leaderboard": leaderboard_rows(labels),
        "over_time": agreement_by_day(labels),
        "progress": project_progress(project_ids=[project.pk])[project.pk],
        "versions": [
            {"version": version, "day": published.date().isoformat()}
            for version, published in project.guidelines.order_by("version").values_list(
                "version", "published_at"
            )
        ],
    }


def figures_compute(*, figures_id: int) -> ProjectFigures:
    """Compute and store a project's figures. Safe to run twice: a second run finds
    them up to date and returns."""
    figures = ProjectFigures.objects.select_related("project").get(pk=figures_id)
    project = figures.project
    # Taken before reading: an annotation arriving during the computation makes the
    # figures stale at once, rather than being silently missed.
    newest = newest_annotation(project=project)
    if not FIGURES_LIFE.claim(figures.pk, now=timezone.now()):
        return figures
    try:
        data = figures_build(project=project)
    except Exception as error:
        FIGURES_LIFE.fail(figures.pk, error=f"{type(error).__name__}: {error}", now=timezone.now())
        raise
    computed = timezone.now()
    FIGURES_LIFE.finish(
        figures.pk,
        now=computed,
        data=data,
        newest_annotation=newest,
        computed_at=computed,
        error="",
    )
    figures.refresh_from_db()
    return figures
