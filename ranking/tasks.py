"""django-q2 entry points of the ranking app: take an id, call a service."""

from labelling.scoring import scoring_run
from ranking.figures import figures_compute


def figures_compute_task(figures_id: int) -> None:
    figures_compute(figures_id=figures_id)


def scoring_run_task(job_id: int) -> None:
    """Where scoring tasks queued before scoring moved to labelling (labelling.tasks) point:
    kept so that a task still waiting in the broker across an upgrade runs. Remove it one
    release after the move."""
    scoring_run(job_id=job_id)
