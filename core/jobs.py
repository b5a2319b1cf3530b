"""The life of a background job, shared by every job of every app.

A job is a row with a `status`: queued → running → done or failed. Its django-q2 task
claims it (`claim`), reports `progress`, and ends it (`finish` or `fail`). django-q2 may
deliver a task twice, and kills a task that runs past its timeout, so a claim succeeds
only for a queued job, or for a running one whose claim is older than the timeout: its
worker died, and the task handed out again takes it over.

Exports and scoring runs are one row per run; the dashboard's figures are one row per
project, asked for again whenever they are stale, done meaning "idle, up to date".
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

QUEUED, RUNNING, FAILED = "queued", "running", "failed"
BUSY = (QUEUED, RUNNING)


class CachedStatus(models.TextChoices):
    """The states of a job kept as one row per project and asked for again whenever it
    is stale (the dashboard's figures, the near-duplicate check): done is idle."""

    IDLE = "idle", _("Up to date or never asked")
    QUEUED = QUEUED, _("Queued")
    RUNNING = RUNNING, _("Running")
    FAILED = FAILED, _("Failed")


def job_abandoned_after() -> timedelta:
    """How long a background job may be marked running before it is taken for dead.

    django-q2 kills a task that runs past its `timeout` and hands it out again after
    `retry` (always longer). So a job still marked running after `timeout` died with its
    worker, and the re-delivered task must be able to claim it: the threshold is the
    timeout itself. (Forty minutes, more than the 35-minute retry, left a killed export
    "running" for good: the retry found it still too young and returned.)"""
    return timedelta(seconds=settings.Q_CLUSTER["timeout"])


@dataclass(frozen=True)
class JobLife:
    """The life of one kind of job over its model's rows. `claimed_at` is the field the
    time of the last claim goes in (and abandonment is judged by); `finished_at` the
    one an end is stamped in, if the model has one; `done` the status of a success."""

    model: type[models.Model]
    claimed_at: str = "started_at"
    finished_at: str | None = "finished_at"
    done: str = "done"

    def _row(self, pk: int) -> models.QuerySet:
        return self.model._default_manager.filter(pk=pk)

    def abandoned(self, now: datetime) -> Q:
        """Running, but claimed longer ago than a task may live."""
        return Q(status=RUNNING, **{f"{self.claimed_at}__lt": now - job_abandoned_after()})

    def claim(self, pk: int, *, now: datetime, **reset: Any) -> bool:
        """Take the job for this task: True if it was queued or abandoned (and is now
        running, with `reset` applied), False if another task holds it or it ended."""
        claimed = (
            self._row(pk)
            .filter(Q(status=QUEUED) | self.abandoned(now))
            .update(status=RUNNING, **{self.claimed_at: now}, **reset)
        )
        return claimed == 1

    def progress(self, pk: int, *, done: int | None = None, total: int | None = None) -> None:
        fields = {"progress_total": total, "progress_done": done}
        self._row(pk).update(**{name: value for name, value in fields.items() if value is not None})

    def fail(self, pk: int, *, error: str, now: datetime, **fields: Any) -> None:
        """End the job as failed, saying why (cut to what the column is meant to hold)."""
        self._row(pk).update(status=FAILED, error=error[:2000], **fields, **self._stamp(now))

    def finish(self, pk: int, *, now: datetime, **fields: Any) -> None:
        self._row(pk).update(status=self.done, **fields, **self._stamp(now))

    def _stamp(self, now: datetime) -> dict:
        return {self.finished_at: now} if self.finished_at else {}
